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

TEST_CASE("Redactor redacts error events of a stream and leaves every other event as it was", "[unit][report]") {
  BalancerConfig config;
  ProviderConfig a;
  a.name = "a";
  a.auth_value = "provider-secret-0001";
  config.providers = {a};
  const detail::Redactor redactor(config);
  // A text delta may legitimately quote key-shaped text (the model's answer); only the error
  // events around it are the upstream's words.
  const std::string delta =
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"use "
      "sk-ant-api03-AbCdEfGhIjKlMnOpQr or provider-secret-0001\"}}\n\n";
  const std::string named =
      "event: error\ndata: {\"type\":\"error\",\"error\":{\"message\":\"provider-secret-0001\"}}\n\n";
  const std::string unnamed =
      "data: {\"type\": \"error\", \"error\": {\"message\": \"bad provider-secret-0001\"}}\r\n\r\n";
  const std::string out = redactor.apply_to_error_events(delta + named + unnamed + delta);
  CHECK(out == delta + "event: error\ndata: {\"type\":\"error\",\"error\":{\"message\":\"<redacted>\"}}\n\n" +
                   "data: {\"type\": \"error\", \"error\": {\"message\": \"bad <redacted>\"}}\r\n\r\n" + delta);
  CHECK(redactor.apply_to_error_events(delta) == delta);
  CHECK(redactor.apply_to_error_events("") == "");
  // An event without its blank line yet (the end of a cut stream) is judged all the same.
  CHECK(redactor.apply_to_error_events("event:error\ndata: provider-secret-0001") == "event:error\ndata: <redacted>");

  // Spellings an SSE parser accepts as error events are judged as it would judge them.
  CHECK(redactor.apply_to_error_events("event: error \ndata: x provider-secret-0001\n\n") ==
        "event: error \ndata: x <redacted>\n\n");
  CHECK(redactor.apply_to_error_events("data: {\"type\" : \"error\", \"m\": \"provider-secret-0001\"}\n\n") ==
        "data: {\"type\" : \"error\", \"m\": \"<redacted>\"}\n\n");
  CHECK(redactor.apply_to_error_events("data: error: provider-secret-0001\n\n") == "data: error: <redacted>\n\n");
  // Framing this splitter does not follow (bare CR line endings, a byte order mark): the whole
  // chunk is redacted rather than misjudged.
  CHECK(redactor.apply_to_error_events("event: error\rdata: provider-secret-0001\r\r") ==
        "event: error\rdata: <redacted>\r\r");
  CHECK(redactor.apply_to_error_events("\xEF\xBB\xBF" + named) ==
        "\xEF\xBB\xBF"
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"message\":\"<redacted>\"}}\n\n");
  // A model's text that talks about errors is still the model's, byte for byte.
  const std::string talks_of_errors =
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"an error: "
      "provider-secret-0001\"}}\n\n";
  CHECK(redactor.apply_to_error_events(talks_of_errors) == talks_of_errors);
}
