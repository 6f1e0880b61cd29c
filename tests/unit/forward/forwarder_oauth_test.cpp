// forwarder_oauth_test.cpp — `auth_type: oauth` providers in the Forwarder (spec §9): the
// account's Bearer token and the oauth beta flag upstream, one refresh and a retry after a 401,
// accounts that need a login, per-conversation account choice and health per provider+account.
#include <catch2/catch.hpp>

#include <atomic>
#include <set>

#include <nlohmann/json.hpp>

#include <balancer/health_tracker.h>
#include <balancer/oauth_client.h>
#include <balancer/testing/fake_transport.h>
#include <balancer/testing/manual_clock.h>
#include <balancer/testing/scripted_random.h>
#include "forward/forwarder.h"
#include "report/status_report.h"

#include "forward/upstream_credentials.h"
#include "routing/account_choice.h"

using namespace balancer;
using balancer::testing::FakeResponse;
using balancer::testing::FakeTransport;

namespace {

constexpr std::string_view kTokenUrl = "https://token.example/v1/oauth/token";

// Tokens handed to the OAuthClient at load(); saves are kept in memory.
class MemoryStore final : public TokenStore {
 public:
  explicit MemoryStore(std::vector<OAuthToken> tokens) : tokens_(std::move(tokens)) {}
  Result<std::vector<OAuthToken>> load() override { return tokens_; }
  Result<void> save(const std::vector<OAuthToken>& tokens) override {
    tokens_ = tokens;
    return {};
  }

 private:
  std::vector<OAuthToken> tokens_;
};

ProviderConfig oauth_provider(std::string name, std::string account = "") {
  ProviderConfig p;
  p.name = std::move(name);
  p.base_url = "https://" + p.name + ".example";
  p.auth_type = AuthType::OAuth;
  p.auth_value = "oauth";
  p.account_email = std::move(account);
  return p;
}

ProviderConfig key_provider(std::string name) {
  ProviderConfig p;
  p.name = std::move(name);
  p.base_url = "https://" + p.name + ".example";
  p.auth_value = "secret-" + p.name;
  return p;
}

// Providers in priority order for every model; an OAuthClient holding `accounts` (access
// token "at-<email>-0", valid for an hour); a fake transport that answers the token endpoint
// with "at-<n>" / "rt-<n>" and every provider with `upstream`.
struct Fixture {
  Fixture(std::vector<ProviderConfig> providers, std::vector<std::string> accounts, FakeTransport::Handler upstream)
      : transport([this, upstream = std::move(upstream)](const HttpRequest& r) {
          if (r.url == kTokenUrl) {
            if (token_status != 200) {
              ++refreshes;
              return FakeResponse::json(token_status, R"({"error":"server_error"})");
            }
            const int n = ++refreshes;
            return FakeResponse::json(200, nlohmann::json{{"access_token", "at-new-" + std::to_string(n)},
                                                          {"refresh_token", "rt-new-" + std::to_string(n)},
                                                          {"expires_in", 3600}}
                                               .dump());
          }
          return upstream(r);
        }),
        health(HealthConfig{}, clock) {
    std::vector<OAuthToken> tokens;
    for (const std::string& email : accounts) {
      OAuthToken t;
      t.account_email = email;
      t.access_token = "at-" + email + "-0";
      t.refresh_token = "rt-" + email + "-0";
      t.expires_at = clock.wall_now() + std::chrono::hours(1);
      t.created_at = clock.wall_now();
      tokens.push_back(t);
    }
    OAuthSettings settings;
    settings.token_url = std::string(kTokenUrl);
    oauth = std::make_unique<OAuthClient>(settings, transport, clock, std::make_unique<MemoryStore>(tokens));
    REQUIRE(oauth->load());

    auto c = std::make_shared<BalancerConfig>();
    c->providers = std::move(providers);
    ModelRoute route{"*", {}};
    int priority = 1;
    for (const auto& p : c->providers) {
      RouteEntry e;
      e.provider = p.name;
      e.priority = priority++;
      route.entries.push_back(e);
    }
    c->model_routes = {route};
    config = c;
    router = std::make_unique<Router>(config, health, random);
    ForwarderOptions options;
    options.health = &health;
    options.oauth = oauth.get();
    forwarder = std::make_unique<Forwarder>(*router, transport, auth, clock, stats, options);
  }

  ForwardResult post(Headers headers = {{"anthropic-version", "2023-06-01"}}) {
    return forwarder->forward(
        {"/v1/messages", "", std::move(headers),
         R"({"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]})"});
  }

  std::vector<HttpRequest> upstream_requests() const {
    std::vector<HttpRequest> out;
    for (auto& r : transport.requests()) {
      if (r.url != kTokenUrl) out.push_back(r);
    }
    return out;
  }

