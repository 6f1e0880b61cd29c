// The libcurl transport without sockets: a request libcurl refuses up front fails at once with
// a transport error (never a timeout, never a hang), and the transport stays usable.
#include <catch2/catch.hpp>

#include <chrono>

#include <balancer/curl_transport.h>

using namespace balancer;
using namespace std::chrono_literals;

TEST_CASE("curl transport: an unsupported scheme fails fast, not by timeout", "[unit][transport]") {
  auto transport = make_curl_transport();
  for (int i = 0; i < 2; ++i) {  // the session goes back to the pool and is reused
    HttpRequest request;
    request.method = "GET";
    request.url = "unsupported-scheme://example.invalid/v1/messages";
    request.connect_timeout = 30s;
    request.header_timeout = 30s;
    const auto started = std::chrono::steady_clock::now();
    auto call = transport->start(request);
    auto head = call->head();
    REQUIRE_FALSE(head);
    CHECK(head.error().code != ErrorCode::UpstreamTimeout);
    CHECK(std::chrono::steady_clock::now() - started < 10s);
  }
}
