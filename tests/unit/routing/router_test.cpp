#include <catch2/catch.hpp>

#include <map>

#include <balancer/router.h>
#include <balancer/testing/manual_clock.h>
#include <balancer/testing/scripted_random.h>

using namespace balancer;

namespace {

// Health view with scripted cooldowns, keyed by provider name.
class ScriptedHealth final : public HealthView {
 public:
  std::map<std::string, SteadyTime, std::less<>> cooldown_until;
  std::optional<SteadyTime> unavailable_until(std::string_view provider) const override {
    auto it = cooldown_until.find(provider);
    return it == cooldown_until.end() ? std::nullopt : std::optional<SteadyTime>(it->second);
  }
};

ProviderConfig provider(std::string name, int weight = 1, bool enabled = true) {
  ProviderConfig p;
  p.name = std::move(name);
  p.base_url = "http://127.0.0.1:1";
  p.auth_value = "k";
  p.weight = weight;
  p.enabled = enabled;
  return p;
}

RouteEntry entry(std::string provider_name, std::string model, int priority) {
  RouteEntry e;
  e.provider = std::move(provider_name);
  e.model = std::move(model);
  e.priority = priority;
  return e;
}

std::shared_ptr<const BalancerConfig> make_config() {
  auto c = std::make_shared<BalancerConfig>();
  c->providers = {provider("A"), provider("B", 5), provider("C", 1), provider("Off", 1, false)};
  c->model_routes = {
      {"claude-sonnet-4-5", {entry("C", "passthrough", 1)}},
      {"*sonnet*", {entry("A", "passthrough", 2), entry("B", "glm-4.6", 1), entry("C", "x", 2), entry("Off", "y", 0)}},
      {"*SONNET*", {entry("C", "late", 1)}},
      {"*haiku*", {entry("Off", "h", 1)}},
      {"*", {entry("A", "passthrough", 1)}},
  };
  return c;
}

std::vector<std::string> names(const RouteDecision& d) {
  std::vector<std::string> out;
  for (const auto& c : d.candidates) {
    out.push_back(c.provider->name);
  }
  return out;
}

}  // namespace

TEST_CASE("Router: exact key wins over globs", "[unit][router]") {
  ScriptedHealth health;
  testing::ScriptedRandom random{0};
  Router router(make_config(), health, random);
  auto d = router.route({"claude-sonnet-4-5", std::nullopt});
  REQUIRE(d);
  CHECK(names(*d) == std::vector<std::string>{"C"});
  CHECK_FALSE(d->candidates[0].rewrite_model);
  CHECK(d->candidates[0].upstream_model == "claude-sonnet-4-5");
}

TEST_CASE("Router: first matching glob in file order, priority then weight", "[unit][router]") {
  ScriptedHealth health;
  testing::ScriptedRandom random{0};
  Router router(make_config(), health, random);
  auto d = router.route({"Claude-Sonnet-4", std::nullopt});
  REQUIRE(d);
  // B (priority 1), then A and C at priority 2 — A has weight 1, C weight 1: file order.
  CHECK(names(*d) == std::vector<std::string>{"B", "A", "C"});
  CHECK(d->candidates[0].upstream_model == "glm-4.6");
  CHECK(d->candidates[0].rewrite_model);
  CHECK(d->candidates[1].upstream_model == "Claude-Sonnet-4");
  CHECK_FALSE(d->candidates[1].rewrite_model);
  CHECK(d->candidates[0].route_pattern == "*sonnet*");
}

TEST_CASE("Router: weight breaks priority ties", "[unit][router]") {
  auto c = std::make_shared<BalancerConfig>();
  c->providers = {provider("light", 1), provider("heavy", 9)};
  c->model_routes = {{"*", {entry("light", "passthrough", 1), entry("heavy", "passthrough", 1)}}};
  ScriptedHealth health;
  testing::ScriptedRandom random{0};
  Router router(c, health, random);
  auto d = router.route({"m", std::nullopt});
  REQUIRE(d);
  CHECK(names(*d) == std::vector<std::string>{"heavy", "light"});
}

