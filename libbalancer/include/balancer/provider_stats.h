// provider_stats.h — per-provider traffic counters shown by /providers. Kept by provider name
// so that they survive a config reload.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

namespace balancer {

struct ProviderCounters {
  std::uint64_t requests = 0;  // attempts sent to the provider
  std::uint64_t failures = 0;  // attempts that failed (before or after the first byte)
  std::string last_error;      // e.g. "HTTP 529" or "connection_error"; never contains secrets
  std::chrono::milliseconds last_latency{0};  // time to response headers of the last success
};

// Thread-safe. Any request thread records; status endpoints read snapshots.
class ProviderStats {
 public:
  void record_attempt(std::string_view provider);
  void record_success(std::string_view provider, std::chrono::milliseconds latency);
  void record_failure(std::string_view provider, std::string_view error);
  ProviderCounters get(std::string_view provider) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, ProviderCounters, std::less<>> counters_;
};

}  // namespace balancer
