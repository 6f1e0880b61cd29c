// Integration tests of the libcurl HttpTransport against small cpp-httplib servers (and one raw
// socket server) on 127.0.0.1 with ephemeral ports. Pacing lives in the fake server handlers;
// the test thread never sleeps.
#include <balancer/curl_transport.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "fake_upstream_pacing.h"
#include "test_sync.h"
#include "transport_test_servers.h"

namespace {

using namespace std::chrono_literals;
using balancer::ErrorCode;
using balancer::HttpRequest;
using balancer::HttpTransport;
using balancer::UpstreamCall;
using balancer::test::drain;
using balancer::test::Gate;
using balancer::test::make_transport;
using balancer::test::RawServer;
using balancer::test::request_to;
using balancer::test::TestServer;
using balancer::test::TlsIdentity;
using Clock = std::chrono::steady_clock;

// Deterministic bytes covering all 256 values (NUL included).
std::string binary_body(std::size_t size) {
  std::string body(size, '\0');
  std::uint32_t x = 2463534242u;
  for (auto& c : body) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x & 0xff);
  }
  return body;
}

const std::string kUtf8 =
    "h\xC3\xA9llo w\xC3\xB6rld \xE2\x80\x94 \xE6\x97\xA5\xE6\x9C\xAC "
    "\xF0\x9F\x8E\x89";  // "héllo wörld — 日本 🎉"

// What an echo handler saw, for assertions on the test thread.
struct Seen {
  std::mutex mutex;
  std::string method;
  std::string path;
  std::multimap<std::string, std::string> params;
  httplib::Headers headers;
  std::string body;
};

}  // namespace

TEST_CASE("curl transport: GET round trip carries method, path, query and headers", "[integration][transport]") {
  Seen seen;
  const std::string gzip_bytes("\x1f\x8b\x08\x00not-really-gzip\x00\xff", 21);
  TestServer server([&](httplib::Server& s) {
    s.Get("/v1/echo", [&](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(seen.mutex);
        seen.method = req.method;
        seen.path = req.path;
        seen.params = req.params;
        seen.headers = req.headers;
      }
      res.set_header("X-Reply", "yes");
      res.set_header("Content-Encoding", "gzip");
      res.set_content(gzip_bytes, "application/octet-stream");
    });
  });
  auto transport = make_transport();

  auto request = request_to(server.url("/v1/echo?beta=true&name=%C3%A9t%C3%A9"));
  request.headers = {{"X-Api-Key", "k-123"}, {"anthropic-version", "2023-06-01"}};
  auto call = transport->start(std::move(request));
  auto head = call->head();
  REQUIRE(head);
  CHECK(head->status == 200);
  CHECK(balancer::find_header(head->headers, "x-reply") == std::optional<std::string_view>("yes"));
  CHECK(balancer::find_header(head->headers, "Content-Type") ==
        std::optional<std::string_view>("application/octet-stream"));
  auto drained = drain(*call);
  REQUIRE_FALSE(drained.error);
  // No decoding: the "gzip" bytes come back exactly as sent.
  CHECK(drained.body == gzip_bytes);

  std::lock_guard lock(seen.mutex);
  CHECK(seen.method == "GET");
  CHECK(seen.path == "/v1/echo");
  CHECK(seen.params.find("beta")->second == "true");
  CHECK(seen.params.find("name")->second == "\xC3\xA9t\xC3\xA9");
  CHECK(seen.headers.find("X-Api-Key")->second == "k-123");
  CHECK(seen.headers.find("anthropic-version")->second == "2023-06-01");
  CHECK(seen.headers.count("Accept-Encoding") == 0);
  CHECK(seen.headers.count("Accept") == 0);
  CHECK(seen.headers.count("Expect") == 0);
}

