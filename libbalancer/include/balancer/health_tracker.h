// health_tracker.h — passive health of providers (spec §6): consecutive-failure threshold,
// cooldown (or the upstream's Retry-After when longer), a single half-open probe after the
// cooldown, doubling cooldowns for failed probes (capped at 10x), success resets, forgetting a
// partial count after unhealthy_reset_timeout, and the balance check's "out of credit" flag.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string_view>

#include <balancer/clock.h>
#include <balancer/health.h>
#include <balancer/state_store.h>

namespace balancer {

// Thread-safe health of every provider, keyed by health_key(provider, account): the current
// HealthConfig and the injected clock in front of a StateStore, which holds the state. Reads
// the clock once per call. `clock` must outlive the tracker; any thread may call anything.
class HealthTracker final : public HealthView {
 public:
  // `store`: shared state; nullptr = a private in-memory store.
  HealthTracker(HealthConfig config, const Clock& clock, std::shared_ptr<StateStore> store = nullptr);

  // A reload: new thresholds apply from now on; state of every provider is kept.
  void set_config(HealthConfig config);

  HealthPermit acquire(std::string_view provider, bool force);
  void record(std::string_view provider, const Outcome& outcome);
  void release_probe(std::string_view provider);

  // Balance check: a low balance makes the provider unavailable until cleared.
  void set_low_balance(std::string_view provider, bool low);

  std::optional<SteadyTime> unavailable_until(std::string_view provider) const override;
  HealthSnapshot snapshot(std::string_view provider) const;

 private:
  HealthConfig config() const;

  const Clock& clock_;
  std::shared_ptr<StateStore> store_;
  mutable std::mutex config_mutex_;
  HealthConfig config_;  // guarded by config_mutex_
};

}  // namespace balancer
