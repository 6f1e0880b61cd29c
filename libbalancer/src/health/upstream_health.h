// upstream_health.h — the pure per-provider health state machine behind every StateStore
// (private). Every method takes `now`; no clock, no locks: the store serialises access.
#pragma once

#include <optional>
#include <string>

#include <balancer/health.h>

namespace balancer {

namespace detail {

// The pure per-provider state machine. Every method takes `now`; no clock, no locks.
// Not thread-safe; HealthTracker serialises access.
class UpstreamHealth {
 public:
  using Permit = HealthPermit;

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
  // The cooldown as it stands at `now`: nullopt once a Retry-After-only window has passed.
  std::optional<SteadyTime> cooldown_at(SteadyTime now) const;
  // Forgets a Retry-After-only window that has passed.
  void end_passed_retry_window(SteadyTime now);

  int failures_ = 0;
  std::optional<SteadyTime> last_failure_;
  std::optional<SteadyTime> cooldown_until_;  // set while unhealthy
  // The cooldown is only a Retry-After window below the threshold: when it ends the provider is
  // plainly healthy again (count kept), not half-open.
  bool retry_window_only_ = false;
  bool probe_in_flight_ = false;
  int ejections_ = 0;
  std::string last_error_;
  int last_status_ = 0;
};

}  // namespace detail

}  // namespace balancer
