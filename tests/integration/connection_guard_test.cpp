// The connection layer on the real server, over raw sockets: slow or idle clients hold no
// worker, heads have a deadline, pipelined requests are answered in order, a refused request's
// body is never read (as a body or as a next request), unauthenticated uploads cost no memory,
// and bad header bytes get 400.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include <curl/curl.h>
#include <fmt/format.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <catch2/catch.hpp>

#include "fake_upstream.h"
#include "raw_client.h"
#include "recording_log.h"
#include "test_balancer.h"
#include "transport_test_servers.h"

namespace balancer::test {
namespace {

using std::chrono::milliseconds;

const std::string kBody = R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"hi"}]})";

std::string routes_yaml(const FakeUpstream& upstream) {
  return "providers:\n" + provider_yaml("A", upstream.url()) + "model_routes:\n  \"*\": [{provider: \"A\"}]\n";
}

std::string messages_request(const std::string& extra_headers = "") {
  return "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(kBody.size()) + "\r\n" + extra_headers + "\r\n" + kBody;
}

const std::string kHealth = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";

// /health on a new connection, answered within `wait` (else status 0).
int health_status(int port, milliseconds wait) {
  RawConnection connection(port, wait);
  connection.send(kHealth);
  const auto response = connection.read_response();
  return response ? response->status : 0;
}

}  // namespace

TEST_CASE("connections: a slowloris crowd holds no worker; /health answers and threads come back down",
          "[integration]") {
  raise_fd_limit(4096);
  FakeUpstream upstream;
  TestBalancer balancer(routes_yaml(upstream) + test_settings_yaml("  max_connections: 16\n"),
                        TestBalancerOptions{.worker_idle_retire = milliseconds(50)});
  server::App& app = balancer.app();
  REQUIRE(app.wait_for_workers([](std::size_t busy, std::size_t) { return busy == 0; }, milliseconds(5000)));
  const std::size_t baseline = app.worker_threads();

  // Four times max_connections with a head that never ends, and as many that never send a byte.
  std::vector<std::unique_ptr<RawConnection>> slow;
  for (int i = 0; i < 64; ++i) {
    slow.push_back(std::make_unique<RawConnection>(balancer.port()));
    REQUIRE(slow.back()->send("GET /health HTTP/1.1\r\nHo"));
    slow.push_back(std::make_unique<RawConnection>(balancer.port()));
  }
  CHECK(health_status(balancer.port(), milliseconds(1000)) == 200);
  CHECK(app.worker_threads() == baseline);

  // Bodies that never end do hold workers: max_connections of them, then 503 at once.
  std::vector<std::unique_ptr<RawConnection>> uploads;
  for (int i = 0; i < 16; ++i) {
    uploads.push_back(std::make_unique<RawConnection>(balancer.port()));
    REQUIRE(uploads.back()->send("POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"));
  }
  REQUIRE(app.wait_for_workers([](std::size_t busy, std::size_t) { return busy == 16; }, milliseconds(5000)));
  CHECK(app.worker_threads() > baseline);
  {
    RawConnection extra(balancer.port(), milliseconds(1000));
    extra.send(kHealth);
    const auto refused = extra.read_response();
    REQUIRE(refused);
    CHECK(refused->status == 503);
    CHECK(anthropic_error_type(refused->body) == "overloaded_error");
    CHECK(extra.closed_by_server());
  }

  // The attack ends: the workers finish, idle ones retire, and the server serves as before.
  uploads.clear();
  slow.clear();
  CHECK(app.wait_for_workers([&](std::size_t busy, std::size_t threads) { return busy == 0 && threads <= baseline; },
                             milliseconds(10000)));
  CHECK(health_status(balancer.port(), milliseconds(1000)) == 200);
  CHECK(upstream.request_count() == 0);
}

