// status_endpoints.cpp — GET /health, GET /providers, GET /metrics and POST /providers/reload
// (spec §3), and the reports behind them. Nothing here ever contains a credential.
#include "report/metrics_report.h"
#include "report/status_report.h"

#include "gateway/exchange.h"
#include "gateway/gateway_impl.h"

namespace balancer {
namespace {

nlohmann::json providers_document(Gateway::Impl& gateway) {
  const auto runtime = gateway.runtime();
  nlohmann::json report = providers_report(*runtime->config, gateway.health(), gateway.stats(), &gateway.oauth());
  const DedupStats dedup = gateway.dedup().stats();
  report["deduplication"] = {{"enabled", runtime->config->settings.deduplication.enabled},
                             {"leaders", dedup.leaders},
                             {"followers", dedup.followers},
                             {"cache_hits", dedup.cache_hits},
                             {"uncoalesced", dedup.uncoalesced},
                             {"flights_in_progress", dedup.flights_in_progress},
                             {"cache_entries", dedup.cache_entries},
                             {"recorded_bytes_held", dedup.recorded_bytes_held}};
  for (auto& provider : report["providers"]) {
    if (provider["last_error"].is_string()) {  // may quote a stream error the upstream wrote
      provider["last_error"] = runtime->redactor.apply(provider["last_error"].get<std::string>());
    }
    if (auto b = gateway.balance().snapshot(provider["name"].get<std::string>())) {
      provider["balance"] = {{"balance", b->balance ? nlohmann::json(*b->balance) : nlohmann::json()},
                             {"low", b->low},
                             {"checked_ago_s", b->checked_ago_s ? nlohmann::json(*b->checked_ago_s) : nlohmann::json()},
                             {"last_error", b->last_error.empty() ? nlohmann::json() : nlohmann::json(b->last_error)}};
    }
  }
  return report;
}

std::string metrics_document(Gateway::Impl& gateway) {
  const auto runtime = gateway.runtime();
  std::vector<MetricSample> samples = gateway.counters().samples();
  if (gateway.options().gauges) {
    for (GaugeSample& g : gateway.options().gauges()) {
      samples.push_back({std::move(g.name), std::move(g.help), g.value, false, "", ""});
    }
  }
  return prometheus_metrics({*runtime->config, gateway.health(), gateway.stats(), gateway.dedup().stats(),
                             gateway.oauth().status(), std::move(samples)});
}

}  // namespace

namespace endpoints {

Response health(Gateway::Impl& gateway) {
  auto [ok, body] = health_report(*gateway.runtime()->config, gateway.health(), &gateway.oauth());
  return detail::json_response(ok ? 200 : 503, body);
}

Response providers(Gateway::Impl& gateway, const ClientRequest& /*request*/) {
  return detail::json_response(200, providers_document(gateway));
}

Response metrics(Gateway::Impl& gateway, const ClientRequest& /*request*/) {
  return detail::content_response(200, metrics_document(gateway), "text/plain; version=0.0.4; charset=utf-8");
}

Response reload(Gateway::Impl& gateway, const ClientRequest& /*request*/) {
  auto reloaded = gateway.reload_file();
  if (!reloaded) {
    return detail::error_response(
        400, "invalid_request_error",
        "config reload failed, the previous config keeps serving: " + reloaded.error().message);
  }
  return detail::json_response(200, {{"status", "success"},
                                     {"message", "configuration reloaded"},
                                     {"providers_count", reloaded->providers},
                                     {"routes_count", reloaded->routes},
                                     {"warnings", reloaded->warnings}});
}

}  // namespace endpoints

nlohmann::json Gateway::providers() const { return providers_document(*impl_); }
std::string Gateway::metrics() const { return metrics_document(*impl_); }

}  // namespace balancer
