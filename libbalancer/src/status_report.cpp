#include <balancer/status_report.h>

#include <chrono>

namespace balancer {

nlohmann::json providers_report(const BalancerConfig& config, const HealthTracker& health,
                                const ProviderStats& stats) {
  nlohmann::json providers = nlohmann::json::array();
  int healthy_count = 0;
  for (const ProviderConfig& p : config.providers) {
    const HealthSnapshot h = health.snapshot(p.name);
    const bool healthy = p.enabled && h.healthy;
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
    providers.push_back({
        {"name", p.name},
        {"type", to_string(p.type)},
        {"base_url", p.base_url},
        {"auth_type", to_string(p.auth_type)},
        {"passthrough", p.passthrough()},
        {"enabled", p.enabled},
        {"healthy", healthy},
        {"status", !p.enabled ? std::string("disabled") : h.status},
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
  }
  return {{"total_providers", config.providers.size()},
          {"healthy_providers", healthy_count},
          {"selection_strategy", to_string(config.settings.selection_strategy)},
          {"total_model_routes", config.model_routes.size()},
          {"providers", std::move(providers)}};
}

std::pair<bool, nlohmann::json> health_report(const BalancerConfig& config,
                                              const HealthView& health) {
  int available = 0;
  for (const ProviderConfig& p : config.providers) {
    if (p.enabled && !health.unavailable_until(p.name)) {
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
