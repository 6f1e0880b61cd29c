// status_report.h — the JSON documents behind GET /providers and GET /health. They never
// contain credentials: only names, URLs, flags, counters and error classes.
#pragma once

#include <nlohmann/json.hpp>

#include <balancer/clock.h>
#include <balancer/config.h>
#include <balancer/health_tracker.h>
#include <balancer/oauth_client.h>
#include <balancer/router.h>
#include "health/provider_stats.h"

namespace balancer {

// `{"providers":[{name, type, base_url, enabled, healthy, status, failure_count, threshold,
// cooldown_remaining_s, last_error, last_status, requests, failures, last_latency_ms, models}],
// ...}`. Pure apart from reading the thread-safe `health` and `stats`.
// With `oauth`, an `auth_type: oauth` provider is usable only through a logged-in account whose
// health (under health_key(provider, account)) allows it; such providers also get
// "oauth": {"accounts", "usable_accounts"} and status "needs_login" when no account can serve.
nlohmann::json providers_report(const BalancerConfig& config, const HealthTracker& health, const ProviderStats& stats,
                                const OAuthClient* oauth = nullptr);

// `{"status":"healthy"|"unhealthy", "providers_available": n, "providers_total": n}`; the
// bool is true when at least one enabled provider is usable now.
std::pair<bool, nlohmann::json> health_report(const BalancerConfig& config, const HealthView& health,
                                              const OAuthClient* oauth = nullptr);

}  // namespace balancer
