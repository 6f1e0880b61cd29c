// OAuth login (spec §9): base64url and PKCE vectors, the authorize URL, concurrent login flows,
// "code#state" pastes, flow expiry, and the code exchange's request and failure shapes. The
// token endpoint is a FakeTransport, time a ManualClock; nothing sleeps.
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "oauth_test_support.h"

using namespace balancer;
using namespace oauth_test;
using namespace std::chrono_literals;

TEST_CASE("base64url follows RFC 4648 without padding", "[unit][oauth]") {
  CHECK(base64url("") == "");
  CHECK(base64url("f") == "Zg");
  CHECK(base64url("fo") == "Zm8");
  CHECK(base64url("foo") == "Zm9v");
  CHECK(base64url("foob") == "Zm9vYg");
  CHECK(base64url("fooba") == "Zm9vYmE");
  CHECK(base64url("foobar") == "Zm9vYmFy");
  CHECK(base64url(std::string("\xfb\xff", 2)) == "-_8");  // '+' and '/' in plain base64
  CHECK(base64url(std::string("\x00\x00\x00", 3)) == "AAAA");
}

TEST_CASE("the PKCE S256 challenge matches RFC 7636 appendix B", "[unit][oauth]") {
  // The appendix's 32 random octets encode to its code_verifier ...
  const unsigned char octets[] = {116, 24,  223, 180, 151, 153, 224, 37,  79, 250, 96, 125, 216, 173, 187, 186,
                                  22,  212, 37,  77,  105, 214, 191, 240, 91, 88,  5,  88,  83,  132, 141, 121};
  const std::string verifier = base64url(std::string_view(reinterpret_cast<const char*>(octets), sizeof octets));
  CHECK(verifier == "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
  // ... whose S256 challenge is:
  CHECK(pkce_challenge_s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  CHECK(pkce_challenge_s256("dBjftJeZ4CVP-1mB92K27uhbUJU1p1r_wW1gFWFOEjXk") !=
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

TEST_CASE("random_url_token gives 43 URL-safe characters for 32 bytes, never repeating", "[unit][oauth]") {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    const auto got = random_url_token();
    REQUIRE(got);
    const std::string& token = *got;
    REQUIRE(token.size() == 43);
    for (const char c : token) {
      const bool ok =
          (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
      REQUIRE(ok);
    }
    seen.insert(token);
  }
  CHECK(seen.size() == 100);
  CHECK(random_url_token(9).value().size() == 12);
  CHECK(random_url_token(0).value().empty());
}

TEST_CASE("random_url_token never throws: a request it cannot serve is an error value", "[unit][oauth]") {
  static_assert(noexcept(random_url_token(32)));
  CHECK(random_url_token(kMaxRandomUrlTokenBytes).value().size() == (kMaxRandomUrlTokenBytes * 4 + 2) / 3);
  const auto too_many = random_url_token(kMaxRandomUrlTokenBytes + 1);
  REQUIRE_FALSE(too_many);
  CHECK(too_many.error().code == ErrorCode::Internal);
  CHECK(too_many.error().message.find("65536") != std::string::npos);
}

TEST_CASE("account emails are trimmed and lower-cased", "[unit][oauth]") {
  CHECK(normalize_account_email("  Alice@Example.COM\t\n") == "alice@example.com");
  CHECK(normalize_account_email("bob@example.com") == "bob@example.com");
  CHECK(normalize_account_email(" \r\n ").empty());
}

TEST_CASE("the authorize URL carries exactly the PKCE parameters, in order, percent-encoded", "[unit][oauth]") {
  Fixture f;
  const auto flow = f.client->begin_login("Someone@Example.com");
  CHECK(flow.account_email == "someone@example.com");
  CHECK(flow.state.size() == 43);
  CHECK(flow.expires_at == f.clock.wall_now() + 10min);
  CHECK(f.client->pending_flows() == 1);
  REQUIRE(flow.url.rfind("https://auth.example/oauth/authorize?", 0) == 0);

  const auto query = query_of(flow.url);
  std::vector<std::string> names;
  for (const auto& [name, value] : query) {
    names.push_back(name);
  }
  CHECK(names == std::vector<std::string>{"code", "client_id", "response_type", "redirect_uri", "scope",
                                          "code_challenge", "code_challenge_method", "state"});
  CHECK(query.at(0).second == "true");
  CHECK(query.at(1).second == "client-123");
  CHECK(query.at(2).second == "code");
  CHECK(query.at(3).second == "https%3A%2F%2Fauth.example%2Foauth%2Fcode%2Fcallback");
  CHECK(query.at(4).second == "user%3Aprofile%20user%3Ainference");
  CHECK(query.at(5).second.size() == 43);
  CHECK(query.at(6).second == "S256");
  CHECK(query.at(7).second == flow.state);

  // The challenge belongs to the verifier the exchange sends.
  f.set_respond([](const HttpRequest&) { return grant("A1", "R1"); });
  REQUIRE(f.client->exchange_code("c0de#" + flow.state, "").has_value());
  const auto exchanges = f.requests_of("authorization_code");
  REQUIRE(exchanges.size() == 1);
  const json body = body_of(exchanges[0]);
  const std::string verifier = body.at("code_verifier").get<std::string>();
  CHECK(verifier.size() == 43);
  CHECK(pkce_challenge_s256(verifier) == query_value(flow.url, "code_challenge"));
}

TEST_CASE("the code exchange sends exactly the documented request", "[unit][oauth]") {
  Fixture f;
  const auto flow = f.client->begin_login();
  f.set_respond([](const HttpRequest&) {
    return FakeResponse::json(200, grant_body("acc-1", "ref-1", 3600, "user:profile user:inference"));
  });
  const auto email = f.client->exchange_code("  the-code#" + flow.state + "  \n", "  Alice@Example.COM ");
  REQUIRE(email.has_value());
  CHECK(*email == "alice@example.com");

  const auto requests = f.transport.requests();
  REQUIRE(requests.size() == 1);
  const HttpRequest& r = requests[0];
  CHECK(r.method == "POST");
  CHECK(r.url == "https://token.example/v1/oauth/token");
  CHECK(find_header(r.headers, "content-type") == std::optional<std::string_view>("application/json"));
  CHECK(find_header(r.headers, "accept") == std::optional<std::string_view>("application/json"));
  CHECK(r.proxy == "socks5://127.0.0.1:1080");
  CHECK(r.connect_timeout == 10s);
  CHECK(r.header_timeout == 30s);
  CHECK(r.idle_timeout == 30s);
  const json body = body_of(r);
  REQUIRE(body.is_object());
  CHECK(body.size() == 6);
  CHECK(body.at("grant_type") == "authorization_code");
  CHECK(body.at("client_id") == "client-123");
  CHECK(body.at("code") == "the-code");
  CHECK(body.at("redirect_uri") == "https://auth.example/oauth/code/callback");
  CHECK(body.at("state") == flow.state);
  CHECK(body.at("code_verifier").get<std::string>().size() == 43);

  // Stored under the normalised email; served without another call; the flow is used up.
  CHECK(f.client->usable_accounts() == std::vector<std::string>{"alice@example.com"});
  CHECK(f.client->pending_flows() == 0);
  CHECK(str(f.client->access_token("ALICE@example.com ")) == "acc-1");
  CHECK(f.transport.call_count() == 1);
  const auto status = f.client->status();
  REQUIRE(status.size() == 1);
  CHECK(status[0].expires_at == f.clock.wall_now() + 3600s);
  CHECK(status[0].state == "valid");
  CHECK(status[0].scopes == std::vector<std::string>{"user:profile", "user:inference"});
  CHECK(status[0].requests == 1);
  const auto saved = f.store->saved_for("alice@example.com");
  REQUIRE(saved.has_value());
  CHECK(saved->access_token == "acc-1");
  CHECK(saved->refresh_token == "ref-1");
  CHECK_FALSE(saved->needs_login);
}

TEST_CASE("the account email comes from the argument, else the flow, else the token response", "[unit][oauth]") {
  Fixture f;
  f.set_respond([](const HttpRequest&) {
    return FakeResponse::json(200, grant_body("A", "R", 3600, "", "Reported@Example.com"));
  });
  SECTION("argument") {
    const auto flow = f.client->begin_login("flow@example.com");
    CHECK(str(f.client->exchange_code("c#" + flow.state, "Arg@Example.com")) == "arg@example.com");
  }
  SECTION("flow") {
    const auto flow = f.client->begin_login("Flow@Example.com");
    CHECK(str(f.client->exchange_code("c#" + flow.state, "")) == "flow@example.com");
  }
  SECTION("token response") {
    const auto flow = f.client->begin_login();
    CHECK(str(f.client->exchange_code("c#" + flow.state, "")) == "reported@example.com");
    CHECK(f.client->usable_accounts() == std::vector<std::string>{"reported@example.com"});
  }
  SECTION("none at all") {
    f.set_respond([](const HttpRequest&) { return grant("A", "R"); });
    const auto flow = f.client->begin_login();
    const auto r = f.client->exchange_code("c#" + flow.state, "");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::InvalidRequest);
    CHECK_THAT(r.error().message, Catch::Contains("account_email"));
    CHECK(f.client->usable_accounts().empty());
  }
}

TEST_CASE("two logins in flight complete in either order, each with its own verifier", "[unit][oauth]") {
  Fixture f;
  const auto first = f.client->begin_login("first@example.com");
  const auto second = f.client->begin_login("second@example.com");
  CHECK(first.state != second.state);
  CHECK(f.client->pending_flows() == 2);

  f.set_respond([](const HttpRequest& r) {
    const std::string code = body_of(r).at("code").get<std::string>();
    return grant("access-" + code, "refresh-" + code);
  });
  CHECK(str(f.client->exchange_code("code2#" + second.state, "")) == "second@example.com");
  CHECK(str(f.client->exchange_code("code1", "", first.state)) == "first@example.com");
  CHECK(f.client->pending_flows() == 0);

  const auto exchanges = f.requests_of("authorization_code");
  REQUIRE(exchanges.size() == 2);
  const json b2 = body_of(exchanges[0]);
  const json b1 = body_of(exchanges[1]);
  CHECK(b2.at("state") == second.state);
  CHECK(b1.at("state") == first.state);
  CHECK(b1.at("code_verifier") != b2.at("code_verifier"));
  CHECK(pkce_challenge_s256(b1.at("code_verifier").get<std::string>()) == query_value(first.url, "code_challenge"));
  CHECK(pkce_challenge_s256(b2.at("code_verifier").get<std::string>()) == query_value(second.url, "code_challenge"));
  CHECK(str(f.client->access_token("first@example.com")) == "access-code1");
  CHECK(str(f.client->access_token("second@example.com")) == "access-code2");
}

TEST_CASE("the state is taken from the paste or the argument and must agree", "[unit][oauth]") {
  Fixture f;
  const auto a = f.client->begin_login("a@example.com");
  const auto b = f.client->begin_login("b@example.com");
  f.set_respond([](const HttpRequest&) { return grant("A", "R"); });

  const auto mismatch = f.client->exchange_code("c#" + a.state, "", b.state);
  REQUIRE_FALSE(mismatch.has_value());
  CHECK(mismatch.error().code == ErrorCode::InvalidRequest);
  CHECK_THAT(mismatch.error().message, Catch::Contains("differs"));
  CHECK(f.transport.call_count() == 0);

  const auto unknown = f.client->exchange_code("c#not-a-state", "");
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error().code == ErrorCode::InvalidRequest);
  CHECK(unknown.error().message == "login state unknown or expired (10 minutes); start a new login");

  const auto empty = f.client->exchange_code(" #" + a.state, "");
  REQUIRE_FALSE(empty.has_value());
  CHECK(empty.error().code == ErrorCode::InvalidRequest);
  CHECK(f.transport.call_count() == 0);

  // Both ways and equal: fine.
  CHECK(str(f.client->exchange_code("c#" + b.state, "", b.state)) == "b@example.com");
  CHECK(f.client->pending_flows() == 1);
}

TEST_CASE("without a state the only pending flow is used; with several the paste must carry it", "[unit][oauth]") {
  Fixture f;
  f.set_respond([](const HttpRequest&) { return grant("A", "R"); });

  const auto none = f.client->exchange_code("c", "x@example.com");
  REQUIRE_FALSE(none.has_value());
  CHECK(none.error().code == ErrorCode::InvalidRequest);
  CHECK_THAT(none.error().message, Catch::Contains("unknown or expired"));

  const auto one = f.client->begin_login();
  CHECK(str(f.client->exchange_code("c", "one@example.com")) == "one@example.com");
  CHECK(body_of(f.transport.requests().at(0)).at("state") == one.state);

  (void)f.client->begin_login();
  (void)f.client->begin_login();
  const auto several = f.client->exchange_code("c", "two@example.com");
  REQUIRE_FALSE(several.has_value());
  CHECK(several.error().code == ErrorCode::InvalidRequest);
  CHECK_THAT(several.error().message, Catch::Contains("after '#'"));
  CHECK(f.transport.call_count() == 1);
}

TEST_CASE("a login flow expires after exactly 10 minutes", "[unit][oauth]") {
  Fixture f;
  f.set_respond([](const HttpRequest&) { return grant("A", "R"); });
  const auto flow = f.client->begin_login();
  const auto kept = f.client->begin_login();

  f.clock.advance(10min - 1ms);
  CHECK(f.client->pending_flows() == 2);
  CHECK(f.client->exchange_code("c#" + kept.state, "kept@example.com").has_value());

  f.clock.advance(1ms);
  CHECK(f.client->pending_flows() == 0);
  const auto late = f.client->exchange_code("c#" + flow.state, "late@example.com");
  REQUIRE_FALSE(late.has_value());
  CHECK(late.error().code == ErrorCode::InvalidRequest);
  CHECK(late.error().message == "login state unknown or expired (10 minutes); start a new login");
  CHECK(f.transport.call_count() == 1);
}

TEST_CASE("at most 64 logins are pending; the oldest makes room", "[unit][oauth]") {
  Fixture f;
  const auto oldest = f.client->begin_login();
  for (int i = 0; i < 64; ++i) {
    f.clock.advance(1ms);
    (void)f.client->begin_login();
  }
  CHECK(f.client->pending_flows() == 64);
  const auto r = f.client->exchange_code("c#" + oldest.state, "x@example.com");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == ErrorCode::InvalidRequest);
}

TEST_CASE("a refused code exchange is InvalidRequest with the endpoint's error and keeps the flow", "[unit][oauth]") {
  Fixture f;
  const auto flow = f.client->begin_login();
  f.set_respond([](const HttpRequest&) { return oauth_error(400, "invalid_grant", "Invalid 'code' in request."); });
  const auto r = f.client->exchange_code("secret-code-123#" + flow.state, "a@example.com");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == ErrorCode::InvalidRequest);
  CHECK_THAT(r.error().message, Catch::Contains("400"));
  CHECK_THAT(r.error().message, Catch::Contains("invalid_grant"));
  CHECK_THAT(r.error().message, Catch::Contains("Invalid 'code' in request."));
  CHECK_THAT(r.error().message, !Catch::Contains("secret-code-123"));
  CHECK(f.client->usable_accounts().empty());
  CHECK(f.store->saves() == 0);

  // A corrected paste within the 10 minutes works.
  CHECK(f.client->pending_flows() == 1);
  f.set_respond([](const HttpRequest&) { return grant("A", "R"); });
  CHECK(f.client->exchange_code("right-code#" + flow.state, "a@example.com").has_value());
}