TEST_CASE("curl transport: POST bodies arrive byte-identical and echo back", "[integration][transport]") {
  Seen seen;
  TestServer server([&](httplib::Server& s) {
    s.Post("/v1/messages", [&](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(seen.mutex);
        seen.method = req.method;
        seen.headers = req.headers;
        seen.body = req.body;
      }
      res.set_header("X-Body-Size", std::to_string(req.body.size()));
      res.set_content(req.body, req.get_header_value("Content-Type").empty() ? "application/octet-stream"
                                                                             : req.get_header_value("Content-Type"));
    });
  });
  auto transport = make_transport();

  SECTION("UTF-8 JSON") {
    const std::string body = "{\"text\":\"" + kUtf8 + "\"}";
    auto request = request_to(server.url("/v1/messages"), "POST", body);
    request.headers = {{"Content-Type", "application/json"}};
    auto call = transport->start(std::move(request));
    auto head = call->head();
    REQUIRE(head);
    CHECK(head->status == 200);
    CHECK(balancer::find_header(head->headers, "X-Body-Size") ==
          std::optional<std::string_view>(std::to_string(body.size())));
    auto drained = drain(*call);
    REQUIRE_FALSE(drained.error);
    CHECK(drained.body == body);
    std::lock_guard lock(seen.mutex);
    CHECK(seen.method == "POST");
    CHECK(seen.body == body);
    CHECK(seen.headers.find("Content-Type")->second == "application/json");
    CHECK(seen.headers.count("Expect") == 0);
  }

  SECTION("5 MB binary body, delivered in bounded chunks") {
    const std::string body = binary_body(5u << 20);
    auto call = transport->start(request_to(server.url("/v1/messages"), "POST", body));
    auto head = call->head();
    REQUIRE(head);
    CHECK(head->status == 200);
    auto drained = drain(*call);
    REQUIRE_FALSE(drained.error);
    CHECK(drained.body.size() == body.size());
    CHECK(drained.body == body);
    CHECK(drained.largest_chunk <= 320u * 1024);
    std::lock_guard lock(seen.mutex);
    CHECK(seen.body == body);
    // curl must not invent a form content type for a body the caller did not label.
    CHECK(seen.headers.count("Content-Type") == 0);
  }

  transport.reset();
}

TEST_CASE("curl transport: bytes held back while reading is paused are not lost at the end",
          "[integration][transport]") {
  // The whole response is in the socket before the first read(), so one curl_multi_perform
  // meets the buffer limit and the end of the body together.
  Gate written;
  const std::string fixed = binary_body(300 * 1024);
  TestServer server([&](httplib::Server& s) {
    s.Get("/fixed", [&](const httplib::Request&, httplib::Response& res) {
      res.set_content_provider(
          fixed.size(), "application/octet-stream",
          [&](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
            return sink.write(fixed.data() + offset, std::min<std::size_t>(length, 8192));
          },
          [&](bool) { written.open(); });
    });
    s.Get("/chunked", [&](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider(
          "application/octet-stream",
          [&](std::size_t offset, httplib::DataSink& sink) {
            const std::size_t n = std::min<std::size_t>(1024, fixed.size() - offset);
            if (!sink.write(fixed.data() + offset, n)) {
              return false;
            }
            if (offset + n == fixed.size()) {
              sink.done();
            }
            return true;
          },
          [&](bool) { written.open(); });
    });
  });
  auto transport = make_transport();
  const std::string path = GENERATE(std::string("/fixed"), std::string("/chunked"));
  CAPTURE(path);

  auto call = transport->start(request_to(server.url(path)));
  auto head = call->head();
  REQUIRE(head);
  CHECK(head->status == 200);
  CHECK(written.wait_for(3s));
  auto drained = drain(*call);
  REQUIRE_FALSE(drained.error);
  CHECK(drained.body.size() == fixed.size());
  CHECK(drained.body == fixed);
  transport.reset();
}

TEST_CASE("curl transport: 1xx responses are skipped and header values trimmed", "[integration][transport]") {
  RawServer server(
      "HTTP/1.1 103 Early Hints\r\n"
      "Link: </style.css>; rel=preload\r\n"
      "\r\n"
      "HTTP/1.1 201 Created\r\n"
      "X-Padded:    spaced out \t \r\n"
      "X-Colon: a:b\r\n"
      "Transfer-Encoding: chunked\r\n"
      "Trailer: X-Trailer\r\n"
      "\r\n"
      "5\r\nhello\r\n"
      "0\r\nX-Trailer: late\r\n\r\n");
  auto transport = make_transport();
  auto request = request_to(server.url());
  request.headers = {{"X-Empty", ""}, {"X-Full", "v"}};
  auto call = transport->start(std::move(request));
  auto head = call->head();
  REQUIRE(head);
  CHECK(head->status == 201);
  // An empty header value is sent as such, not dropped (curl needs "Name;" for that).
  CHECK(server.last_request().find("\r\nX-Empty:\r\n") != std::string::npos);
  CHECK(server.last_request().find("\r\nX-Full: v\r\n") != std::string::npos);
  CHECK_FALSE(balancer::find_header(head->headers, "Link"));
  CHECK(balancer::find_header(head->headers, "X-Padded") == std::optional<std::string_view>("spaced out"));
  CHECK(balancer::find_header(head->headers, "X-Colon") == std::optional<std::string_view>("a:b"));
  auto drained = drain(*call);
  REQUIRE_FALSE(drained.error);
  CHECK(drained.body == "hello");
  CHECK_FALSE(balancer::find_header(call->head()->headers, "X-Trailer"));
}