TEST_CASE("connections: a head that does not arrive within the deadline gets 408; idle connections close",
          "[integration]") {
  FakeUpstream upstream;
  TestBalancer balancer(routes_yaml(upstream) +
                        test_settings_yaml("  request_head_timeout_seconds: 0.3\n  keep_alive_timeout_seconds: 0.3\n"));
  RawConnection partial(balancer.port());
  REQUIRE(partial.send("POST /v1/messages HTTP/1.1\r\nHost: x\r\n"));
  const auto late = partial.read_response();
  REQUIRE(late);
  CHECK(late->status == 408);
  CHECK(late->body.find("did not arrive within") != std::string::npos);
  CHECK(partial.closed_by_server());

  RawConnection idle(balancer.port());
  CHECK(idle.closed_by_server());  // no request ever: closed without an answer

  RawConnection kept(balancer.port());
  REQUIRE(kept.send(kHealth));
  REQUIRE(kept.read_response());
  CHECK(kept.closed_by_server());  // idle after its answer past keep_alive_timeout
}

TEST_CASE("connections: pipelined requests are answered in order on one connection", "[integration]") {
  FakeUpstream upstream;
  TestBalancer balancer(routes_yaml(upstream) + test_settings_yaml());
  RawConnection connection(balancer.port());
  REQUIRE(connection.send(kHealth + messages_request() + "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n" + kHealth));
  const auto first = connection.read_response();
  const auto second = connection.read_response();
  const auto third = connection.read_response();
  const auto fourth = connection.read_response();
  REQUIRE(first);
  REQUIRE(second);
  REQUIRE(third);
  REQUIRE(fourth);
  CHECK(first->status == 200);
  CHECK(first->body.find("\"status\"") != std::string::npos);
  CHECK(second->status == 200);
  CHECK(second->body.find("\"type\":\"message\"") != std::string::npos);
  CHECK(third->status == 404);
  CHECK(fourth->status == 200);
  CHECK(upstream.request_count() == 1);
  // The connection goes on serving, and a head split over two sends is waited for.
  REQUIRE(connection.send("GET /health HTTP/1.1\r\n"));
  REQUIRE(connection.send("Host: x\r\n\r\n"));
  const auto fifth = connection.read_response();
  REQUIRE(fifth);
  CHECK(fifth->status == 200);
}