TEST_CASE("an exchange the endpoint fails is an upstream error and stores nothing", "[unit][oauth]") {
  Fixture f;
  const auto flow = f.client->begin_login();
  SECTION("HTTP 500") {
    f.set_respond([](const HttpRequest&) { return FakeResponse::json(500, "{\"error\":\"server_error\"}"); });
    const auto r = f.client->exchange_code("c#" + flow.state, "a@example.com");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::UpstreamProtocol);
    CHECK_THAT(r.error().message, Catch::Contains("HTTP 500 (server_error)"));
  }
  SECTION("HTTP 429 with an Anthropic error body") {
    f.set_respond([](const HttpRequest&) {
      return FakeResponse::json(429, R"({"type":"error","error":{"type":"rate_limit_error","message":"Slow down"}})");
    });
    const auto r = f.client->exchange_code("c#" + flow.state, "a@example.com");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::UpstreamProtocol);
    CHECK_THAT(r.error().message, Catch::Contains("HTTP 429 (rate_limit_error: Slow down)"));
  }
  SECTION("transport failure") {
    f.set_respond(
        [](const HttpRequest&) { return FakeResponse::failure(ErrorCode::UpstreamTimeout, "no headers within 30 s"); });
    const auto r = f.client->exchange_code("c#" + flow.state, "a@example.com");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::UpstreamTimeout);
    CHECK_THAT(r.error().message, Catch::Contains("no headers within 30 s"));
  }
  SECTION("200 with a malformed body") {
    f.set_respond([](const HttpRequest&) {
      return FakeResponse::json(200, R"({"access_token":"leaky-token","expires_in":"soon"})");
    });
    const auto r = f.client->exchange_code("c#" + flow.state, "a@example.com");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::UpstreamProtocol);
    CHECK_THAT(r.error().message, Catch::Contains("expires_in"));
    CHECK_THAT(r.error().message, !Catch::Contains("leaky-token"));
  }
  CHECK(f.client->usable_accounts().empty());
  CHECK(f.client->status().empty());
  CHECK(f.store->saves() == 0);
  CHECK(f.client->pending_flows() == 1);
}