  std::atomic<int> refreshes{0};
  std::atomic<int> token_status{200};  // what the token endpoint answers
  testing::ManualClock clock;
  FakeTransport transport;
  HealthTracker health;
  testing::ScriptedRandom random{0};
  ProviderStats stats;
  ClientAuth auth{AuthSettings{}};
  std::unique_ptr<OAuthClient> oauth;
  std::shared_ptr<const BalancerConfig> config;
  std::unique_ptr<Router> router;
  std::unique_ptr<Forwarder> forwarder;
};

std::string header(const Headers& h, std::string_view name) {
  return std::string(find_header(h, name).value_or("<absent>"));
}

std::string host_of(const HttpRequest& r) { return r.url.substr(8, r.url.find('.') - 8); }

FakeResponse ok() { return FakeResponse::json(200, R"({"id":"msg_1","type":"message","content":[]})"); }

}  // namespace

TEST_CASE("Forwarder OAuth: the account's Bearer token and the oauth beta go upstream, client credentials do not",
          "[unit][forwarder][oauth]") {
  Fixture f({oauth_provider("A", "Max@Example.com")}, {"max@example.com"}, [](const HttpRequest&) { return ok(); });
  const auto r = f.post({{"anthropic-version", "2023-06-01"},
                         {"anthropic-beta", "claude-code-20250219, interleaved-thinking-2025-05-14"},
                         {"anthropic-beta", "oauth-2025-04-20"},
                         {"x-api-key", "client-key"},
                         {"authorization", "Bearer client-token"}});
  REQUIRE(r.status == 200);
  const auto sent = f.upstream_requests();
  REQUIRE(sent.size() == 1);
  CHECK(header(sent[0].headers, "authorization") == "Bearer at-max@example.com-0");
  CHECK(header(sent[0].headers, "x-api-key") == "<absent>");
  CHECK(header(sent[0].headers, "anthropic-beta") ==
        "oauth-2025-04-20,claude-code-20250219,interleaved-thinking-2025-05-14");
  CHECK(std::count_if(sent[0].headers.begin(), sent[0].headers.end(),
                      [](const auto& h) { return iequals(h.first, "anthropic-beta"); }) == 1);
  REQUIRE(r.attempts.size() == 1);
  CHECK(r.attempts[0].account == "max@example.com");
  CHECK(f.refreshes == 0);
}

TEST_CASE("Forwarder OAuth: a 401 refreshes the account once and retries with the new token",
          "[unit][forwarder][oauth]") {
  Fixture f({oauth_provider("A", "a@x.io"), key_provider("B")}, {"a@x.io"}, [](const HttpRequest& r) {
    if (host_of(r) == "A" && header(r.headers, "authorization") == "Bearer at-a@x.io-0") {
      return FakeResponse::json(401, R"({"type":"error","error":{"type":"authentication_error","message":"revoked"}})");
    }
    return ok();
  });
  const auto r = f.post();
  REQUIRE(r.status == 200);
  CHECK(r.provider == "A");
  CHECK(f.refreshes == 1);
  const auto sent = f.upstream_requests();
  REQUIRE(sent.size() == 2);
  CHECK(header(sent[1].headers, "authorization") == "Bearer at-new-1");
  CHECK(f.health.snapshot("A").failure_count == 0);
  // The next request uses the refreshed token without another refresh.
  REQUIRE(f.post().status == 200);
  CHECK(f.refreshes == 1);
  CHECK(header(f.upstream_requests().back().headers, "authorization") == "Bearer at-new-1");
}

TEST_CASE("Forwarder OAuth: a 401 after the refresh counts against the provider and fails over",
          "[unit][forwarder][oauth]") {
  Fixture f({oauth_provider("A", "a@x.io"), key_provider("B")}, {"a@x.io"}, [](const HttpRequest& r) {
    if (host_of(r) == "A") {
      return FakeResponse::json(401, R"({"type":"error","error":{"type":"authentication_error","message":"no"}})");
    }
    return ok();
  });
  const auto r = f.post();
  REQUIRE(r.status == 200);
  CHECK(r.provider == "B");
  CHECK(f.refreshes == 1);  // one refresh per attempt, never a loop
  REQUIRE(r.attempts.size() == 2);
  CHECK(r.attempts[0].status == 401);
  CHECK(f.health.snapshot("A").failure_count == 1);
}