TEST_CASE("curl transport: a stream is relayed as it is produced", "[integration][transport]") {
  TestServer server([](httplib::Server& s) {
    s.Post("/v1/messages", [](const httplib::Request&, httplib::Response& res) {
      auto sent = std::make_shared<int>(0);
      res.set_chunked_content_provider("text/event-stream", [sent](std::size_t, httplib::DataSink& sink) {
        if (*sent > 0) {
          balancer::test::pace_fake_upstream(200ms);
        }
        const std::string event = "event: ping\ndata: " + std::to_string(*sent) + "\n\n";
        if (!sink.write(event.data(), event.size())) {
          return false;
        }
        if (++*sent == 5) {
          sink.done();
        }
        return true;
      });
    });
  });
  auto transport = make_transport();
  // Strictly before the server writes event 0; event 4 follows it by at least 800 ms.
  const auto start_at = Clock::now();
  auto call = transport->start(request_to(server.url("/v1/messages"), "POST", "{}"));
  auto head = call->head();
  REQUIRE(head);
  CHECK(head->status == 200);
  CHECK(balancer::find_header(head->headers, "Content-Type") == std::optional<std::string_view>("text/event-stream"));
  const auto head_at = Clock::now();

  std::string chunk;
  auto first = call->read(chunk);
  const auto first_at = Clock::now();
  REQUIRE(first);
  REQUIRE(*first);
  CHECK(chunk.rfind("event: ping\ndata: 0\n\n", 0) == 0);
  CHECK(first_at - head_at < 600ms);

  std::string all = chunk;
  auto rest = drain(*call);
  const auto end_at = Clock::now();
  REQUIRE_FALSE(rest.error);
  all += rest.body;
  std::string expected;
  for (int i = 0; i < 5; ++i) {
    expected += "event: ping\ndata: " + std::to_string(i) + "\n\n";
  }
  CHECK(all == expected);
  CHECK(end_at - start_at >= 800ms);
  CHECK(rest.chunks >= 3);  // the events came one by one, not as one buffered body
  transport.reset();
}

TEST_CASE("curl transport: there is no total timeout, only an idle timeout", "[integration][transport]") {
  Gate release;
  TestServer server([&](httplib::Server& s) {
    s.Get("/slow", [](const httplib::Request&, httplib::Response& res) {
      auto sent = std::make_shared<int>(0);
      res.set_chunked_content_provider("text/event-stream", [sent](std::size_t, httplib::DataSink& sink) {
        balancer::test::pace_fake_upstream(100ms);
        const std::string event = "data: tick\n\n";
        if (!sink.write(event.data(), event.size())) {
          return false;
        }
        if (++*sent == 10) {
          sink.done();
        }
        return true;
      });
    });
    s.Get("/stall", [&](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("text/event-stream", [&](std::size_t offset, httplib::DataSink& sink) {
        if (offset > 0) {
          release.wait_for(3s);
          return false;
        }
        const std::string event = "data: first\n\n";
        return sink.write(event.data(), event.size());
      });
    });
  });
  server.before_stop([&] { release.open(); });
  auto transport = make_transport();

  SECTION("a stream three times longer than the idle timeout completes") {
    auto request = request_to(server.url("/slow"));
    request.idle_timeout = 300ms;
    request.header_timeout = 300ms;
    const auto start = Clock::now();
    auto call = transport->start(std::move(request));
    REQUIRE(call->head());
    auto drained = drain(*call);
    REQUIRE_FALSE(drained.error);
    CHECK(drained.body.size() == 10 * std::string("data: tick\n\n").size());
    CHECK(Clock::now() - start >= 900ms);
  }

  SECTION("a stream that stalls longer than the idle timeout fails with UpstreamTimeout") {
    auto request = request_to(server.url("/stall"));
    request.idle_timeout = 300ms;
    auto call = transport->start(std::move(request));
    REQUIRE(call->head());
    std::string chunk;
    auto first = call->read(chunk);
    REQUIRE(first);
    REQUIRE(*first);
    CHECK(chunk == "data: first\n\n");
    const auto stall_start = Clock::now();
    auto next = call->read(chunk);
    const auto waited = Clock::now() - stall_start;
    REQUIRE_FALSE(next);
    CHECK(next.error().code == ErrorCode::UpstreamTimeout);
    CHECK(waited >= 250ms);
    CHECK(waited < 1500ms);
  }

  transport.reset();
  release.open();
}