TEST_CASE("the endpoint echoing the code or verifier does not put them in the message", "[unit][oauth]") {
  Fixture f;
  const auto flow = f.client->begin_login();
  f.set_respond([](const HttpRequest& r) {
    const json body = body_of(r);
    return oauth_error(400, "invalid_request",
                       "bad code " + body.at("code").get<std::string>() + " for verifier " +
                           body.at("code_verifier").get<std::string>());
  });
  const auto r = f.client->exchange_code("my-secret-code#" + flow.state, "a@example.com");
  REQUIRE_FALSE(r.has_value());
  const std::string verifier = body_of(f.transport.requests().at(0)).at("code_verifier").get<std::string>();
  CHECK_THAT(r.error().message, Catch::Contains("[redacted]"));
  CHECK_THAT(r.error().message, !Catch::Contains("my-secret-code"));
  CHECK_THAT(r.error().message, !Catch::Contains(verifier.substr(0, 12)));
}

TEST_CASE("a new login replaces the account's tokens and keeps one entry", "[unit][oauth]") {
  Fixture f;
  f.login("a@example.com", "A1", "R1");
  f.login("A@Example.com", "A2", "R2");
  CHECK(f.client->usable_accounts() == std::vector<std::string>{"a@example.com"});
  CHECK(str(f.client->access_token("a@example.com")) == "A2");
  const auto saved = f.store->saved();
  REQUIRE(saved.size() == 1);
  CHECK(saved[0].refresh_token == "R2");
}

TEST_CASE("set_settings applies new endpoints to the next login and exchange", "[unit][oauth]") {
  Fixture f;
  auto s = Fixture::settings();
  s.authorize_url = "https://other.example/authorize";
  s.token_url = "https://other.example/token";
  s.client_id = "client-2";
  f.client->set_settings(s);
  const auto flow = f.client->begin_login();
  CHECK(flow.url.rfind("https://other.example/authorize?", 0) == 0);
  CHECK(query_value(flow.url, "client_id") == "client-2");
  f.set_respond([](const HttpRequest&) { return grant("A", "R"); });
  REQUIRE(f.client->exchange_code("c#" + flow.state, "a@example.com").has_value());
  CHECK(f.transport.requests().at(0).url == "https://other.example/token");
  CHECK(body_of(f.transport.requests().at(0)).at("client_id") == "client-2");
}
