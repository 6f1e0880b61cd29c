#include <balancer/provider_stats.h>

namespace balancer {

namespace {
ProviderCounters& entry(std::map<std::string, ProviderCounters, std::less<>>& map,
                        std::string_view provider) {
  auto it = map.find(provider);
  if (it == map.end()) {
    it = map.emplace(std::string(provider), ProviderCounters{}).first;
  }
  return it->second;
}
}  // namespace

void ProviderStats::record_attempt(std::string_view provider) {
  std::lock_guard lock(mutex_);
  ++entry(counters_, provider).requests;
}

void ProviderStats::record_success(std::string_view provider, std::chrono::milliseconds latency) {
  std::lock_guard lock(mutex_);
  entry(counters_, provider).last_latency = latency;
}

void ProviderStats::record_failure(std::string_view provider, std::string_view error) {
  std::lock_guard lock(mutex_);
  auto& e = entry(counters_, provider);
  ++e.failures;
  e.last_error.assign(error);
}

ProviderCounters ProviderStats::get(std::string_view provider) const {
  std::lock_guard lock(mutex_);
  auto it = counters_.find(provider);
  return it == counters_.end() ? ProviderCounters{} : it->second;
}

}  // namespace balancer