TEST_CASE("curl transport: no response head within header_timeout is UpstreamTimeout", "[integration][transport]") {
  Gate release;
  TestServer server([&](httplib::Server& s) {
    s.Post("/v1/messages", [&](const httplib::Request&, httplib::Response& res) {
      release.wait_for(3s);
      res.set_content("{}", "application/json");
    });
  });
  server.before_stop([&] { release.open(); });
  auto transport = make_transport();
  auto request = request_to(server.url("/v1/messages"), "POST", "{}");
  request.header_timeout = 300ms;
  const auto start = Clock::now();
  auto call = transport->start(std::move(request));
  auto head = call->head();
  const auto waited = Clock::now() - start;
  REQUIRE_FALSE(head);
  CHECK(head.error().code == ErrorCode::UpstreamTimeout);
  CHECK(waited >= 250ms);
  CHECK(waited < 1500ms);
  call.reset();
  transport.reset();
  release.open();
}

TEST_CASE("curl transport: no descriptor left is the balancer's shortage, not a refused connection",
          "[integration][transport]") {
  // libcurl reports a socket() that failed with EMFILE as "Couldn't connect to server": the
  // transport must not let it pass as the provider's connection_error (a health penalty).
#if defined(__SANITIZE_ADDRESS__)
  WARN("not under AddressSanitizer: its runtime needs descriptors of its own");
  return;
#endif
  TestServer server([](httplib::Server& s) {
    s.Get("/ok", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok", "text/plain"); });
  });
  auto transport = make_transport();
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  rlimit low = saved;
  low.rlim_cur = std::min<rlim_t>(saved.rlim_cur, 512);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  std::vector<int> filler;
  for (int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC); fd >= 0; fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) {
    filler.push_back(fd);
  }
  const int open_errno = errno;
  auto call = transport->start(request_to(server.url("/ok")));
  auto head = call->head();
  for (const int fd : filler) {
    ::close(fd);
  }
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &saved) == 0);
  CHECK(open_errno == EMFILE);
  REQUIRE_FALSE(head);
  CHECK(head.error().code == ErrorCode::Internal);
  CHECK(head.error().message.find("no file descriptor left") != std::string::npos);

  // With descriptors back, the same transport connects.
  auto again = transport->start(request_to(server.url("/ok")));
  auto ok = again->head();
  REQUIRE(ok);
  CHECK(ok->status == 200);
}

TEST_CASE("curl transport: a refused connection is UpstreamConnect", "[integration][transport]") {
  // A bound but not listening socket: connecting to its port is refused, and nobody else can
  // take the port while we hold it.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  const int port = ntohs(addr.sin_port);

  auto transport = make_transport();
  auto call = transport->start(request_to("http://127.0.0.1:" + std::to_string(port) + "/v1/messages", "POST", "{}"));
  auto head = call->head();
  REQUIRE_FALSE(head);
  CHECK(head.error().code == ErrorCode::UpstreamConnect);
  CHECK_FALSE(head.error().message.empty());
  // read() after a failed head() reports the failure too, never a clean end.
  std::string chunk;
  auto more = call->read(chunk);
  REQUIRE_FALSE(more);
  CHECK(more.error().code == ErrorCode::UpstreamConnect);
  ::close(fd);
}

