// The token endpoint body parsers (detail::parse_token_response / parse_token_error): accepted
// shapes, rejected shapes with messages that never quote values, caps and truncation.
#include <catch2/catch.hpp>

#include <string>

#include <nlohmann/json.hpp>

#include "oauth/oauth_token_response.h"

using namespace balancer;
using namespace balancer::detail;
using namespace std::chrono_literals;

TEST_CASE("a full token response is parsed", "[unit][oauth]") {
  const auto g = parse_token_response(R"({"token_type":"Bearer","access_token":"at","refresh_token":"rt",
    "expires_in":28800,"scope":"user:inference  user:profile","account":{"uuid":"u","email_address":"Me@X.io"},
    "organization":{"uuid":"o"}})");
  REQUIRE(g.has_value());
  CHECK(g->access_token == "at");
  CHECK(g->refresh_token == "rt");
  CHECK(g->expires_in == 28800s);
  CHECK(g->scopes == std::vector<std::string>{"user:inference", "user:profile"});
  CHECK(g->account_email == "Me@X.io");
}

TEST_CASE("optional fields of a token response may be absent", "[unit][oauth]") {
  const auto g = parse_token_response(R"({"access_token":"at","expires_in":60})");
  REQUIRE(g.has_value());
  CHECK(g->refresh_token.empty());
  CHECK(g->scopes.empty());
  CHECK(g->account_email.empty());
  const auto null_refresh =
      parse_token_response(R"({"access_token":"at","expires_in":60,"refresh_token":null,"account":5})");
  REQUIRE(null_refresh.has_value());
  CHECK(null_refresh->refresh_token.empty());
  CHECK(null_refresh->account_email.empty());
}

TEST_CASE("expires_in may be a float and is capped at ten years", "[unit][oauth]") {
  CHECK(parse_token_response(R"({"access_token":"a","expires_in":3600.9})")->expires_in == 3600s);
  CHECK(parse_token_response(R"({"access_token":"a","expires_in":0.25})")->expires_in == 1s);
  CHECK(parse_token_response(R"({"access_token":"a","expires_in":1e300})")->expires_in == kMaxTokenLifetime);
  CHECK(parse_token_response(R"({"access_token":"a","expires_in":18446744073709551615})")->expires_in ==
        kMaxTokenLifetime);
  CHECK(parse_token_response(R"({"access_token":"a","expires_in":99999999999999999999999})")->expires_in ==
        kMaxTokenLifetime);
}

TEST_CASE("unusable token responses are errors that do not quote the body", "[unit][oauth]") {
  const auto check_rejected = [](const std::string& body, const std::string& mentions) {
    CAPTURE(body);
    const auto g = parse_token_response(body);
    REQUIRE_FALSE(g.has_value());
    CHECK(g.error().code == ErrorCode::UpstreamProtocol);
    CHECK_THAT(g.error().message, Catch::Contains(mentions));
    CHECK_THAT(g.error().message, !Catch::Contains("SECRET"));
  };
  check_rejected("", "not JSON");
  check_rejected("SECRET", "not JSON");
  check_rejected(R"(["SECRET"])", "not a JSON object");
  check_rejected(R"({"expires_in":60,"refresh_token":"SECRET"})", "no access_token");
  check_rejected(R"({"access_token":"","expires_in":60})", "access_token");
  check_rejected(R"({"access_token":42,"expires_in":60})", "access_token");
  check_rejected(R"({"access_token":"SECRET"})", "no expires_in");
  check_rejected(R"({"access_token":"SECRET","expires_in":"3600"})", "not a number");
  check_rejected(R"({"access_token":"SECRET","expires_in":0})", "not positive");
  check_rejected(R"({"access_token":"SECRET","expires_in":-5})", "not positive");
  check_rejected(R"({"access_token":"SECRET","expires_in":-0.5})", "not positive");
  check_rejected(R"({"access_token":"SECRET","expires_in":null})", "not a number");
  check_rejected(R"({"access_token":"SECRET","expires_in":60,"refresh_token":["x"]})", "refresh_token");
  check_rejected("{\"access_token\":\"SECRET\xff\",\"expires_in\":60}", "not JSON");
  check_rejected(R"({"access_token":"SECRET\r\nx-injected: 1","expires_in":60})", "characters");
  check_rejected(R"({"access_token":"SECRET with space","expires_in":60})", "characters");
  check_rejected(R"({"access_token":"SECRET","expires_in":60,"refresh_token":"SECRET\n"})", "characters");
}

TEST_CASE("token errors are read from OAuth and Anthropic shapes", "[unit][oauth]") {
  const auto oauth = parse_token_error(R"({"error":"invalid_grant","error_description":"Refresh token expired"})");
  CHECK(oauth.error == "invalid_grant");
  CHECK(oauth.description == "Refresh token expired");

  const auto anthropic =
      parse_token_error(R"({"type":"error","error":{"type":"rate_limit_error","message":"Rate limited"}})");
  CHECK(anthropic.error == "rate_limit_error");
  CHECK(anthropic.description == "Rate limited");

  const auto bare = parse_token_error(R"({"error":"invalid_client"})");
  CHECK(bare.error == "invalid_client");
  CHECK(bare.description.empty());

  for (const char* junk : {"", "<html>502</html>", "[]", R"({"error":7})", R"({"message":"x"})", "null"}) {
    CAPTURE(junk);
    const auto e = parse_token_error(junk);
    CHECK(e.error.empty());
    CHECK(e.description.empty());
  }
}

TEST_CASE("token error descriptions are cut to 200 bytes on one line", "[unit][oauth]") {
  std::string long_text(150, 'a');
  long_text += "\n";
  for (int i = 0; i < 40; ++i) {
    long_text += "\xc3\xa9";  // é, two bytes each: byte 200 falls inside one
  }
  const nlohmann::json body = {{"error", std::string(100, 'e')}, {"error_description", long_text}};
  const auto e = parse_token_error(body.dump());
  CHECK(e.error.size() == 64);
  CHECK(e.description.size() == 199);
  CHECK(e.description.size() <= kMaxErrorDescription);
  CHECK(e.description.find('\n') == std::string::npos);
  CHECK(e.description.substr(150, 3) == " \xc3\xa9");
  CHECK(e.description.back() == '\xa9');
}
