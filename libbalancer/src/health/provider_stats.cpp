#include "health/provider_stats.h"

namespace balancer {

ProviderStats::ProviderStats(std::shared_ptr<StateStore> store)
    : store_(store ? std::move(store) : make_memory_state_store()) {}

}  // namespace balancer