TEST_CASE("connections: a body left unread by a refusal is never read as a next request", "[integration]") {
  FakeUpstream upstream;
  TestBalancer balancer(routes_yaml(upstream) + test_settings_yaml() +
                        "auth:\n  enabled: true\n  api_keys: [\"client-key-one\"]\n");
  const std::string smuggled =
      "POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: client-key-one\r\nContent-Length: " +
      std::to_string(kBody.size()) + "\r\n\r\n" + kBody;
  for (const std::string path : {"/nope", "/v1/messages", "/providers/reload"}) {
    INFO(path);
    RawConnection connection(balancer.port());
    REQUIRE(connection.send("POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                            std::to_string(smuggled.size()) + "\r\n\r\n" + smuggled));
    const auto refused = connection.read_response();
    REQUIRE(refused);
    CHECK((refused->status == 401 || refused->status == 404));
    CHECK(refused->has_header("Connection: close"));
    CHECK(connection.closed_by_server());  // and no second answer
  }
  CHECK(upstream.request_count() == 0);
}

TEST_CASE("connections: unauthenticated uploads to any path cost no memory", "[integration]") {
  FakeUpstream upstream;
  TestBalancer balancer(routes_yaml(upstream) + test_settings_yaml() +
                        "auth:\n  enabled: true\n  api_keys: [\"client-key-one\"]\n  admin_api_key: admin-key-one\n");
  constexpr std::size_t kUpload = 200u << 20;
  const std::size_t before = resident_bytes();
  for (const std::string path : {"/nope", "/v1/messages", "/providers/reload", "/oauth/exchange-code"}) {
    INFO(path);
    RawConnection connection(balancer.port());
    REQUIRE(connection.send("POST " + path +
                            " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                            std::to_string(kUpload) + "\r\n\r\n"));
    const auto refused = connection.read_response();  // answered from the head alone
    REQUIRE(refused);
    CHECK((refused->status == 401 || refused->status == 404));
    connection.send_filler(kUpload);  // the server drops what it still reads, then closes
  }
  // Twenty at once to the Messages API.
  std::vector<std::thread> clients;
  std::vector<int> statuses(20, 0);
  for (std::size_t i = 0; i < statuses.size(); ++i) {
    clients.emplace_back([&, i] {
      RawConnection connection(balancer.port());
      connection.send("POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(30u << 20) +
                      "\r\n\r\n");
      connection.send_filler(30u << 20);
      const auto response = connection.read_response();
      statuses[i] = response ? response->status : 0;
    });
  }
  for (auto& client : clients) {
    client.join();
  }
  for (const int status : statuses) {
    CHECK(status == 401);
  }
  const std::size_t after = resident_bytes();
  INFO("RSS before " << before << " after " << after);
#if !defined(__SANITIZE_ADDRESS__)
  // (Under ASan freed memory stays resident in its quarantine, so RSS says nothing there.)
  CHECK(after < before + (20u << 20));
#endif
  CHECK(health_status(balancer.port(), milliseconds(5000)) == 200);
  CHECK(upstream.request_count() == 0);
}

TEST_CASE("connections: bad header bytes get 400 invalid_request_error, not a retryable 5xx", "[integration]") {
  FakeUpstream upstream;
  TestBalancer balancer(routes_yaml(upstream) + test_settings_yaml());
  const std::vector<std::pair<std::string, std::string>> bad{
      {"bare CR", "GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"},
      {"NUL", std::string("GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", 39)},
      {"space before colon", "GET /health HTTP/1.1\r\nHost : x\r\n\r\n"},
      {"obs-fold", "GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n"},
      {"GET with a body", "GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nabcd"},
      {"bare LF", "GET /health HTTP/1.1\nHost: x\n\n"},
  };
  for (const auto& [what, bytes] : bad) {
    INFO(what);
    RawConnection connection(balancer.port());
    REQUIRE(connection.send(bytes));
    const auto response = connection.read_response();
    REQUIRE(response);
    CHECK(response->status == 400);
    CHECK(anthropic_error_type(response->body) == "invalid_request_error");
    CHECK(connection.closed_by_server());
  }
  CHECK(health_status(balancer.port(), milliseconds(5000)) == 200);
  CHECK(upstream.request_count() == 0);
}

}  // namespace balancer::test

namespace balancer::test {

TEST_CASE("connections: a failed authentication is logged with who and where, never the key sent", "[integration]") {
  FakeUpstream upstream;
  auto log = std::make_shared<RecordingLog>();
  TestBalancer balancer(
      routes_yaml(upstream) + test_settings_yaml() + "auth:\n  enabled: true\n  api_keys: [\"client-key-one\"]\n",
      TestBalancerOptions{.log = log});
  RawConnection connection(balancer.port());
  REQUIRE(connection.send(messages_request("x-api-key: wrong-key-attempt\r\n")));
  const auto refused = connection.read_response();
  REQUIRE(refused);
  CHECK(refused->status == 401);
  REQUIRE(log->count("client authentication failed") == 1);
  for (const LogLine& line : log->lines()) {
    if (line.message == "client authentication failed") {
      CHECK(line.fields["path"] == "/v1/messages");
      CHECK(line.fields["client_address"] == "127.0.0.1");
      CHECK(line.fields["status"] == 401);
    }
    CHECK(line.fields.dump().find("wrong-key-attempt") == std::string::npos);
  }
}

}  // namespace balancer::test

namespace balancer::test {

TEST_CASE("connections: a multipart body is refused 415 instead of being misread as truncated", "[integration]") {
  FakeUpstream upstream;
  TestBalancer balancer(routes_yaml(upstream) + test_settings_yaml());
  RawConnection connection(balancer.port());
  REQUIRE(
      connection.send("POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                      "Content-Length: " +
                      std::to_string(kBody.size()) + "\r\n\r\n" + kBody));
  const auto refused = connection.read_response();
  REQUIRE(refused);
  CHECK(refused->status == 415);
  CHECK(refused->body.find("multipart/form-data") != std::string::npos);
  CHECK(upstream.request_count() == 0);
}

}  // namespace balancer::test

namespace balancer::test {
namespace {

size_t collect(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// A TLS client that completes its handshake and then sends nothing.
class SilentTlsClient {
 public:
  explicit SilentTlsClient(int port) {
    context_ = SSL_CTX_new(TLS_client_method());
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval wait{6, 0};  // a failure guard only: the server's head deadline is 2 s
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (context_ == nullptr || ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      return;
    }
    tls_ = SSL_new(context_);
    SSL_set_fd(tls_, fd_);
    connected_ = SSL_connect(tls_) == 1;
  }
  ~SilentTlsClient() {
    SSL_free(tls_);
    SSL_CTX_free(context_);
    ::close(fd_);
  }
  SilentTlsClient(const SilentTlsClient&) = delete;
  SilentTlsClient& operator=(const SilentTlsClient&) = delete;
  bool connected() const { return connected_; }
  // The server closed (close_notify or end of input) before the guard passed.
  bool closed_by_server() {
    char byte = 0;
    const int n = SSL_read(tls_, &byte, 1);
    const int error = SSL_get_error(tls_, n);
    // (OpenSSL 3 reports an end of input without close_notify as SSL_ERROR_SSL.)
    const bool timed_out =
        error == SSL_ERROR_WANT_READ || (error == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK));
    return n <= 0 && !timed_out;
  }

 private:
  SSL_CTX* context_ = nullptr;
  SSL* tls_ = nullptr;
  int fd_ = -1;
  bool connected_ = false;
};

// A PEM certificate and key for 127.0.0.1 written to `dir`; returns the settings lines.
std::string tls_settings(const TempDir& dir, const TlsIdentity& identity) {
  FILE* cert = std::fopen(dir.file("cert.pem").c_str(), "w");
  FILE* key = std::fopen(dir.file("key.pem").c_str(), "w");
  REQUIRE((cert != nullptr && key != nullptr));
  PEM_write_X509(cert, identity.cert());
  PEM_write_PrivateKey(key, identity.key(), nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(cert);
  std::fclose(key);
  return "  tls_cert_file: \"" + dir.file("cert.pem") + "\"\n  tls_key_file: \"" + dir.file("key.pem") + "\"\n";
}

}  // namespace

TEST_CASE("connections: TLS goes through the same connection layer (keep-alive, streams, stalled handshakes)",
          "[integration]") {
  const std::vector<std::string> events = message_stream(std::vector<std::string>(20, " TLS"));
  FakeUpstream upstream([&](const RecordedRequest&) { return Reply::sse(events, milliseconds(5)); });
  TempDir dir;
  const TlsIdentity identity;
  REQUIRE(identity.ok());
  TestBalancer balancer(routes_yaml(upstream) +
                            test_settings_yaml(tls_settings(dir, identity) +
                                               "  request_head_timeout_seconds: 2\n  keep_alive_timeout_seconds: 30\n"),
                        TestBalancerOptions{.max_pending = 16});
  // Connections that never finish a handshake hold no worker, and when there are more of them
  // than the poller may hold, the oldest make room for new ones.
  std::vector<std::unique_ptr<RawConnection>> stalled;
  for (int i = 0; i < 24; ++i) {
    stalled.push_back(std::make_unique<RawConnection>(balancer.port()));
    REQUIRE(stalled.back()->send(std::string("\x16\x03\x01\x00", 4)));  // the start of a ClientHello
  }
  CURL* curl = curl_easy_init();
  REQUIRE(curl != nullptr);
  std::string body;
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  const std::string health = "https://127.0.0.1:" + std::to_string(balancer.port()) + "/health";
  curl_easy_setopt(curl, CURLOPT_URL, health.c_str());
  REQUIRE(curl_easy_perform(curl) == CURLE_OK);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  CHECK(status == 200);
  CHECK(body.find("\"status\"") != std::string::npos);
  // A streamed answer, on the same (kept-alive) connection.
  body.clear();
  const std::string messages = "https://127.0.0.1:" + std::to_string(balancer.port()) + "/v1/messages";
  const std::string request =
      R"({"model":"m","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]})";
  curl_easy_setopt(curl, CURLOPT_URL, messages.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.c_str());
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  REQUIRE(curl_easy_perform(curl) == CURLE_OK);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  long connects = -1;
  curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &connects);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  CHECK(status == 200);
  CHECK(connects == 0);  // reused
  CHECK(body == join(events));
  // A client that hangs up mid-stream: the server's next TLS write fails, the worker is freed and
  // the server goes on serving.
  {
    CURL* quitter = curl_easy_init();
    REQUIRE(quitter != nullptr);
    curl_easy_setopt(quitter, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(quitter, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(quitter, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(quitter, CURLOPT_URL, messages.c_str());
    curl_easy_setopt(quitter, CURLOPT_POSTFIELDS, request.c_str());
    curl_easy_setopt(
        quitter, CURLOPT_WRITEFUNCTION, +[](char*, size_t, size_t, void*) -> size_t { return 0; });
    CHECK(curl_easy_perform(quitter) == CURLE_WRITE_ERROR);
    curl_easy_cleanup(quitter);
  }
  REQUIRE(balancer.app().wait_for_workers([](std::size_t busy, std::size_t) { return busy == 0; }, milliseconds(5000)));
  // Plain HTTP on the TLS port gets nothing served.
  RawConnection plain(balancer.port());
  plain.send(kHealth);
  CHECK(status_of(plain.read_all()) == 0);
  // A handshake that does not finish within the head deadline is closed.
  CHECK(stalled.back()->closed_by_server());
  // So is a finished handshake that brings no request: its first head is due by the head
  // deadline counted from the accept, not the (longer) keep-alive timeout.
  SilentTlsClient silent(balancer.port());
  REQUIRE(silent.connected());
  CHECK(silent.closed_by_server());
}

}  // namespace balancer::test

namespace balancer::test {

TEST_CASE("connections: when the poller is full, the oldest idle connection makes room", "[integration]") {
  FakeUpstream upstream;
  TestBalancer balancer(routes_yaml(upstream) + test_settings_yaml(), TestBalancerOptions{.max_pending = 16});
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 48; ++i) {
    idle.push_back(std::make_unique<RawConnection>(balancer.port()));  // never a byte
  }
  CHECK(health_status(balancer.port(), milliseconds(1000)) == 200);
  CHECK(idle.front()->closed_by_server());  // the oldest went first
}

TEST_CASE("connections: an idle connection makes room even behind many half-sent heads", "[integration]") {
  raise_fd_limit(4096);
  FakeUpstream upstream;
  TestBalancer balancer(routes_yaml(upstream) + test_settings_yaml(), TestBalancerOptions{.max_pending = 100});
  // Heads under way are never evicted, however many come first; the one idle connection is.
  std::vector<std::unique_ptr<RawConnection>> partial;
  for (int i = 0; i < 99; ++i) {
    partial.push_back(std::make_unique<RawConnection>(balancer.port()));
    REQUIRE(partial.back()->send("GET /health HTTP/1.1\r\nHo"));
  }
  // Once this answer is back, the poller has read every half-sent head (one wake-up reports all
  // ready connections): none of them can pass for idle.
  CHECK(health_status(balancer.port(), milliseconds(1000)) == 200);
  RawConnection idle(balancer.port());
  CHECK(health_status(balancer.port(), milliseconds(1000)) == 200);  // full: an idle one went
  CHECK(idle.closed_by_server());                                    // and it was the idle one
  REQUIRE(partial.front()->send("st: x\r\n\r\n"));
  const auto finished = partial.front()->read_response();
  REQUIRE(finished);
  CHECK(finished->status == 200);
}

TEST_CASE("connections: a connection closed after its answer says Connection: close", "[integration]") {
  FakeUpstream upstream;
  TestBalancer balancer(routes_yaml(upstream) + test_settings_yaml() +
                        "auth:\n  enabled: true\n  api_keys: [\"client-key-one\"]\n");
  // A chunked body (its end is not tracked, so the connection closes): the pipelined request
  // after it is not answered, and the answer says so.
  RawConnection chunked(balancer.port());
  REQUIRE(
      chunked.send("POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: client-key-one\r\n"
                   "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
                   fmt::format("{:x}\r\n{}\r\n0\r\n\r\n", kBody.size(), kBody) + kHealth));
  const auto answered = chunked.read_response();
  REQUIRE(answered);
  CHECK(answered->status == 200);
  CHECK(answered->has_header("Connection: close"));
  CHECK(chunked.closed_by_server());
  // A body over the limit is read no further.
  TestBalancer small(routes_yaml(upstream) + test_settings_yaml("  max_request_body_bytes: 16\n"));
  RawConnection over(small.port());
  REQUIRE(over.send(messages_request() + kHealth));
  const auto refused = over.read_response();
  REQUIRE(refused);
  CHECK(refused->status == 413);
  CHECK(refused->has_header("Connection: close"));
  CHECK(refused->head.find("Connection: close") == refused->head.rfind("Connection: close"));  // once
  CHECK(over.closed_by_server());
  // A chunked body over the limit, likewise.
  RawConnection over_chunked(small.port());
  REQUIRE(
      over_chunked.send("POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        "Transfer-Encoding: chunked\r\n\r\n" +
                        fmt::format("{:x}\r\n{}\r\n0\r\n\r\n", kBody.size(), kBody) + kHealth));
  const auto refused_chunked = over_chunked.read_response();
  REQUIRE(refused_chunked);
  CHECK(refused_chunked->status == 413);
  CHECK(anthropic_error_type(refused_chunked->body) == "request_too_large");
  CHECK(refused_chunked->has_header("Connection: close"));
  CHECK(refused_chunked->head.find("Connection: close") == refused_chunked->head.rfind("Connection: close"));
  CHECK(over_chunked.closed_by_server());
  CHECK(upstream.request_count() == 1);
}

TEST_CASE("connections: the balancer's own answers ignore a Range header", "[integration]") {
  FakeUpstream upstream;
  TestBalancer balancer(routes_yaml(upstream) + test_settings_yaml());
  RawConnection connection(balancer.port());
  REQUIRE(connection.send("GET /health HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0\r\n\r\n"));
  const auto health = connection.read_response();
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(health->body.size() > 1);
}

TEST_CASE("connections: header values reach the balancer as sent, never percent-decoded", "[integration]") {
  FakeUpstream upstream;
  TestBalancer balancer(routes_yaml(upstream) + test_settings_yaml() +
                        "auth:\n  enabled: true\n  api_keys: [\"client-key-one\"]\n");
  RawConnection encoded(balancer.port());
  REQUIRE(encoded.send(messages_request("x-api-key: client%2Dkey%2Done\r\n")));
  const auto refused = encoded.read_response();
  REQUIRE(refused);
  CHECK(refused->status == 401);
  RawConnection plain(balancer.port());
  REQUIRE(plain.send(messages_request("x-api-key: client-key-one\r\n")));
  const auto served = plain.read_response();
  REQUIRE(served);
  CHECK(served->status == 200);
  // A value that would decode to a line break is forwarded as the bytes that were sent.
  RawConnection injected(balancer.port());
  REQUIRE(injected.send(messages_request("x-api-key: client-key-one\r\nanthropic-beta: a%0d%0aX-Injected: 1\r\n")));
  REQUIRE(injected.read_response());
  REQUIRE(upstream.request_count() == 2);
  const RecordedRequest forwarded = upstream.requests().back();
  // (The fake upstream is an httplib server too, so it shows the value decoded.)
  REQUIRE(forwarded.header("anthropic-beta"));
  CHECK(forwarded.header("anthropic-beta")->find("X-Injected: 1") != std::string::npos);
  CHECK_FALSE(forwarded.header("X-Injected"));
}

}  // namespace balancer::test

namespace balancer::test {

TEST_CASE("connections: an upstream error event that quotes the provider key reaches the client redacted",
          "[integration]") {
  const std::string key = "sk-ant-api03-provider-secret-key-0001";
  std::vector<std::string> events = message_stream({"partial"});
  events.resize(3);  // message_start, content_block_start, a delta
  events.push_back(sse_event(
      "error", R"({"type":"error","error":{"type":"overloaded_error","message":"key )" + key + R"( is overloaded"}})"));
  FakeUpstream upstream([&](const RecordedRequest&) { return Reply::sse(events); });
  TestBalancer balancer("providers:\n" + provider_yaml("A", upstream.url(), "api_key", key) +
                        "model_routes:\n  \"*\": [{provider: \"A\"}]\n" + test_settings_yaml());
  const std::string streamed =
      R"({"model":"m","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]})";
  RawConnection connection(balancer.port());
  REQUIRE(
      connection.send("POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
                      std::to_string(streamed.size()) + "\r\nConnection: close\r\n\r\n" + streamed));
  const auto response = connection.read_response();
  REQUIRE(response);
  CHECK(response->status == 200);
  CHECK(response->body.find("event: error") != std::string::npos);
  CHECK(response->body.find("provider-secret") == std::string::npos);
  CHECK(response->body.find("key <redacted> is overloaded") != std::string::npos);
  CHECK(response->body.rfind(join({events[0], events[1], events[2]}), 0) == 0);  // the rest byte for byte
}

}  // namespace balancer::test
