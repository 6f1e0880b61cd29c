#include <catch2/catch.hpp>

#include "config/client_auth.h"

using namespace balancer;

namespace {
AuthSettings settings_with_keys() {
  AuthSettings s;
  s.enabled = true;
  s.api_keys = {"key-one", "key-two-longer"};
  return s;
}
}  // namespace

TEST_CASE("ClientAuth accepts x-api-key and Bearer, several keys", "[unit][auth]") {
  ClientAuth auth(settings_with_keys());
  CHECK(auth.check("/v1/messages", {{"x-api-key", "key-one"}}, ClientAuth::Access::Client));
  CHECK(auth.check("/v1/messages", {{"X-Api-Key", "key-two-longer"}}, ClientAuth::Access::Client));
  CHECK(auth.check("/v1/messages", {{"Authorization", "Bearer key-two-longer"}}, ClientAuth::Access::Client));
  CHECK(auth.check("/v1/messages", {{"authorization", "bearer key-one"}}, ClientAuth::Access::Client));
}

TEST_CASE("ClientAuth rejects missing and wrong keys without echoing them", "[unit][auth]") {
  ClientAuth auth(settings_with_keys());
  const Headers cases[] = {
      {},
      {{"x-api-key", "key-on"}},
      {{"x-api-key", "key-one-"}},
      {{"authorization", "Bearer wrong-secret"}},
      {{"authorization", "Basic key-one"}},
      {{"authorization", "key-one"}},
  };
  for (const auto& headers : cases) {
    auto result = auth.check("/v1/messages", headers, ClientAuth::Access::Client);
    REQUIRE_FALSE(result);
    CHECK(result.error().code == ErrorCode::Unauthorized);
    CHECK_THAT(result.error().message, !Catch::Contains("wrong-secret") && !Catch::Contains("key-on"));
  }
}

TEST_CASE("ClientAuth exempts /health and is open when disabled", "[unit][auth]") {
  ClientAuth auth(settings_with_keys());
  CHECK(auth.check("/health", {}, ClientAuth::Access::Client));
  ClientAuth open(AuthSettings{});
  CHECK(open.check("/v1/messages", {}, ClientAuth::Access::Client));
  CHECK(open.check("/providers/reload", {}, ClientAuth::Access::Admin));
}

TEST_CASE("ClientAuth admin key guards admin endpoints only", "[unit][auth]") {
  AuthSettings s = settings_with_keys();
  s.admin_api_key = "admin-secret";
  ClientAuth auth(s);
  CHECK_FALSE(auth.check("/providers/reload", {{"x-api-key", "key-one"}}, ClientAuth::Access::Admin));
  CHECK(auth.check("/providers/reload", {{"x-api-key", "admin-secret"}}, ClientAuth::Access::Admin));
  CHECK(auth.check("/v1/messages", {{"x-api-key", "admin-secret"}}, ClientAuth::Access::Client));
}

TEST_CASE("ClientAuth recognises its own keys for passthrough filtering", "[unit][auth]") {
  ClientAuth auth(settings_with_keys());
  CHECK(auth.is_balancer_key("key-one"));
  CHECK_FALSE(auth.is_balancer_key("sk-ant-user-key"));
  CHECK_FALSE(auth.is_balancer_key(""));
  CHECK(presented_credential({{"authorization", "Bearer  tok"}}) == "tok");
  CHECK(presented_credential({{"x-api-key", "k"}, {"authorization", "Bearer tok"}}) == "k");
}