TEST_CASE("Forwarder OAuth: an account without a login fails over without a health penalty or token text",
          "[unit][forwarder][oauth]") {
  Fixture f({oauth_provider("A", "gone@x.io"), oauth_provider("U"), key_provider("B")}, {},
            [](const HttpRequest&) { return ok(); });
  const auto r = f.post();
  REQUIRE(r.status == 200);
  CHECK(r.provider == "B");
  REQUIRE(r.attempts.size() == 3);
  CHECK(r.attempts[0].error.find("oauth_error: account gone@x.io") != std::string::npos);
  CHECK(r.attempts[1].error.find("/oauth/authorize") != std::string::npos);
  CHECK(f.upstream_requests().size() == 1);  // only B was contacted
  CHECK(f.health.snapshot("A").failure_count == 0);
  CHECK(f.health.snapshot("U").failure_count == 0);

  SECTION("with nothing to fail over to, the client gets a 503 naming the login") {
    Fixture g({oauth_provider("A", "gone@x.io")}, {}, [](const HttpRequest&) { return ok(); });
    const auto only = g.post();
    CHECK(only.status == 503);
    CHECK(only.body.find("gone@x.io") != std::string::npos);
    CHECK(only.body.find("at-") == std::string::npos);
  }
}

TEST_CASE("Forwarder OAuth: an unbound provider keeps each conversation on one account", "[unit][forwarder][oauth]") {
  Fixture f({oauth_provider("U")}, {"one@x.io", "two@x.io", "three@x.io"}, [](const HttpRequest&) { return ok(); });
  std::set<std::string> used;
  for (int conversation = 0; conversation < 24; ++conversation) {
    const Headers h{{"anthropic-version", "2023-06-01"},
                    {"x-claude-code-session-id", "session-" + std::to_string(conversation)}};
    const auto first = f.post(h);
    REQUIRE(first.status == 200);
    const std::string account = first.attempts.at(0).account;
    for (int turn = 0; turn < 3; ++turn) {
      CHECK(f.post(h).attempts.at(0).account == account);
    }
    used.insert(account);
  }
  CHECK(used.size() == 3);  // 24 conversations spread over every account
}

TEST_CASE("Forwarder OAuth: an account in cooldown gives way; health is kept per provider and account",
          "[unit][forwarder][oauth]") {
  std::string failing;
  Fixture f({oauth_provider("U")}, {"one@x.io", "two@x.io"}, [&failing](const HttpRequest& r) {
    if (header(r.headers, "authorization").find(failing) != std::string::npos && !failing.empty()) {
      return FakeResponse::json(529, R"({"type":"error","error":{"type":"overloaded_error","message":"busy"}})");
    }
    return ok();
  });
  const Headers h{{"anthropic-version", "2023-06-01"}, {"x-claude-code-session-id", "s"}};
  const std::string home = f.post(h).attempts.at(0).account;
  const std::string other = home == "one@x.io" ? "two@x.io" : "one@x.io";
  failing = "at-" + home;
  f.post(h);
  f.post(h);  // threshold 2: the conversation's account is now cooling down
  CHECK_FALSE(f.health.snapshot("U/" + home).healthy);
  CHECK(f.health.snapshot("U/" + other).healthy);
  CHECK(f.health.snapshot("U").failure_count == 0);
  const auto moved = f.post(h);
  REQUIRE(moved.status == 200);
  CHECK(moved.attempts.at(0).account == other);
}

TEST_CASE("merge_anthropic_beta folds every anthropic-beta header into one, flag first, no duplicates",
          "[unit][oauth]") {
  Headers h{{"Anthropic-Beta", " a , b"}, {"x", "y"}, {"anthropic-beta", "b,oauth-2025-04-20,,c"}};
  detail::merge_anthropic_beta(h, kOAuthBeta);
  CHECK(h == Headers{{"x", "y"}, {"anthropic-beta", "oauth-2025-04-20,a,b,c"}});
  Headers none;
  detail::merge_anthropic_beta(none, kOAuthBeta);
  CHECK(none == Headers{{"anthropic-beta", "oauth-2025-04-20"}});
}

TEST_CASE("rank_accounts is deterministic and moves few conversations when an account is added", "[unit][oauth]") {
  const std::vector<std::string> three{"a@x", "b@x", "c@x"};
  CHECK(detail::rank_accounts("conv", three) == detail::rank_accounts("conv", {"c@x", "a@x", "b@x"}));
  CHECK(detail::rank_accounts("conv", {}).empty());
  int moved = 0;
  for (int i = 0; i < 300; ++i) {
    const std::string conversation = "session:" + std::to_string(i);
    const std::string before = detail::rank_accounts(conversation, three).front();
    const std::string after = detail::rank_accounts(conversation, {"a@x", "b@x", "c@x", "d@x"}).front();
    if (after != before) {
      CHECK(after == "d@x");  // only to the new account, never between old ones
      ++moved;
    }
  }
  CHECK(moved > 30);  // about a quarter
  CHECK(moved < 120);
}