TEST_CASE("Router: a route whose entries are all unusable falls through to the next match", "[unit][router]") {
  ScriptedHealth health;
  testing::ScriptedRandom random{0};
  Router router(make_config(), health, random);
  auto d = router.route({"claude-haiku-4-5", std::nullopt});  // *haiku* has only a disabled provider
  REQUIRE(d);
  CHECK(names(*d) == std::vector<std::string>{"A"});
  CHECK(d->candidates[0].route_pattern == "*");
}

TEST_CASE("Router: providers in cooldown go last, earliest end first; a route with none healthy falls through",
          "[unit][router]") {
  testing::ManualClock clock;
  ScriptedHealth health;
  health.cooldown_until["B"] = clock.now() + std::chrono::seconds(50);
  health.cooldown_until["A"] = clock.now() + std::chrono::seconds(10);
  testing::ScriptedRandom random{0};
  Router router(make_config(), health, random);
  auto d = router.route({"my-sonnet", std::nullopt});
  REQUIRE(d);
  CHECK(names(*d) == std::vector<std::string>{"C", "A", "B"});
  CHECK(d->candidates[0].healthy());
  CHECK_FALSE(d->candidates[1].healthy());

  health.cooldown_until["C"] = clock.now() + std::chrono::seconds(5);
  d = router.route({"my-sonnet", std::nullopt});
  REQUIRE(d);
  // *sonnet* and *SONNET* have nobody healthy; "*" has A, but A is in cooldown too. Every
  // matching route is unhealthy, so the first one is used, ordered by cooldown end.
  CHECK(names(*d) == std::vector<std::string>{"C", "A", "B"});
}

TEST_CASE("Router: provider pin", "[unit][router]") {
  ScriptedHealth health;
  testing::ScriptedRandom random{0};
  Router router(make_config(), health, random);
  std::string_view pin = "C";
  auto d = router.route({"x-sonnet", pin});
  REQUIRE(d);
  CHECK(names(*d) == std::vector<std::string>{"C"});
  CHECK(d->candidates[0].upstream_model == "x");

  std::string_view unknown = "Nope";
  auto bad = router.route({"x-sonnet", unknown});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == ErrorCode::NotFound);
  CHECK_THAT(bad.error().message, Catch::Contains("Nope"));

  std::string_view disabled = "Off";
  CHECK_FALSE(router.route({"x-sonnet", disabled}));
}

TEST_CASE("Router: unknown model is NotFound naming the model", "[unit][router]") {
  auto c = std::make_shared<BalancerConfig>();
  c->providers = {provider("A")};
  c->model_routes = {{"*opus*", {entry("A", "passthrough", 1)}}};
  ScriptedHealth health;
  testing::ScriptedRandom random{0};
  Router router(c, health, random);
  auto d = router.route({"claude-haiku", std::nullopt});
  REQUIRE_FALSE(d);
  CHECK(d.error().code == ErrorCode::NotFound);
  CHECK_THAT(d.error().message, Catch::Contains("claude-haiku"));
}