TEST_CASE("curl transport: a connection dropped mid-body is UpstreamConnect, not a clean end",
          "[integration][transport]") {
  TestServer server([](httplib::Server& s) {
    s.Post("/v1/messages", [](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("text/event-stream", [](std::size_t offset, httplib::DataSink& sink) {
        if (offset > 0) {
          return false;  // closes without the last chunk
        }
        const std::string event = "event: message_start\n\n";
        return sink.write(event.data(), event.size());
      });
    });
  });
  auto transport = make_transport();
  auto call = transport->start(request_to(server.url("/v1/messages"), "POST", "{}"));
  auto head = call->head();
  REQUIRE(head);
  CHECK(head->status == 200);
  auto drained = drain(*call);
  CHECK(drained.body == "event: message_start\n\n");
  REQUIRE(drained.error);
  CHECK(drained.error->code == ErrorCode::UpstreamConnect);

  // The session that saw the failure is reused and works.
  auto again = transport->send(request_to(server.url("/missing")));
  REQUIRE(again);
  CHECK(again->status == 404);
  transport.reset();
}

TEST_CASE("curl transport: a non-2xx status is a response, not an error", "[integration][transport]") {
  const std::string overloaded = R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})";
  TestServer server([&](httplib::Server& s) {
    s.Post("/v1/messages", [&](const httplib::Request&, httplib::Response& res) {
      res.status = 529;
      res.set_header("retry-after", "7");
      res.set_content(overloaded, "application/json");
    });
  });
  auto transport = make_transport();
  auto call = transport->start(request_to(server.url("/v1/messages"), "POST", "{}"));
  auto head = call->head();
  REQUIRE(head);
  CHECK(head->status == 529);
  CHECK(balancer::find_header(head->headers, "Retry-After") == std::optional<std::string_view>("7"));
  auto drained = drain(*call);
  REQUIRE_FALSE(drained.error);
  CHECK(drained.body == overloaded);
  transport.reset();
}

TEST_CASE("curl transport: sequential requests reuse keep-alive connections", "[integration][transport]") {
  std::mutex mutex;
  std::set<int> ports;
  std::vector<bool> saw_first_only_header;
  TestServer server([&](httplib::Server& s) {
    s.Post("/v1/messages", [&](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(mutex);
        ports.insert(req.remote_port);
        saw_first_only_header.push_back(req.has_header("X-First-Only"));
      }
      res.set_content(req.body, "application/json");
    });
  });
  auto transport = make_transport();
  for (int i = 0; i < 20; ++i) {
    auto request = request_to(server.url("/v1/messages"), "POST", std::to_string(i));
    if (i == 0) {
      request.headers = {{"X-First-Only", "1"}};
    }
    auto response = transport->send(std::move(request));
    REQUIRE(response);
    CHECK(response->status == 200);
    CHECK(response->body == std::to_string(i));
  }
  transport.reset();

  std::lock_guard lock(mutex);
  CHECK(ports.size() <= 2);
  REQUIRE(saw_first_only_header.size() == 20);
  CHECK(saw_first_only_header[0]);
  // A reused session does not leak the previous request's headers.
  CHECK(std::count(saw_first_only_header.begin(), saw_first_only_header.end(), true) == 1);
}

TEST_CASE("curl transport: destroying a call cancels the upstream transfer", "[integration][transport]") {
  Gate write_failed;
  std::atomic<bool> stop{false};
  std::atomic<int> endless_port{-1};
  std::atomic<int> ok_port{-1};
  TestServer server([&](httplib::Server& s) {
    s.Get("/endless", [&](const httplib::Request& req, httplib::Response& res) {
      endless_port = req.remote_port;
      res.set_chunked_content_provider(
          "text/event-stream",
          [&](std::size_t offset, httplib::DataSink& sink) {
            if (offset > 0) {
              balancer::test::pace_fake_upstream(20ms);
            }
            if (stop) {
              return false;
            }
            const std::string event = "data: more\n\n";
            if (!sink.write(event.data(), event.size())) {
              write_failed.open();
              return false;
            }
            return true;
          },
          [&](bool success) {
            if (!success) {
              write_failed.open();  // httplib saw the socket unwritable before calling us
            }
          });
    });
    s.Get("/ok", [&](const httplib::Request& req, httplib::Response& res) {
      ok_port = req.remote_port;
      res.set_content("fine", "text/plain");
    });
  });
  server.before_stop([&] { stop = true; });
  auto transport = make_transport();

  auto call = transport->start(request_to(server.url("/endless")));
  REQUIRE(call->head());
  std::string chunk;
  auto first = call->read(chunk);
  REQUIRE(first);
  REQUIRE(*first);
  call.reset();
  CHECK(write_failed.wait_for(5s));

  // The cancelled session goes back to the pool and serves the next request correctly.
  auto next = transport->send(request_to(server.url("/ok")));
  REQUIRE(next);
  CHECK(next->status == 200);
  CHECK(next->body == "fine");
  // ... on a fresh connection: the aborted one was closed, not put back into the cache.
  CHECK(ok_port != endless_port);
  transport.reset();
}

