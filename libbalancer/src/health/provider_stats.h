// provider_stats.h — per-provider traffic counters shown by /providers, kept in a StateStore by
// provider name so that they survive a config reload.
#pragma once

#include <chrono>
#include <memory>
#include <string_view>

#include <balancer/state_store.h>

namespace balancer {

// Thread-safe facade over the store's counters: any request thread records, status endpoints
// read snapshots.
class ProviderStats {
 public:
  // `store`: shared state; nullptr = a private in-memory store.
  explicit ProviderStats(std::shared_ptr<StateStore> store = nullptr);

  void record_attempt(std::string_view provider) { store_->count_attempt(provider); }
  void record_success(std::string_view provider, std::chrono::milliseconds latency) {
    store_->count_success(provider, latency);
  }
  void record_failure(std::string_view provider, std::string_view error) { store_->count_failure(provider, error); }
  ProviderCounters get(std::string_view provider) const { return store_->counters(provider); }

 private:
  std::shared_ptr<StateStore> store_;
};

}  // namespace balancer
