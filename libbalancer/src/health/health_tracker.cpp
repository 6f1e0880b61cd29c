// health_tracker.cpp — HealthTracker: the thread-safe, clock-reading facade over the StateStore's
// per-key health (the state machine is detail::UpstreamHealth, upstream_health.cpp).
#include <balancer/health_tracker.h>

#include <algorithm>
#include <limits>
#include <utility>

namespace balancer {

HealthConfig HealthConfig::from(const Settings& settings) {
  HealthConfig config;
  config.unhealthy_threshold = settings.unhealthy_threshold;
  config.failure_cooldown = settings.failure_cooldown;
  config.reset_on_success = settings.unhealthy_reset_on_success;
  config.reset_timeout = settings.unhealthy_reset_timeout;
  const CooldownSettings& c = settings.cooldowns;
  config.cooldowns = {c.rate_limit, c.overloaded, c.server_error, c.auth, c.connection, c.timeout};
  return config;
}

HealthTracker::HealthTracker(HealthConfig config, const Clock& clock, std::shared_ptr<StateStore> store)
    : clock_(clock), store_(store ? std::move(store) : make_memory_state_store()), config_(config) {}

void HealthTracker::set_config(HealthConfig config) {
  std::lock_guard lock(config_mutex_);
  config_ = config;
}

HealthConfig HealthTracker::config() const {
  std::lock_guard lock(config_mutex_);
  return config_;
}

HealthPermit HealthTracker::acquire(std::string_view provider, bool force) {
  return store_->health_acquire(provider, config(), clock_.now(), force);
}

void HealthTracker::record(std::string_view provider, const Outcome& outcome) {
  store_->health_record(provider, outcome, config(), clock_.now());
}

void HealthTracker::release_probe(std::string_view provider) { store_->health_release_probe(provider); }

void HealthTracker::set_low_balance(std::string_view provider, bool low) { store_->set_low_balance(provider, low); }

std::optional<SteadyTime> HealthTracker::unavailable_until(std::string_view provider) const {
  return store_->health_unavailable_until(provider, config(), clock_.now());
}

HealthSnapshot HealthTracker::snapshot(std::string_view provider) const {
  return store_->health_snapshot(provider, config(), clock_.now());
}

}  // namespace balancer