TEST_CASE("curl transport: concurrent requests from many threads", "[integration][transport]") {
  TestServer server([](httplib::Server& s) {
    s.Post("/v1/messages",
           [](const httplib::Request& req, httplib::Response& res) { res.set_content(req.body, "application/json"); });
  });
  auto transport = make_transport();
  constexpr int kThreads = 32;
  std::vector<std::string> bodies(kThreads);
  std::vector<std::string> got(kThreads);
  std::vector<int> status(kThreads, 0);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    bodies[static_cast<std::size_t>(i)] =
        "{\"thread\":" + std::to_string(i) + ",\"pad\":\"" +
        std::string(static_cast<std::size_t>(1000 * (i + 1)), static_cast<char>('a' + i % 26)) + "\"}";
  }
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      const auto k = static_cast<std::size_t>(i);
      auto response = transport->send(request_to(server.url("/v1/messages"), "POST", bodies[k]));
      if (response) {
        status[k] = response->status;
        got[k] = std::move(response->body);
      } else {
        errors[k] = response.error().message;
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  for (std::size_t k = 0; k < kThreads; ++k) {
    CAPTURE(k, errors[k]);
    CHECK(status[k] == 200);
    CHECK(got[k] == bodies[k]);
  }
  transport.reset();
}

TEST_CASE("curl transport: send() buffers a whole response up to a limit", "[integration][transport]") {
  const std::string big = binary_body(200 * 1024);
  TestServer server([&](httplib::Server& s) {
    s.Get("/big",
          [&](const httplib::Request&, httplib::Response& res) { res.set_content(big, "application/octet-stream"); });
  });
  auto transport = make_transport();

  auto full = transport->send(request_to(server.url("/big")));
  REQUIRE(full);
  CHECK(full->status == 200);
  CHECK(full->body == big);
  CHECK(balancer::find_header(full->headers, "Content-Length") ==
        std::optional<std::string_view>(std::to_string(big.size())));

  auto limited = transport->send(request_to(server.url("/big")), 1000);
  REQUIRE_FALSE(limited);
  CHECK(limited.error().code == ErrorCode::UpstreamProtocol);
  transport.reset();
}

TEST_CASE("curl transport: TLS upstreams", "[integration][transport]") {
  TlsIdentity identity;
  REQUIRE(identity.ok());
  std::mutex mutex;
  std::set<int> ports;
  TestServer server(
      [&](httplib::Server& s) {
        s.Post("/v1/messages", [&](const httplib::Request& req, httplib::Response& res) {
          {
            std::lock_guard lock(mutex);
            ports.insert(req.remote_port);
          }
          res.set_content(req.body, "application/json");
        });
      },
      &identity);

  SECTION("an untrusted certificate is UpstreamTls when verifying") {
    auto transport = make_transport(/*verify_tls=*/true);
    auto call = transport->start(request_to(server.url("/v1/messages"), "POST", "{}"));
    auto head = call->head();
    REQUIRE_FALSE(head);
    CHECK(head.error().code == ErrorCode::UpstreamTls);
  }

  SECTION("without verification the exchange works and the connection is reused") {
    auto transport = make_transport(/*verify_tls=*/false);
    for (int i = 0; i < 5; ++i) {
      const std::string body = "{\"n\":" + std::to_string(i) + ",\"s\":\"" + kUtf8 + "\"}";
      auto response = transport->send(request_to(server.url("/v1/messages"), "POST", body));
      REQUIRE(response);
      CHECK(response->status == 200);
      CHECK(response->body == body);
    }
    transport.reset();
    std::lock_guard lock(mutex);
    CHECK(ports.size() == 1);
  }
}
