// scan_request_head: the server's judgement of a raw request head (RFC 9112) before any other
// parser sees it.
#include <string>

#include <catch2/catch.hpp>

#include "net/request_head.h"

namespace balancer::server {
namespace {

HeadScan scan(const std::string& bytes, HeadLimits limits = {}) { return scan_request_head(bytes, limits); }

}  // namespace

TEST_CASE("request head: a complete head gives its length, framing and connection wish", "[server]") {
  const std::string head = "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n";
  const std::string input = head + "{\"a\":1}     GET / HTTP/1.1\r\n";  // outlives the header views
  const HeadScan complete = scan(input);
  REQUIRE(complete.state == HeadScan::State::Complete);
  CHECK(complete.head_bytes == head.size());
  CHECK(complete.framing == BodyFraming::Length);
  CHECK(complete.content_length == 12);
  CHECK_FALSE(complete.close);
  REQUIRE(complete.headers.size() == 2);
  CHECK(complete.headers[1].first == "Content-Length");
  CHECK(complete.headers[1].second == "12");

  const HeadScan chunked =
      scan("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\nConnection: te, close\r\n\r\n");
  REQUIRE(chunked.state == HeadScan::State::Complete);
  CHECK(chunked.framing == BodyFraming::Chunked);
  CHECK(chunked.close);

  const HeadScan old = scan("GET /health HTTP/1.0\r\n\r\n");
  REQUIRE(old.state == HeadScan::State::Complete);
  CHECK(old.close);  // HTTP/1.0 without keep-alive
  CHECK(old.framing == BodyFraming::None);
  CHECK_FALSE(scan("GET /health HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").close);
  CHECK(scan("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").close);  // httplib closes it too

  // Empty lines before a request are skipped (RFC 9112 §2.2).
  const HeadScan leading = scan("\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
  REQUIRE(leading.state == HeadScan::State::Complete);
  CHECK(leading.head_bytes == 4 + 27);
  CHECK(leading.skipped == 4);
  CHECK(scan("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").framing == BodyFraming::None);
}

TEST_CASE("request head: every prefix of a sound head is incomplete", "[server]") {
  const std::string head =
      "POST /v1/messages?beta=true HTTP/1.1\r\nHost: x\r\nX-Api-Key:  k \r\nContent-Length: 3\r\n\r\n";
  for (std::size_t n = 0; n < head.size(); ++n) {
    INFO(n);
    CHECK(scan(head.substr(0, n)).state == HeadScan::State::Incomplete);
  }
  CHECK(scan(head).state == HeadScan::State::Complete);
}

TEST_CASE("request head: malformed bytes are refused 400 as soon as they arrive", "[server]") {
  const std::vector<std::pair<std::string, std::string>> bad{
      {"bare CR in a value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"},
      {"NUL in a value", std::string("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", 33)},
      {"NUL before the end of a line", std::string("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0", 32)},
      {"space before the colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n"},
      {"no colon", "GET / HTTP/1.1\r\nHost x\r\n\r\n"},
      {"empty name", "GET / HTTP/1.1\r\n: x\r\n\r\n"},
      {"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n"},
      {"bare LF line end", "GET / HTTP/1.1\nHost: x\n\n"},
      {"control character in a value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01\r\n\r\n"},
      {"DEL in a value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7f\r\n\r\n"},
      {"no version", "GET /\r\nHost: x\r\n\r\n"},
      {"bad version", "GET / HTTX/1.1\r\nHost: x\r\n\r\n"},
      {"method not a token", "G(T / HTTP/1.1\r\nHost: x\r\n\r\n"},
      {"two spaces in the request line", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n"},
      {"two Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"},
      {"signed Content-Length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\n"},
      {"Content-Length with TE",
       "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"},
      {"gzip TE", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"},
      {"no Host", "GET / HTTP/1.1\r\n\r\n"},
      {"GET with a body", "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"},
      {"OPTIONS chunked", "OPTIONS / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"},
      {"TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"},
  };
  for (const auto& [what, bytes] : bad) {
    INFO(what);
    const HeadScan result = scan(bytes);
    CHECK(result.state == HeadScan::State::Refused);
    CHECK(result.status == 400);
    CHECK_FALSE(result.message.empty());
  }
  CHECK(scan("GET / HTTP/2.0\r\nHost: x\r\n\r\n").status == 505);
}

TEST_CASE("request head: limits are enforced on incomplete heads too", "[server]") {
  HeadLimits limits;
  limits.max_header_count = 3;
  limits.max_header_bytes = 100;
  limits.max_line_bytes = 64;
  std::string many = "GET / HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 3; ++i) {
    many += "X-" + std::to_string(i) + ": v\r\n";
  }
  CHECK(scan(many, limits).status == 431);  // a fourth header, no end of head yet
  std::string big =
      "GET / HTTP/1.1\r\nHost: x\r\nX-A: " + std::string(50, 'a') + "\r\nX-B: " + std::string(50, 'b') + "\r\n";
  CHECK(scan(big, limits).status == 431);
  CHECK(scan("GET / HTTP/1.1\r\nHost: x\r\nX-A: " + std::string(70, 'a'), limits).status == 431);  // a line goes on
  CHECK(scan("GET /" + std::string(70, 'a'), limits).status == 414);
  CHECK(scan("GET / HTTP/1.1\r\nHost: x\r\nX-A: " + std::string(40, 'a') + "\r\n\r\n", limits).state ==
        HeadScan::State::Complete);
}

TEST_CASE("request head: framing_error over parsed headers", "[server]") {
  using Headers = std::vector<std::pair<std::string_view, std::string_view>>;
  CHECK(framing_error("POST", "HTTP/1.1", Headers{{"host", "x"}, {"content-length", "10"}}).empty());
  CHECK(framing_error("GET", "HTTP/1.1", Headers{{"Host", "x"}, {"Content-Length", "0"}}).empty());
  CHECK_FALSE(framing_error("GET", "HTTP/1.1", Headers{{"Host", "x"}, {"Content-Length", "1"}}).empty());
  CHECK_FALSE(framing_error("POST", "HTTP/1.1", Headers{{"HOST", "x"}, {"Content-Length", "1x"}}).empty());
  CHECK(framing_error("POST", "HTTP/1.0", Headers{{"Content-Length", "1"}}).empty());  // 1.0 needs no Host
}

}  // namespace balancer::server

namespace balancer::server {

TEST_CASE("request head: a target with two '?' is refused as httplib's parser would", "[server]") {
  CHECK(scan("GET /a?b=?c HTTP/1.1\r\nHost: x\r\n\r\n").status == 400);
  CHECK(scan("GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n").state == HeadScan::State::Complete);
}

}  // namespace balancer::server
