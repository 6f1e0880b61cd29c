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
// next, doubled cooldown. Each failure's cooldown is that of its class (settings.cooldowns); a
// Retry-After (429/503/529) puts the provider out until then even below the threshold.
#include "health/upstream_health.h"

#include <algorithm>
#include <limits>

namespace balancer {
namespace {

int threshold_of(const HealthConfig& config) { return std::max(1, config.unhealthy_threshold); }

// The longest cooldown of a class: max_cooldown_factor x its base.
Duration max_cooldown(const HealthConfig& config, Duration base) {
  base = std::max(Duration::zero(), base);
  const auto factor = static_cast<Duration::rep>(std::max(1, config.max_cooldown_factor));
  if (base.count() > Duration::max().count() / factor) {
    return Duration::max();
  }
  return base * factor;
}

// base x 2^(ejections - 1), capped; `ejections` counts this cooldown too (>= 1).
Duration doubled_cooldown(const HealthConfig& config, Duration base, int ejections) {
  const Duration cap = max_cooldown(config, base);
  Duration d = std::max(Duration::zero(), base);
  for (int i = 1; i < ejections && d < cap; ++i) {
    d = d > cap / 2 ? cap : d * 2;
  }
  return std::min(d, cap);
}

SteadyTime later(SteadyTime now, Duration d) { return d >= SteadyTime::max() - now ? SteadyTime::max() : now + d; }

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

std::optional<SteadyTime> UpstreamHealth::cooldown_at(SteadyTime now) const {
  if (retry_window_only_ && cooldown_until_ && now >= *cooldown_until_) {
    return std::nullopt;
  }
  return cooldown_until_;
}

void UpstreamHealth::end_passed_retry_window(SteadyTime now) {
  if (retry_window_only_ && cooldown_until_ && now >= *cooldown_until_) {
    cooldown_until_.reset();
    retry_window_only_ = false;
  }
}

UpstreamHealth::Permit UpstreamHealth::acquire(const HealthConfig& config, SteadyTime now, bool force) {
  end_passed_retry_window(now);
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
  end_passed_retry_window(now);
  if (partial_count_expired(config, failures_, last_failure_, cooldown_until_, now)) {
    failures_ = 0;
  }
  const bool was_probe = probe_in_flight_;
  probe_in_flight_ = false;

  if (outcome.success) {
    if (cooldown_until_) {
      // A probe (or any request) succeeded: healthy again, everything reset.
      cooldown_until_.reset();
      retry_window_only_ = false;
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

  const CooldownClass cooldown_class =
      outcome.cooldown_class.value_or(cooldown_class_of(outcome.error_class, outcome.status));
  const Duration base = config.cooldown_for(cooldown_class);
  // A Retry-After puts the provider out until then at once, whatever the count (capped).
  std::optional<SteadyTime> retry_until;
  if (outcome.retry_after && *outcome.retry_after > Duration::zero()) {
    retry_until = later(now, std::min(*outcome.retry_after, max_cooldown(config, base)));
  }
  const int threshold = threshold_of(config);
  if (cooldown_until_ && now < *cooldown_until_ && !was_probe) {
    // A request granted before the cooldown began failed late: counted, but the running
    // cooldown is neither doubled nor shortened (a later Retry-After extends it).
    if (retry_until && *retry_until > *cooldown_until_) {
      cooldown_until_ = retry_until;
    }
    if (!retry_window_only_ || failures_ < threshold) {
      return;
    }
    // The threshold is reached inside a Retry-After window: a real cooldown starts (below).
  } else if (!cooldown_until_ && failures_ < threshold) {
    if (retry_until) {
      cooldown_until_ = retry_until;  // below the threshold: out for the Retry-After only
      retry_window_only_ = true;
    }
    return;
  }
  // The threshold is reached, or a probe (or a request after the cooldown ended) failed.
  if (ejections_ < std::numeric_limits<int>::max()) {
    ++ejections_;
  }
  SteadyTime until = later(now, doubled_cooldown(config, base, ejections_));
  if (retry_until) {
    until = std::max(until, *retry_until);  // the larger, not the sum
  }
  if (retry_window_only_ && cooldown_until_) {
    until = std::max(until, *cooldown_until_);
  }
  retry_window_only_ = false;
  cooldown_until_ = until;
}

void UpstreamHealth::release_probe() { probe_in_flight_ = false; }

std::optional<SteadyTime> UpstreamHealth::unavailable_until(const HealthConfig& /*config*/, SteadyTime now) const {
  const std::optional<SteadyTime> cooldown_until = cooldown_at(now);
  if (!cooldown_until) {
    return std::nullopt;
  }
  if (now < *cooldown_until) {
    return cooldown_until;
  }
  if (probe_in_flight_) {
    return now;  // half-open with its probe out: after the healthy ones, before cooldowns
  }
  return std::nullopt;
}

HealthSnapshot UpstreamHealth::snapshot(const HealthConfig& config, SteadyTime now) const {
  HealthSnapshot s;
  s.threshold = threshold_of(config);
  const std::optional<SteadyTime> cooldown_until = cooldown_at(now);
  s.failure_count = partial_count_expired(config, failures_, last_failure_, cooldown_until, now) ? 0 : failures_;
  s.last_error = last_error_;
  s.last_status = last_status_;
  s.ejections = ejections_;
  if (!cooldown_until) {
    s.healthy = true;
    s.status = "healthy";
  } else if (now < *cooldown_until) {
    s.healthy = false;
    s.status = "unhealthy";
    s.cooldown_remaining_s = std::chrono::duration<double>(*cooldown_until - now).count();
  } else {
    // Half-open: usable by one probe; healthy only while that probe is not yet taken.
    s.healthy = !probe_in_flight_;
    s.status = "probing";
  }
  return s;
}

}  // namespace detail

}  // namespace balancer
