// memory_state_store.cpp — the in-process StateStore: one mutex per kind of state (health,
// affinity, counters), so a request recording an outcome never waits on one reading affinity.
#include <balancer/state_store.h>

#include <algorithm>
#include <list>
#include <map>
#include <mutex>
#include <unordered_map>

#include "health/upstream_health.h"

namespace balancer {
namespace {

// Unavailable "until" reported for a provider whose balance is too low: far enough to sort it
// after every real cooldown, refreshed on each call.
constexpr auto kLowBalanceHorizon = std::chrono::hours(1);

class MemoryStateStore final : public StateStore {
 public:
  explicit MemoryStateStore(std::size_t max_affinity_entries)
      : max_affinity_entries_(std::max<std::size_t>(1, max_affinity_entries)) {}

  HealthPermit health_acquire(std::string_view key, const HealthConfig& config, SteadyTime now, bool force) override {
    std::lock_guard lock(health_mutex_);
    if (low_balance_.find(key) != low_balance_.end() && !force) {
      return HealthPermit::Skip;
    }
    auto it = health_.find(key);
    if (it == health_.end()) {
      return HealthPermit::Granted;  // never failed: healthy, no state needed
    }
    return it->second.acquire(config, now, force);
  }

  void health_record(std::string_view key, const Outcome& outcome, const HealthConfig& config,
                     SteadyTime now) override {
    std::lock_guard lock(health_mutex_);
    auto it = health_.find(key);
    if (it == health_.end()) {
      if (outcome.success) {
        return;  // a success on a provider with no state changes nothing
      }
      it = health_.emplace(std::string(key), detail::UpstreamHealth{}).first;
    }
    it->second.on_outcome(config, outcome, now);
  }

  void health_release_probe(std::string_view key) override {
    std::lock_guard lock(health_mutex_);
    if (auto it = health_.find(key); it != health_.end()) {
      it->second.release_probe();
    }
  }

  std::optional<SteadyTime> health_unavailable_until(std::string_view key, const HealthConfig& config,
                                                     SteadyTime now) const override {
    std::lock_guard lock(health_mutex_);
    std::optional<SteadyTime> until;
    if (auto it = health_.find(key); it != health_.end()) {
      until = it->second.unavailable_until(config, now);
    }
    if (low_balance_.find(key) != low_balance_.end()) {
      const SteadyTime low_until = now + kLowBalanceHorizon;
      until = until ? std::max(*until, low_until) : low_until;
    }
    return until;
  }

  HealthSnapshot health_snapshot(std::string_view key, const HealthConfig& config, SteadyTime now) const override {
    std::lock_guard lock(health_mutex_);
    HealthSnapshot s;
    if (auto it = health_.find(key); it != health_.end()) {
      s = it->second.snapshot(config, now);
    } else {
      s.threshold = std::max(1, config.unhealthy_threshold);
    }
    if (low_balance_.find(key) != low_balance_.end()) {
      s.healthy = false;
      s.status = "low_balance";
    }
    return s;
  }

  void set_low_balance(std::string_view provider, bool low) override {
    std::lock_guard lock(health_mutex_);
    if (low) {
      low_balance_.insert_or_assign(std::string(provider), true);
    } else if (auto it = low_balance_.find(provider); it != low_balance_.end()) {
      low_balance_.erase(it);
    }
  }

  std::optional<std::string> affinity_get(std::string_view conversation, SteadyTime now) override {
    std::lock_guard lock(affinity_mutex_);
    auto it = affinity_.find(std::string(conversation));
    if (it == affinity_.end()) {
      return std::nullopt;
    }
    if (now >= it->second.expires_at) {
      lru_.erase(it->second.lru);
      affinity_.erase(it);
      return std::nullopt;
    }
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return it->second.provider;
  }

  void affinity_put(std::string_view conversation, std::string_view provider, SteadyTime expires_at) override {
    std::lock_guard lock(affinity_mutex_);
    auto it = affinity_.find(std::string(conversation));
    if (it != affinity_.end()) {
      it->second.provider.assign(provider);
      it->second.expires_at = expires_at;
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      return;
    }
    if (affinity_.size() >= max_affinity_entries_) {
      affinity_.erase(lru_.back());
      lru_.pop_back();
    }
    lru_.emplace_front(conversation);
    affinity_.emplace(std::string(conversation), AffinityEntry{std::string(provider), expires_at, lru_.begin()});
  }

  std::size_t affinity_size() const override {
    std::lock_guard lock(affinity_mutex_);
    return affinity_.size();
  }

  void count_attempt(std::string_view provider) override {
    std::lock_guard lock(counters_mutex_);
    ++entry(provider).requests;
  }

  void count_success(std::string_view provider, std::chrono::milliseconds latency) override {
    std::lock_guard lock(counters_mutex_);
    entry(provider).last_latency = latency;
  }

  void count_failure(std::string_view provider, std::string_view error) override {
    std::lock_guard lock(counters_mutex_);
    ProviderCounters& c = entry(provider);
    ++c.failures;
    c.last_error.assign(error);
  }

  ProviderCounters counters(std::string_view provider) const override {
    std::lock_guard lock(counters_mutex_);
    auto it = counters_.find(provider);
    return it == counters_.end() ? ProviderCounters{} : it->second;
  }

 private:
  struct AffinityEntry {
    std::string provider;
    SteadyTime expires_at;
    std::list<std::string>::iterator lru;  // position in lru_ (front = most recent)
  };

  ProviderCounters& entry(std::string_view provider) {
    auto it = counters_.find(provider);
    if (it == counters_.end()) {
      it = counters_.emplace(std::string(provider), ProviderCounters{}).first;
    }
    return it->second;
  }

  mutable std::mutex health_mutex_;
  std::map<std::string, detail::UpstreamHealth, std::less<>> health_;  // guarded by health_mutex_
  std::map<std::string, bool, std::less<>> low_balance_;               // guarded by health_mutex_

  const std::size_t max_affinity_entries_;
  mutable std::mutex affinity_mutex_;
  std::unordered_map<std::string, AffinityEntry> affinity_;  // guarded by affinity_mutex_
  std::list<std::string> lru_;                               // guarded by affinity_mutex_

  mutable std::mutex counters_mutex_;
  std::map<std::string, ProviderCounters, std::less<>> counters_;  // guarded by counters_mutex_
};

}  // namespace

std::shared_ptr<StateStore> make_memory_state_store(std::size_t max_affinity_entries) {
  return std::make_shared<MemoryStateStore>(max_affinity_entries);
}

}  // namespace balancer
