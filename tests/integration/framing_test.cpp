// Request framing on the real server, over raw sockets: a request whose body length two parties
// could read differently is refused before any body byte is read, and a request without a body
// is answered at once (never waited on until the read timeout).
#include <chrono>
#include <string>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "fake_upstream.h"
#include "raw_client.h"
#include "test_balancer.h"

namespace balancer::test {
namespace {

// Sends `bytes` on a new connection and returns the answer (head and body; empty when the
// server closed or `wait` passed first). `half_close`: stop sending after `bytes`
// (shutdown(SHUT_WR)), as a client that went away does.
std::string exchange_raw(int port, const std::string& bytes, std::chrono::milliseconds wait, bool half_close = false) {
  RawConnection connection(port, wait);
  REQUIRE(connection.send(bytes));
  if (half_close) {
    connection.shutdown_write();
  }
  const auto response = connection.read_response();
  return response ? response->head + "\r\n" + response->body : std::string();
}

}  // namespace

TEST_CASE("framing: conflicting or malformed lengths and a missing Host get 400 before the body", "[integration]") {
  FakeUpstream upstream;
  TestBalancer balancer("providers:\n" + provider_yaml("A", upstream.url()) +
                        "model_routes:\n  \"*\": [{provider: \"A\"}]\n" + test_settings_yaml());
  const std::string body = R"({"model":"m","max_tokens":5,"messages":[]})";
  const std::string head = "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";
  const std::vector<std::pair<std::string, std::string>> refused{
      {"two Content-Length", head + "Content-Length: 5\r\nContent-Length: 44\r\n\r\n" + body},
      {"Content-Length and chunked", head + "Content-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n" + body},
      {"negative length", head + "Content-Length: -1\r\n\r\n" + body},
      {"signed length", head + "Content-Length: +44\r\n\r\n" + body},
      {"not a number", head + "Content-Length: 4 4\r\n\r\n" + body},
      {"unknown encoding", head + "Transfer-Encoding: gzip\r\n\r\n" + body},
      {"no Host", "POST /v1/messages HTTP/1.1\r\nContent-Length: 44\r\n\r\n" + body},
      {"two Host", "GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
      // Refused before the "100 Continue" too, so the client never sends the body.
      {"Expect with two Content-Length",
       head + "Expect: 100-continue\r\nContent-Length: 5\r\nContent-Length: 44\r\n\r\n"},
  };
  for (const auto& [what, bytes] : refused) {
    INFO(what);
    const std::string response = exchange_raw(balancer.port(), bytes, std::chrono::milliseconds(5000));
    CHECK(status_of(response) == 400);
    CHECK(response.find("invalid_request_error") != std::string::npos);
    CHECK(response.find("Connection: close") != std::string::npos);
  }
  CHECK(upstream.request_count() == 0);
}

TEST_CASE("framing: a POST without Content-Length has an empty body and is answered at once", "[integration]") {
  FakeUpstream upstream;
  TestBalancer balancer("providers:\n" + provider_yaml("A", upstream.url()) +
                        "model_routes:\n  \"*\": [{provider: \"A\"}]\n" + test_settings_yaml());
  // The read timeout is 60 s: an answer within the 5 s below means nothing waited for a body.
  const std::string response =
      exchange_raw(balancer.port(), "POST /v1/messages HTTP/1.1\r\nHost: x\r\n\r\n", std::chrono::milliseconds(5000));
  CHECK(status_of(response) == 400);  // an empty body is not a Messages request
  CHECK(response.find("invalid_request_error") != std::string::npos);
  const std::string deleted =
      exchange_raw(balancer.port(), "DELETE /v1/messages HTTP/1.1\r\nHost: x\r\n\r\n", std::chrono::milliseconds(5000));
  CHECK(status_of(deleted) == 405);
  CHECK(upstream.request_count() == 0);
}

TEST_CASE("framing: a body that ends before its declared length is never forwarded", "[integration]") {
  FakeUpstream upstream;
  TestBalancer balancer("providers:\n" + provider_yaml("A", upstream.url()) +
                        "model_routes:\n  \"*\": [{provider: \"A\"}]\n" + test_settings_yaml());
  const std::string body = R"({"model":"m","max_tokens":5,"messages":[]})";
  const std::vector<std::string> truncated{
      // Content-Length promises more than arrives before the client stops sending.
      "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
          std::to_string(body.size() + 50) + "\r\n\r\n" + body,
      // A chunked body without its last chunk.
      "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
          fmt::format("{:x}\r\n{}\r\n", body.size(), body),
  };
  for (const std::string& bytes : truncated) {
    const std::string response = exchange_raw(balancer.port(), bytes, std::chrono::milliseconds(5000), true);
    INFO(response);
    CHECK(upstream.request_count() == 0);
    if (!response.empty()) {  // the answer, if the client still reads one, is an error
      CHECK(status_of(response) == 400);
    }
  }
  // Whole bodies, both framings, are served.
  const std::string whole =
      exchange_raw(balancer.port(),
                   "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: "
                   "close\r\nTransfer-Encoding: chunked\r\n\r\n" +
                       fmt::format("{:x}\r\n{}\r\n0\r\n\r\n", body.size(), body),
                   std::chrono::milliseconds(5000));
  CHECK(status_of(whole) == 200);
  CHECK(upstream.request_count() == 1);
}

TEST_CASE("framing: too many or too large request headers get 431 and are never forwarded", "[integration]") {
  FakeUpstream upstream;
  TestBalancer balancer("providers:\n" + provider_yaml("A", upstream.url()) +
                        "model_routes:\n  \"*\": [{provider: \"A\"}]\n" +
                        test_settings_yaml("  max_header_count: 20\n  max_header_bytes: 4096\n"));
  const std::string body = R"({"model":"m","max_tokens":5,"messages":[]})";
  const auto request_with = [&](const std::string& extra) {
    return "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
  };
  std::string many;
  for (int i = 0; i < 30; ++i) {
    many += "X-Filler-" + std::to_string(i) + ": v\r\n";
  }
  std::string large;
  for (int i = 0; i < 3; ++i) {
    large += "X-Large-" + std::to_string(i) + ": " + std::string(2000, 'a') + "\r\n";
  }
  for (const std::string* extra : {&many, &large}) {
    const std::string response = exchange_raw(balancer.port(), request_with(*extra), std::chrono::milliseconds(5000));
    CHECK(status_of(response) == 431);
    CHECK(response.find("invalid_request_error") != std::string::npos);
  }
  CHECK(upstream.request_count() == 0);
  // Within the limits the request is served.
  const std::string ok = exchange_raw(balancer.port(), request_with("X-Filler: v\r\nConnection: close\r\n"),
                                      std::chrono::milliseconds(5000));
  CHECK(status_of(ok) == 200);
  CHECK(upstream.request_count() == 1);
}

}  // namespace balancer::test
