#include <catch2/catch.hpp>

#include "forward/header_rules.h"

using namespace balancer;
using namespace balancer::detail;

TEST_CASE("request headers: end-to-end forwarded, credentials and hop-by-hop dropped", "[unit][headers]") {
  for (const char* name : {"anthropic-version", "anthropic-beta", "user-agent", "x-stainless-lang",
                           "X-Stainless-Retry-Count", "x-claude-code-session-id", "x-app", "content-type", "accept"}) {
    INFO(name);
    CHECK(is_forwardable_request_header(name));
  }
  for (const char* name :
       {"x-api-key", "X-Api-Key", "authorization", "Authorization", "cookie", "host", "content-length", "connection",
        "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-authorization", "expect", "accept-encoding",
        "REMOTE_ADDR", "REMOTE_PORT", "LOCAL_ADDR", "LOCAL_PORT"}) {
    INFO(name);
    CHECK_FALSE(is_forwardable_request_header(name));
  }
}

TEST_CASE("request headers named by Connection are dropped", "[unit][headers]") {
  const Headers in = {{"Connection", "keep-alive, X-Private-Hop"},
                      {"x-private-hop", "1"},
                      {"anthropic-beta", "a,b"},
                      {"x-api-key", "secret"}};
  const Headers out = forwardable_request_headers(in);
  REQUIRE(out.size() == 1);
  CHECK(out[0].first == "anthropic-beta");
  CHECK(out[0].second == "a,b");
}

TEST_CASE("response headers: end-to-end relayed, framing dropped", "[unit][headers]") {
  for (const char* name : {"request-id", "retry-after", "anthropic-ratelimit-requests-remaining", "content-type",
                           "content-encoding", "x-custom"}) {
    INFO(name);
    CHECK(is_forwardable_response_header(name));
  }
  for (const char* name : {"content-length", "Transfer-Encoding", "connection", "keep-alive"}) {
    INFO(name);
    CHECK_FALSE(is_forwardable_response_header(name));
  }
}
