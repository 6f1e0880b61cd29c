// Which OAuth accounts may serve a provider: the one rule behind routing, /health, /providers
// and /oauth/status.
#include <catch2/catch.hpp>

#include "routing/account_choice.h"

using namespace balancer;
using balancer::detail::account_serves;
using balancer::detail::accounts_serving;

namespace {

ProviderConfig oauth_provider(std::string name, std::string account = "") {
  ProviderConfig p;
  p.name = std::move(name);
  p.base_url = "https://api.anthropic.com";
  p.auth_type = AuthType::OAuth;
  p.account_email = std::move(account);
  return p;
}

RouteEntry entry(std::string provider, std::string account = "") {
  RouteEntry e;
  e.provider = std::move(provider);
  e.model = "passthrough";
  e.account_email = std::move(account);
  return e;
}

const std::vector<std::string> kLoggedIn{"a@example.com", "b@example.com", "c@example.com"};

}  // namespace

TEST_CASE("account_serves: provider binding, route-entry bindings, unbound entries", "[unit][router]") {
  BalancerConfig config;
  config.providers = {oauth_provider("free"), oauth_provider("bound", "A@Example.com"), oauth_provider("entries"),
                      oauth_provider("mixed"), oauth_provider("unrouted")};
  config.providers.push_back(config.providers[0]);
  config.providers.back().name = "key";
  config.providers.back().auth_type = AuthType::ApiKey;
  config.model_routes = {
      {"*opus*", {entry("free"), entry("bound"), entry("entries", "a@example.com"), entry("mixed", "b@example.com")}},
      {"*", {entry("entries", "B@example.com"), entry("mixed"), entry("bound", "c@example.com"), entry("key")}},
  };
  const auto serving = [&](std::string_view name) {
    return accounts_serving(config, *config.find_provider(name), kLoggedIn);
  };
  // Unbound provider with an unbound entry: every logged-in account.
  CHECK(serving("free") == kLoggedIn);
  // Bound provider: its account, plus accounts a route entry binds to it (an entry overrides).
  CHECK(serving("bound") == std::vector<std::string>{"a@example.com", "c@example.com"});
  // Only bound entries: exactly those accounts, whatever else is logged in.
  CHECK(serving("entries") == std::vector<std::string>{"a@example.com", "b@example.com"});
  // One unbound entry among bound ones: every account.
  CHECK(serving("mixed") == kLoggedIn);
  // In no route: any account may serve it when pinned.
  CHECK(serving("unrouted") == kLoggedIn);
  // Not an OAuth provider: no account serves it.
  CHECK(serving("key").empty());
  CHECK_FALSE(account_serves(config, *config.find_provider("entries"), "c@example.com"));
  CHECK(account_serves(config, *config.find_provider("entries"), "b@example.com"));
}
