// A transport error of any class — refused, reset, failed name lookup, TLS, timeout — leaves the
// libcurl transport fully usable: the next request on the same pooled session succeeds, and warm
// keep-alive connections survive. Name lookups fail without any DNS traffic: a 64-character
// label can never be resolved (glibc refuses it before sending a query), and the transport's
// ResolveOverrides make that same name resolvable later.
#include <balancer/curl_transport.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "test_sync.h"
#include "transport_test_servers.h"

namespace {

using namespace std::chrono_literals;
using balancer::CurlTransportOptions;
using balancer::ErrorCode;
using balancer::HttpRequest;
using balancer::HttpTransport;
using balancer::ResolveOverrides;
using balancer::test::Gate;
using balancer::test::request_to;
using balancer::test::TestServer;
using balancer::test::TlsIdentity;

// A host name no resolver can answer (one label longer than DNS allows), so the lookup fails
// at once and locally.
const std::string kUnresolvable = std::string(64, 'a') + ".invalid";

// Accepts connections and resets each one (SO_LINGER 0) once the request head has arrived.
class ResettingServer {
 public:
  ResettingServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(fd_, 16);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ResettingServer(const ResettingServer&) = delete;
  ResettingServer& operator=(const ResettingServer&) = delete;
  ~ResettingServer() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1/messages"; }

