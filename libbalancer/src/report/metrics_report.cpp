// metrics_report.cpp — see metrics_report.h.
#include "report/metrics_report.h"

#include <cmath>
#include <functional>

#include <fmt/format.h>

namespace balancer {
namespace {

// Appends one metric family: HELP and TYPE lines, then one sample per label set.
class Exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += fmt::format("# HELP balancer_{} {}\n# TYPE balancer_{} {}\n", name, help, name, type);
    name_ = name;
  }
  void sample(double value, std::string_view label = {}, std::string_view label_value = {}) {
    if (label.empty()) {
      out_ += fmt::format("balancer_{} {}\n", name_, format(value));
    } else {
      out_ +=
          fmt::format("balancer_{}{{{}=\"{}\"}} {}\n", name_, label, escape_label_value(label_value), format(value));
    }
  }
  std::string take() { return std::move(out_); }

 private:
  static std::string format(double value) {
    if (std::isnan(value)) {
      return "NaN";
    }
    if (std::isinf(value)) {
      return value > 0 ? "+Inf" : "-Inf";
    }
    if (value < 1e15 && value > -1e15 && value == std::trunc(value)) {
      return fmt::format("{}", static_cast<long long>(value));
    }
    return fmt::format("{}", value);
  }
  std::string out_;
  std::string name_;
};

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string prometheus_metrics(const MetricsSources& s) {
  Exposition e;
  struct ProviderSeries {
    std::string_view name;
    std::string_view type;
    std::string_view help;
    std::function<double(const ProviderConfig&, const HealthSnapshot&, const ProviderCounters&)> value;
  };
  const std::vector<ProviderSeries> series = {
      {"provider_requests_total", "counter", "Attempts sent to the provider.",
       [](const auto&, const auto&, const auto& c) { return static_cast<double>(c.requests); }},
      {"provider_failures_total", "counter", "Attempts that failed, before or after the first byte.",
       [](const auto&, const auto&, const auto& c) { return static_cast<double>(c.failures); }},
      {"provider_up", "gauge", "1 when the provider is enabled and may be picked now.",
       [](const auto& p, const auto& h, const auto&) { return p.enabled && h.healthy ? 1.0 : 0.0; }},
      {"provider_enabled", "gauge", "1 when the provider is enabled in the configuration.",
       [](const auto& p, const auto&, const auto&) { return p.enabled ? 1.0 : 0.0; }},
      {"provider_consecutive_failures", "gauge", "Consecutive failures counted towards the threshold.",
       [](const auto&, const auto& h, const auto&) { return static_cast<double>(h.failure_count); }},
      {"provider_cooldown_remaining_seconds", "gauge", "Seconds until the provider's cooldown ends.",
       [](const auto&, const auto& h, const auto&) { return h.cooldown_remaining_s; }},
      {"provider_last_latency_seconds", "gauge", "Time to response headers of the last success.",
       [](const auto&, const auto&, const auto& c) { return static_cast<double>(c.last_latency.count()) / 1000.0; }},
  };
  std::vector<std::pair<HealthSnapshot, ProviderCounters>> snapshots;
  snapshots.reserve(s.config.providers.size());
  for (const ProviderConfig& p : s.config.providers) {
    snapshots.emplace_back(s.health.snapshot(p.name), s.stats.get(p.name));
  }
  for (const ProviderSeries& f : series) {
    e.family(f.name, f.type, f.help);
    for (std::size_t i = 0; i < s.config.providers.size(); ++i) {
      const ProviderConfig& p = s.config.providers[i];
      e.sample(f.value(p, snapshots[i].first, snapshots[i].second), "provider", p.name);
    }
  }

  const std::vector<MetricSample> dedup = {
      {"dedup_leaders_total",
       "Requests that made an upstream call others could join.",
       static_cast<double>(s.dedup.leaders),
       true,
       {},
       {}},
      {"dedup_followers_total",
       "Requests served by joining an identical request in flight.",
       static_cast<double>(s.dedup.followers),
       true,
       {},
       {}},
      {"dedup_cache_hits_total",
       "Requests answered from the response cache.",
       static_cast<double>(s.dedup.cache_hits),
       true,
       {},
       {}},
      {"dedup_uncoalesced_total",
       "Requests run on their own (flight or byte cap reached, or bypass).",
       static_cast<double>(s.dedup.uncoalesced),
       true,
       {},
       {}},
      {"dedup_flights_in_progress",
       "Upstream calls currently shared.",
       static_cast<double>(s.dedup.flights_in_progress),
       false,
       {},
       {}},
      {"dedup_cache_entries", "Responses in the cache.", static_cast<double>(s.dedup.cache_entries), false, {}, {}},
      {"dedup_bytes_held",
       "Response bytes held by flights and the cache.",
       static_cast<double>(s.dedup.recorded_bytes_held),
       false,
       {},
       {}},
  };
  for (const auto* samples : {&dedup, &s.server}) {
    std::string_view previous;
    for (const MetricSample& m : *samples) {
      if (m.name != previous) {
        e.family(m.name, m.counter ? "counter" : "gauge", m.help);
        previous = m.name;
      }
      e.sample(m.value, m.label, m.label_value);
    }
  }

  if (!s.oauth_accounts.empty()) {
    e.family("oauth_token_expires_in_seconds", "gauge", "Seconds until the account's access token expires.");
    for (const OAuthAccountStatus& a : s.oauth_accounts) {
      e.sample(a.expires_in_s, "account", a.account_email);
    }
    e.family("oauth_account_usable", "gauge", "1 unless the account needs a new login.");
    for (const OAuthAccountStatus& a : s.oauth_accounts) {
      e.sample(a.state == "needs_login" ? 0.0 : 1.0, "account", a.account_email);
    }
    e.family("oauth_token_requests_total", "counter", "Access tokens handed to requests since start.");
    for (const OAuthAccountStatus& a : s.oauth_accounts) {
      e.sample(static_cast<double>(a.requests), "account", a.account_email);
    }
  }
  return e.take();
}

}  // namespace balancer
