// metrics_report.h — the Prometheus text exposition (format 0.0.4) behind GET /metrics:
// per-provider series labelled provider="<name>", deduplication counters, OAuth account
// expiry and whatever gauges the server adds. Never contains credentials. Pure apart from
// reading the thread-safe trackers it is given; any thread.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <balancer/config.h>
#include <balancer/deduplicator.h>
#include <balancer/health_tracker.h>
#include <balancer/oauth_client.h>
#include "health/provider_stats.h"

namespace balancer {

// One server-level sample: name (without the balancer_ prefix), help text, value, and an
// optional label. Consecutive samples with the same name form one family.
struct MetricSample {
  std::string name;
  std::string help;
  double value = 0;
  bool counter = false;  // counter (monotonic) or gauge
  std::string label;     // e.g. "code"; empty: no label
  std::string label_value;
};

struct MetricsSources {
  const BalancerConfig& config;
  const HealthTracker& health;
  const ProviderStats& stats;
  DedupStats dedup;
  std::vector<OAuthAccountStatus> oauth_accounts;
  std::vector<MetricSample> server;
};

std::string prometheus_metrics(const MetricsSources& sources);

// A label value escaped for the exposition format (backslash, double quote, newline).
std::string escape_label_value(std::string_view value);

}  // namespace balancer