 private:
  void serve() {
    for (;;) {
      const int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) {
        return;
      }
      (void)balancer::test::read_request_head(client);
      linger reset{1, 0};
      ::setsockopt(client, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
      ::close(client);
    }
  }
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

// A port that refuses connections: bound, never listening, held for the test's lifetime.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;
  ~RefusingPort() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// The healthy upstream: echoes the body and records which client port each request came from.
class EchoUpstream {
 public:
  EchoUpstream()
      : server_([this](httplib::Server& s) {
          s.Post("/v1/messages", [this](const httplib::Request& req, httplib::Response& res) {
            {
              std::lock_guard lock(mutex_);
              ports_.push_back(req.remote_port);
            }
            res.set_content(req.body, "application/json");
          });
        }) {}
  int port() const { return server_.port(); }
  std::string url() const { return server_.url("/v1/messages"); }
  std::vector<int> ports() const {
    std::lock_guard lock(mutex_);
    return ports_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<int> ports_;
  TestServer server_;
};

// Sends `body` to `url` and drains the answer; "" on success with the echo, else the error.
std::string echo_problem(HttpTransport& transport, const std::string& url, const std::string& body) {
  auto response = transport.send(request_to(url, "POST", body));
  if (!response) {
    return "error: " + response.error().message;
  }
  if (response->status != 200 || response->body != body) {
    return "status " + std::to_string(response->status) + " body " + response->body;
  }
  return {};
}

}  // namespace

TEST_CASE("curl transport: after a failed name lookup the same host works once it resolves",
          "[integration][transport][recovery]") {
  EchoUpstream upstream;
  auto overrides = std::make_shared<ResolveOverrides>();
  CurlTransportOptions options;
  options.resolve = overrides;
  options.max_idle_sessions = 1;  // every request runs on the one pooled session
  auto transport = balancer::make_curl_transport(options);
  const std::string by_name = "http://" + kUnresolvable + ":" + std::to_string(upstream.port()) + "/v1/messages";

  REQUIRE(echo_problem(*transport, upstream.url(), "warm").empty());
  for (int round = 0; round < 3; ++round) {
    auto failed = transport->send(request_to(by_name, "POST", "{}"));
    REQUIRE_FALSE(failed);
    CHECK(failed.error().code == ErrorCode::UpstreamConnect);
    CHECK(failed.error().message.find("resolve") != std::string::npos);
    // The next request, to another host, is not poisoned by the failed lookup...
    CHECK(echo_problem(*transport, upstream.url(), "after-" + std::to_string(round)).empty());
  }
  // ... and the name works as soon as it resolves.
  overrides->set(kUnresolvable, upstream.port(), "127.0.0.1");
  CHECK(echo_problem(*transport, by_name, "resolved").empty());
  transport.reset();

  // Warm connections survived the failures: every request to 127.0.0.1 came over the first
  // connection (the by-name request opened its own, to the same server).
  const std::vector<int> ports = upstream.ports();
  REQUIRE(ports.size() == 5);
  for (std::size_t i : {1u, 2u, 3u}) {
    CHECK(ports[i] == ports[0]);
  }
}

TEST_CASE("resolve overrides: curl --resolve lines, and erased entries are removed from the cache",
          "[integration][transport][recovery]") {
  ResolveOverrides overrides;
  CHECK(overrides.curl_resolve_lines().empty());
  overrides.set("a.test", 443, "127.0.0.1");
  overrides.set("b.test", 80, "[::1]");
  CHECK(overrides.curl_resolve_lines() == std::vector<std::string>{"a.test:443:127.0.0.1", "b.test:80:[::1]"});
  overrides.erase("a.test", 443);
  overrides.erase("never.test", 1);  // nothing to forget
  CHECK(overrides.curl_resolve_lines() == std::vector<std::string>{"-a.test:443", "b.test:80:[::1]"});
  overrides.set("a.test", 443, "127.0.0.2");
  CHECK(overrides.curl_resolve_lines() == std::vector<std::string>{"a.test:443:127.0.0.2", "b.test:80:[::1]"});
}

TEST_CASE("curl transport: every transport error class is followed by a working request",
          "[integration][transport][recovery]") {
  EchoUpstream upstream;
  ResettingServer resetting;
  RefusingPort refusing;
  TlsIdentity identity;
  REQUIRE(identity.ok());
  TestServer tls_server(
      [](httplib::Server& s) {
        s.Post("/v1/messages",
               [](const httplib::Request&, httplib::Response& res) { res.set_content("{}", "application/json"); });
      },
      &identity);
  Gate release;
  TestServer silent([&](httplib::Server& s) {
    s.Post("/v1/messages", [&](const httplib::Request&, httplib::Response& res) {
      release.wait_for(5s);
      res.set_content("{}", "application/json");
    });
  });
  silent.before_stop([&] { release.open(); });

  struct Case {
    const char* name;
    ErrorCode code;
    std::function<HttpRequest()> request;
  };
  const std::vector<Case> cases = {
      {"refused", ErrorCode::UpstreamConnect,
       [&] {
         return request_to("http://127.0.0.1:" + std::to_string(refusing.port()) + "/v1/messages", "POST", "{}");
       }},
      {"reset", ErrorCode::UpstreamConnect, [&] { return request_to(resetting.url(), "POST", "{}"); }},
      {"name lookup", ErrorCode::UpstreamConnect,
       [&] { return request_to("http://" + kUnresolvable + "/v1/messages", "POST", "{}"); }},
      {"untrusted certificate", ErrorCode::UpstreamTls,
       [&] { return request_to(tls_server.url("/v1/messages"), "POST", "{}"); }},
      {"TLS to a plain-HTTP port", ErrorCode::UpstreamTls,
       [&] {
         return request_to("https://127.0.0.1:" + std::to_string(upstream.port()) + "/v1/messages", "POST", "{}");
       }},
      {"no response head in time", ErrorCode::UpstreamTimeout,
       [&] {
         auto request = request_to(silent.url("/v1/messages"), "POST", "{}");
         request.header_timeout = 200ms;
         return request;
       }},
  };

  CurlTransportOptions options;
  options.verify_tls = true;
  options.max_idle_sessions = 1;
  auto transport = balancer::make_curl_transport(options);
  for (const Case& c : cases) {
    INFO("error class: " << c.name);
    auto failed = transport->send(c.request());
    REQUIRE_FALSE(failed);
    CHECK(failed.error().code == c.code);
    CHECK(echo_problem(*transport, upstream.url(), std::string("after ") + c.name).empty());
    // The failing request again, then success again: nothing accumulates.
    auto again = transport->send(c.request());
    REQUIRE_FALSE(again);
    CHECK(again.error().code == c.code);
    CHECK(echo_problem(*transport, upstream.url(), std::string("again after ") + c.name).empty());
  }
  transport.reset();
  release.open();
}
