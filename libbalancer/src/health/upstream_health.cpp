// upstream_health.cpp — passive provider health (spec §6): the pure per-key state machine
// (detail::UpstreamHealth) that every StateStore keeps, one per health key.
//
// States of one provider:
//   healthy    — no cooldown. Failures count up; the threshold-th consecutive one starts a
//                cooldown.
//   unhealthy  — now < cooldown_until. Skipped unless forced (every candidate is in cooldown).
//   half-open  — now >= cooldown_until (the boundary: usable at exactly the cooldown end). The
//                first acquire() gets the single probe; others skip until its outcome or
//                release_probe().
// A success always makes the provider healthy (count 0, ejections 0). A failed probe starts the
// next, doubled cooldown.
#include "health/upstream_health.h"

#include <algorithm>
#include <limits>

namespace balancer {
namespace {

int threshold_of(const HealthConfig& config) { return std::max(1, config.unhealthy_threshold); }

Duration max_cooldown(const HealthConfig& config) {
  const Duration base = std::max(Duration::zero(), config.failure_cooldown);
  const auto factor = static_cast<Duration::rep>(std::max(1, config.max_cooldown_factor));
  if (base.count() > Duration::max().count() / factor) {
    return Duration::max();
  }
  return base * factor;
}

// failure_cooldown x 2^(ejections - 1), capped; `ejections` counts this cooldown too (>= 1).
Duration doubled_cooldown(const HealthConfig& config, int ejections) {
  const Duration cap = max_cooldown(config);
  Duration d = std::max(Duration::zero(), config.failure_cooldown);
  for (int i = 1; i < ejections && d < cap; ++i) {
    d = d > cap / 2 ? cap : d * 2;
  }
  return std::min(d, cap);
}

}  // namespace

namespace detail {

namespace {

// A partial count (provider healthy) is forgotten when more than reset_timeout passed since the
// last failure. Never applies while a cooldown is set: the timeout cannot shorten a cooldown.
bool partial_count_expired(const HealthConfig& config, int failures, const std::optional<SteadyTime>& last_failure,
                           const std::optional<SteadyTime>& cooldown_until, SteadyTime now) {
  return failures > 0 && !cooldown_until && config.reset_timeout > Duration::zero() && last_failure &&
         now - *last_failure > config.reset_timeout;
}

}  // namespace

UpstreamHealth::Permit UpstreamHealth::acquire(const HealthConfig& config, SteadyTime now, bool force) {
  if (partial_count_expired(config, failures_, last_failure_, cooldown_until_, now)) {
    failures_ = 0;
  }
  if (!cooldown_until_) {
    return Permit::Granted;
  }
  if (force) {
    // Every candidate is unavailable: try this one anyway; its outcome decides as a probe's does.
    probe_in_flight_ = true;
    return Permit::GrantedProbe;
  }
  if (now < *cooldown_until_ || probe_in_flight_) {
    return Permit::Skip;
  }
  probe_in_flight_ = true;
  return Permit::GrantedProbe;
}

void UpstreamHealth::on_outcome(const HealthConfig& config, const Outcome& outcome, SteadyTime now) {
  if (partial_count_expired(config, failures_, last_failure_, cooldown_until_, now)) {
    failures_ = 0;
  }
  const bool was_probe = probe_in_flight_;
  probe_in_flight_ = false;

  if (outcome.success) {
    if (cooldown_until_) {
      // A probe (or any request) succeeded: healthy again, everything reset.
      cooldown_until_.reset();
      failures_ = 0;
      ejections_ = 0;
    } else if (config.reset_on_success) {
      failures_ = 0;
    }
    return;
  }

  if (failures_ < std::numeric_limits<int>::max()) {
    ++failures_;
  }
  last_failure_ = now;
  last_error_ = outcome.error_class;
  last_status_ = outcome.status;

  if (cooldown_until_ && now < *cooldown_until_ && !was_probe) {
    // A request granted before the cooldown began failed late: counted, but the running
    // cooldown is neither extended nor doubled.
    return;
  }
  if (!cooldown_until_ && failures_ < threshold_of(config)) {
    return;  // still below the threshold
  }
  // The threshold is reached, or a probe (or a request after the cooldown ended) failed.
  if (ejections_ < std::numeric_limits<int>::max()) {
    ++ejections_;
  }
  Duration cooldown = doubled_cooldown(config, ejections_);
  if (outcome.retry_after) {
    const Duration retry_after = std::clamp(*outcome.retry_after, Duration::zero(), max_cooldown(config));
    cooldown = std::max(cooldown, retry_after);  // the larger, not the sum
  }
  cooldown_until_ = now + cooldown;
}

void UpstreamHealth::release_probe() { probe_in_flight_ = false; }

std::optional<SteadyTime> UpstreamHealth::unavailable_until(const HealthConfig& /*config*/, SteadyTime now) const {
  if (!cooldown_until_) {
    return std::nullopt;
  }
  if (now < *cooldown_until_) {
    return cooldown_until_;
  }
  if (probe_in_flight_) {
    return now;  // half-open with its probe out: after the healthy ones, before cooldowns
  }
  return std::nullopt;
}

HealthSnapshot UpstreamHealth::snapshot(const HealthConfig& config, SteadyTime now) const {
  HealthSnapshot s;
  s.threshold = threshold_of(config);
  s.failure_count = partial_count_expired(config, failures_, last_failure_, cooldown_until_, now) ? 0 : failures_;
  s.last_error = last_error_;
  s.last_status = last_status_;
  s.ejections = ejections_;
  if (!cooldown_until_) {
    s.healthy = true;
    s.status = "healthy";
  } else if (now < *cooldown_until_) {
    s.healthy = false;
    s.status = "unhealthy";
    s.cooldown_remaining_s = std::chrono::duration<double>(*cooldown_until_ - now).count();
  } else {
    // Half-open: usable by one probe; healthy only while that probe is not yet taken.
    s.healthy = !probe_in_flight_;
    s.status = "probing";
  }
  return s;
}

}  // namespace detail

}  // namespace balancer