TEST_CASE(
    "Forwarder OAuth: an unbound provider whose every account cools down is still tried when nothing else is left",
    "[unit][forwarder][oauth]") {
  Fixture f({oauth_provider("U"), key_provider("K")}, {"one@x.io"}, [](const HttpRequest&) {
    return FakeResponse::json(529, R"({"type":"error","error":{"type":"overloaded_error","message":"busy"}})");
  });
  f.post();
  f.post();  // threshold 2: U/one@x.io and K both cooling down now
  REQUIRE_FALSE(f.health.snapshot("U/one@x.io").healthy);
  REQUIRE_FALSE(f.health.snapshot("K").healthy);
  const auto r = f.post();
  CHECK(r.status == 529);
  REQUIRE(r.attempts.size() == 2);  // both contacted, none "skipped"
  CHECK(r.attempts[0].account == "one@x.io");
  CHECK(r.body.find("skipped") == std::string::npos);
}

TEST_CASE("Forwarder OAuth: an unbound provider whose account cools down gives way to a healthy provider",
          "[unit][forwarder][oauth]") {
  bool fail_u = true;
  Fixture f({oauth_provider("U"), key_provider("K")}, {"one@x.io"}, [&fail_u](const HttpRequest& r) {
    if (host_of(r) == "U" && fail_u) {
      return FakeResponse::json(529, R"({"type":"error","error":{"type":"overloaded_error","message":"busy"}})");
    }
    return ok();
  });
  f.post();
  f.post();
  REQUIRE_FALSE(f.health.snapshot("U/one@x.io").healthy);
  const std::size_t before = f.upstream_requests().size();
  const auto r = f.post();
  REQUIRE(r.status == 200);
  CHECK(r.provider == "K");
  CHECK(f.upstream_requests().size() == before + 1);  // U was not contacted
}

TEST_CASE("Forwarder OAuth: a 401 and its retry are one attempt in the provider's counters",
          "[unit][forwarder][oauth]") {
  Fixture f({oauth_provider("A", "a@x.io")}, {"a@x.io"}, [](const HttpRequest& r) {
    if (header(r.headers, "authorization") == "Bearer at-a@x.io-0") {
      return FakeResponse::json(401, R"({"type":"error","error":{"type":"authentication_error","message":"revoked"}})");
    }
    return ok();
  });
  REQUIRE(f.post().status == 200);
  CHECK(f.stats.get("A").requests == 1);
  CHECK(f.stats.get("A").failures == 0);
}

TEST_CASE("Forwarder OAuth: a 401 whose refresh fails counts against the provider and account",
          "[unit][forwarder][oauth]") {
  Fixture f({oauth_provider("U"), key_provider("K")}, {"one@x.io"}, [](const HttpRequest& r) {
    if (host_of(r) == "U") {
      return FakeResponse::json(401, R"({"type":"error","error":{"type":"authentication_error","message":"revoked"}})");
    }
    return ok();
  });
  f.token_status = 503;  // the token endpoint is down
  const auto r = f.post();
  REQUIRE(r.status == 200);
  CHECK(r.provider == "K");
  REQUIRE(r.attempts.size() == 2);
  CHECK(r.attempts[0].status == 401);
  CHECK(r.attempts[0].error.find("could not be refreshed") != std::string::npos);
  CHECK(f.health.snapshot("U/one@x.io").failure_count == 1);
  CHECK(f.stats.get("U").requests == 1);
  CHECK(f.stats.get("U").failures == 1);
}

TEST_CASE("status reports: an OAuth provider is usable only through a logged-in account that may serve",
          "[unit][oauth]") {
  Fixture f({oauth_provider("Bound", "one@x.io"), oauth_provider("Gone", "gone@x.io"), oauth_provider("U")},
            {"one@x.io"}, [](const HttpRequest&) {
              return FakeResponse::json(529,
                                        R"({"type":"error","error":{"type":"overloaded_error","message":"busy"}})");
            });
  auto status_of = [&f](std::string_view name) {
    const nlohmann::json report = providers_report(*f.config, f.health, f.stats, f.oauth.get());
    for (const auto& p : report["providers"]) {
      if (p["name"] == name) return p;
    }
    FAIL("no provider " << name);
    return nlohmann::json();
  };
  CHECK(status_of("Bound")["healthy"] == true);
  CHECK(status_of("Bound")["oauth"]["usable_accounts"] == 1);
  CHECK(status_of("Gone")["healthy"] == false);
  CHECK(status_of("Gone")["status"] == "needs_login");
  CHECK(status_of("U")["healthy"] == true);
  CHECK(health_report(*f.config, f.health, f.oauth.get()).second["providers_available"] == 2);

  f.health.record("U/one@x.io", Outcome::failure("http_status", 529));
  f.health.record("U/one@x.io", Outcome::failure("http_status", 529));
  CHECK(status_of("U")["healthy"] == false);
  CHECK(status_of("U")["status"] == "unhealthy");
  CHECK(health_report(*f.config, f.health, f.oauth.get()).second["providers_available"] == 1);
  // Without the OAuth client the report knows nothing of accounts.
  CHECK(health_report(*f.config, f.health).second["providers_available"] == 3);
}
