#include "report/status_report.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "core/url.h"
#include "routing/account_choice.h"

namespace balancer {
namespace {

// An OAuth provider's accounts: the logged-in ones that may serve it (detail::account_serves:
// its binding, route-entry bindings, or every account) and how many of those may serve now.
struct OAuthUsability {
  std::size_t accounts = 0;
  std::size_t usable = 0;
};

OAuthUsability oauth_usability(const BalancerConfig& config, const ProviderConfig& p, const HealthView& health,
                               const OAuthClient& oauth) {
  const std::vector<std::string> accounts = detail::accounts_serving(config, p, oauth.usable_accounts());
  OAuthUsability u;
  u.accounts = accounts.size();
  for (const std::string& account : accounts) {
    u.usable += health.unavailable_until(health_key(p, account)) ? 0 : 1;
  }
  return u;
}

bool is_oauth(const ProviderConfig& p, const OAuthClient* oauth) {
  return oauth != nullptr && p.auth_type == AuthType::OAuth;
}

}  // namespace

nlohmann::json providers_report(const BalancerConfig& config, const HealthTracker& health, const ProviderStats& stats,
                                const OAuthClient* oauth) {
  nlohmann::json providers = nlohmann::json::array();
  int healthy_count = 0;
  for (const ProviderConfig& p : config.providers) {
    const HealthSnapshot h = health.snapshot(p.name);
    std::optional<OAuthUsability> accounts;
    if (is_oauth(p, oauth)) {
      accounts = oauth_usability(config, p, health, *oauth);
    }
    const bool healthy = p.enabled && (accounts ? accounts->usable > 0 : h.healthy);
    healthy_count += healthy ? 1 : 0;
    const ProviderCounters counters = stats.get(p.name);
    nlohmann::json models = nlohmann::json::array();
    for (const ModelRoute& route : config.model_routes) {
      for (const RouteEntry& entry : route.entries) {
        if (entry.provider == p.name) {
          models.push_back({{"pattern", route.pattern},
                            {"model", entry.model},
                            {"priority", entry.priority},
                            {"enabled", entry.enabled}});
        }
      }
    }
    std::string status = !p.enabled ? std::string("disabled") : h.status;
    if (p.enabled && accounts && accounts->accounts == 0) {
      status = "needs_login";
    } else if (p.enabled && accounts && accounts->usable == 0) {
      status = "unhealthy";
    }
    providers.push_back({
        {"name", p.name},
        {"type", to_string(p.type)},
        {"base_url", detail::url_without_credentials(p.base_url)},  // never its userinfo or query
        {"auth_type", to_string(p.auth_type)},
        {"passthrough", p.passthrough()},
        {"enabled", p.enabled},
        {"healthy", healthy},
        {"status", status},
        {"failure_count", h.failure_count},
        {"threshold", h.threshold},
        {"cooldown_remaining_s", h.cooldown_remaining_s},
        {"last_error", counters.last_error.empty() ? nlohmann::json() : nlohmann::json(counters.last_error)},
        {"last_error_class", h.last_error.empty() ? nlohmann::json() : nlohmann::json(h.last_error)},
        {"last_status", h.last_status == 0 ? nlohmann::json() : nlohmann::json(h.last_status)},
        {"requests", counters.requests},
        {"failures", counters.failures},
        {"last_latency_ms", counters.last_latency.count()},
        {"weight", p.weight},
        {"models", std::move(models)},
    });
    if (accounts) {
      providers.back()["oauth"] = {{"accounts", accounts->accounts}, {"usable_accounts", accounts->usable}};
    }
  }
  return {{"total_providers", config.providers.size()},
          {"healthy_providers", healthy_count},
          {"selection_strategy", to_string(config.settings.selection_strategy)},
          {"total_model_routes", config.model_routes.size()},
          {"providers", std::move(providers)}};
}

std::pair<bool, nlohmann::json> health_report(const BalancerConfig& config, const HealthView& health,
                                              const OAuthClient* oauth) {
  int available = 0;
  for (const ProviderConfig& p : config.providers) {
    const bool usable =
        is_oauth(p, oauth) ? oauth_usability(config, p, health, *oauth).usable > 0 : !health.unavailable_until(p.name);
    if (p.enabled && usable) {
      ++available;
    }
  }
  const bool ok = available > 0;
  return {ok,
          {{"status", ok ? "healthy" : "unhealthy"},
           {"providers_available", available},
           {"providers_total", config.providers.size()}}};
}

}  // namespace balancer
