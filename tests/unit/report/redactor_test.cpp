// The Redactor: every configured secret, in any text the balancer sends out, becomes <redacted>.
#include <catch2/catch.hpp>

#include "report/redactor.h"

using namespace balancer;

TEST_CASE("Redactor replaces provider keys, header values, URL credentials and client keys", "[unit][report]") {
  BalancerConfig config;
  ProviderConfig a;
  a.name = "a";
  a.auth_value = "sk-ant-provider-secret";
  a.headers = {{"x-custom-auth", "header-secret-99"}};
  a.base_url = "https://user:url-password@host.example/v1?token=query-secret-7";
  ProviderConfig b;
  b.name = "b";
  b.auth_value = "passthrough";  // not a secret of ours: never replaced
  config.providers = {a, b};
  config.auth.api_keys = {"client-key-1", "short"};
  config.auth.admin_api_key = "admin-key-2";
  const detail::Redactor redactor(config);

  const std::string leaked =
      R"({"error":{"message":"invalid x-api-key sk-ant-provider-secret; sk-ant-provider-secret again"}})"
      " header-secret-99 url-password query-secret-7 client-key-1 admin-key-2 passthrough short";
  const std::string out = redactor.apply(leaked);
  for (const char* secret : {"sk-ant-provider-secret", "header-secret-99", "url-password", "query-secret-7",
                             "client-key-1", "admin-key-2"}) {
    INFO(secret);
    CHECK(out.find(secret) == std::string::npos);
  }
  CHECK(out.find("<redacted>; <redacted> again") != std::string::npos);
  CHECK(out.find("passthrough") != std::string::npos);  // the keyword, not a secret
  CHECK(out.find("short") != std::string::npos);        // too short to tell from a word
  CHECK(redactor.apply("nothing to hide") == "nothing to hide");
}

TEST_CASE("Redactor replaces proxy credentials, escaped spellings and key-shaped words", "[unit][report]") {
  BalancerConfig config;
  ProviderConfig a;
  a.name = "a";
  a.auth_value = "plain/secret\"value";
  a.proxy = "http://proxyuser:proxy-pass-1@proxy.example:3128";
  config.providers = {a};
  config.oauth.proxy = "http://oauth-proxy-pw@proxy.example:8080";
  const detail::Redactor redactor(config);
  const std::string out = redactor.apply(
      R"({"message":"bad key plain/secret\"value via proxy-pass-1 and oauth-proxy-pw; token )"
      R"(sk-ant-oat01-AbCdEfGhIjKlMnOpQrStUv and sk-proj-0123456789abcdefXYZ, not task-ant-1 or sk-short"})");
  INFO(out);
  for (const char* secret : {"secret\\\"value", "proxy-pass-1", "oauth-proxy-pw", "AbCdEfGh", "0123456789abcdef"}) {
    INFO(secret);
    CHECK(out.find(secret) == std::string::npos);
  }
  CHECK(out.find("task-ant-1") != std::string::npos);  // not a key: inside a word
  CHECK(out.find("sk-short") != std::string::npos);    // too short to be a key
}