TEST_CASE("Router: an unbound OAuth provider takes the conversation's account and is ordered by that account's health",
          "[unit][router]") {
  testing::ManualClock clock;
  ScriptedHealth health;
  testing::ScriptedRandom random{0};
  auto c = std::make_shared<BalancerConfig>();
  ProviderConfig oauth = provider("claude");
  oauth.auth_type = AuthType::OAuth;
  c->providers = {oauth, provider("backup")};
  c->model_routes = {{"*", {entry("claude", "passthrough", 1), entry("backup", "passthrough", 2)}}};
  Router router(c, health, random);
  const std::vector<std::string> accounts{"a@example.com", "b@example.com"};
  RouteRequest request{"claude-sonnet-4-5", std::nullopt};
  request.oauth_accounts = accounts;
  request.conversation = "session:s1";

  auto d = router.route(request);
  REQUIRE(d);
  REQUIRE(names(*d) == std::vector<std::string>{"claude", "backup"});
  const std::string first = d->candidates[0].account_email;
  CHECK((first == "a@example.com" || first == "b@example.com"));
  CHECK(d->candidates[0].healthy());
  // The same conversation gets the same account.
  CHECK(router.route(request)->candidates[0].account_email == first);

  // Its account cooling down: the other account serves, still first.
  const std::string other = first == "a@example.com" ? "b@example.com" : "a@example.com";
  health.cooldown_until["claude/" + first] = clock.now() + std::chrono::seconds(30);
  d = router.route(request);
  REQUIRE(d);
  CHECK(names(*d) == std::vector<std::string>{"claude", "backup"});
  CHECK(d->candidates[0].account_email == other);
  CHECK(d->candidates[0].healthy());

  // Every account cooling down: the provider counts as in cooldown when the candidates are
  // ordered, so the healthy backup goes first; the account whose cooldown ends first is kept.
  health.cooldown_until["claude/" + other] = clock.now() + std::chrono::seconds(10);
  d = router.route(request);
  REQUIRE(d);
  CHECK(names(*d) == std::vector<std::string>{"backup", "claude"});
  CHECK(d->candidates[1].account_email == other);
  REQUIRE_FALSE(d->candidates[1].healthy());
  CHECK(*d->candidates[1].cooldown_until == clock.now() + std::chrono::seconds(10));

  // No logged-in account: no account to use, health of the provider itself.
  request.oauth_accounts = {};
  d = router.route(request);
  REQUIRE(d);
  CHECK(d->candidates[0].provider->name == "claude");
  CHECK(d->candidates[0].account_email.empty());
}

TEST_CASE("Router: the provider a conversation just failed on goes after the other healthy candidates",
          "[unit][router]") {
  testing::ManualClock clock;
  ScriptedHealth health;
  testing::ScriptedRandom random{0};
  Router router(make_config(), health, random);
  RouteRequest request{"my-sonnet", std::nullopt};  // *sonnet*: B, A, C
  request.avoided = "B";
  auto d = router.route(request);
  REQUIRE(d);
  CHECK(names(*d) == std::vector<std::string>{"A", "C", "B"});
  CHECK(d->candidates[2].healthy());  // still a candidate, never removed

  SECTION("stronger than the conversation's preferred provider") {
    request.preferred_provider = "B";
    CHECK(names(*router.route(request)) == std::vector<std::string>{"A", "C", "B"});
  }
  SECTION("candidates in cooldown still go after it") {
    health.cooldown_until["A"] = clock.now() + std::chrono::seconds(10);
    CHECK(names(*router.route(request)) == std::vector<std::string>{"C", "B", "A"});
  }
  SECTION("the only candidate is kept") {
    request.model = "claude-sonnet-4-5";  // exact route: C only
    request.avoided = "C";
    CHECK(names(*router.route(request)) == std::vector<std::string>{"C"});
  }
}

TEST_CASE("Router: an unbound OAuth provider picks another account when the conversation's account failed",
          "[unit][router]") {
  ScriptedHealth health;
  testing::ScriptedRandom random{0};
  auto c = std::make_shared<BalancerConfig>();
  ProviderConfig oauth = provider("claude");
  oauth.auth_type = AuthType::OAuth;
  c->providers = {oauth};
  c->model_routes = {{"*", {entry("claude", "passthrough", 1)}}};
  Router router(c, health, random);
  const std::vector<std::string> accounts{"a@example.com", "b@example.com"};
  RouteRequest request{"claude-sonnet-4-5", std::nullopt};
  request.oauth_accounts = accounts;
  request.conversation = "session:s1";
  const std::string first = router.route(request)->candidates[0].account_email;
  const std::string other = first == "a@example.com" ? "b@example.com" : "a@example.com";

  const std::string avoided = "claude/" + first;
  request.avoided = avoided;
  auto d = router.route(request);
  REQUIRE(d);
  CHECK(d->candidates[0].account_email == other);

  SECTION("the failed account is kept when the other one cools down") {
    health.cooldown_until["claude/" + other] = SteadyTime::max();
    CHECK(router.route(request)->candidates[0].account_email == first);
  }
}
