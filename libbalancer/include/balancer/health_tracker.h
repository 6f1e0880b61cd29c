// health_tracker.h — passive health of providers (spec §6): consecutive-failure threshold,
// cooldown (or the upstream's Retry-After when longer), a single half-open probe after the
// cooldown, doubling cooldowns for failed probes (capped at 10x), success resets, forgetting a
// partial count after unhealthy_reset_timeout, and the balance check's "out of credit" flag.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <balancer/clock.h>
#include <balancer/config.h>
#include <balancer/router.h>

namespace balancer {

struct HealthConfig {
  int unhealthy_threshold = 2;
  Duration failure_cooldown = std::chrono::seconds(180);
  bool reset_on_success = true;
  Duration reset_timeout = std::chrono::seconds(300);  // zero: never forget a partial count
  // Cooldowns (doubled ones and Retry-After) never exceed max_cooldown_factor x failure_cooldown.
  int max_cooldown_factor = 10;

  static HealthConfig from(const Settings& settings);
};

// What one attempt at a provider gave, as far as its health is concerned.
struct Outcome {
  bool success = false;
  std::string error_class;  // failures: "http_status", "connection_error", "timeout_error",
                            // "ssl_error", "error_payload", "stream_error", ...
  int status = 0;           // HTTP status when one was received
  std::optional<Duration> retry_after;  // from a 429/503/529

  static Outcome ok() { return Outcome{true, {}, 0, std::nullopt}; }
  static Outcome failure(std::string error_class, int status = 0,
                         std::optional<Duration> retry_after = std::nullopt) {
    return Outcome{false, std::move(error_class), status, retry_after};
  }
};

// Point-in-time view of one provider, for /providers and logs.
struct HealthSnapshot {
  bool healthy = true;          // may be picked now (healthy, or cooldown over and probe free)
  std::string status = "healthy";  // healthy | unhealthy | probing | low_balance
  int failure_count = 0;           // consecutive failures
  int threshold = 2;
  double cooldown_remaining_s = 0.0;
  std::string last_error;  // error class of the last failure; empty if none
  int last_status = 0;     // HTTP status of the last failure; 0 if none
  int ejections = 0;       // consecutive cooldowns (doubling exponent)
};

namespace detail {

// The pure per-provider state machine. Every method takes `now`; no clock, no locks.
// Not thread-safe; HealthTracker serialises access.
class UpstreamHealth {
 public:
  enum class Permit { Granted, GrantedProbe, Skip };

  // May a request try this provider now? Healthy → Granted. In cooldown: Skip, unless `force`
  // (every candidate is in cooldown) → GrantedProbe. Cooldown over: the first caller gets
  // GrantedProbe and later callers Skip until that probe's outcome (or release_probe()).
  Permit acquire(const HealthConfig& config, SteadyTime now, bool force);
  // Records an attempt's outcome (also ends a probe).
  void on_outcome(const HealthConfig& config, const Outcome& outcome, SteadyTime now);
  // A probe that ended without an outcome (cancelled): the next caller may probe.
  void release_probe();

  // nullopt when acquire() would grant now without force; otherwise when it may again.
  std::optional<SteadyTime> unavailable_until(const HealthConfig& config, SteadyTime now) const;
  HealthSnapshot snapshot(const HealthConfig& config, SteadyTime now) const;

 private:
  int failures_ = 0;
  std::optional<SteadyTime> last_failure_;
  std::optional<SteadyTime> cooldown_until_;  // set while unhealthy
  bool probe_in_flight_ = false;
  int ejections_ = 0;
  std::string last_error_;
  int last_status_ = 0;
};

}  // namespace detail

// Thread-safe health of every provider, keyed by provider name (later provider+account).
// Reads the injected clock once per call. `clock` must outlive the tracker.
class HealthTracker final : public HealthView {
 public:
  HealthTracker(HealthConfig config, const Clock& clock);

  // A reload: new thresholds apply from now on; state of every provider is kept.
  void set_config(HealthConfig config);

  detail::UpstreamHealth::Permit acquire(std::string_view provider, bool force);
  void record(std::string_view provider, const Outcome& outcome);
  void release_probe(std::string_view provider);

  // Balance check: a low balance makes the provider unavailable until cleared.
  void set_low_balance(std::string_view provider, bool low);

  std::optional<SteadyTime> unavailable_until(std::string_view provider) const override;
  HealthSnapshot snapshot(std::string_view provider) const;

 private:
  const Clock& clock_;
  mutable std::mutex mutex_;
  HealthConfig config_;                                             // guarded by mutex_
  std::map<std::string, detail::UpstreamHealth, std::less<>> state_;  // guarded by mutex_
  std::map<std::string, bool, std::less<>> low_balance_;              // guarded by mutex_
};

}  // namespace balancer
