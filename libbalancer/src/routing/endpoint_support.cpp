// endpoint_support.cpp — the "provider has no count_tokens" memo (see endpoint_support.h).
#include "routing/endpoint_support.h"

namespace balancer {

EndpointSupport::EndpointSupport(std::chrono::milliseconds remember_for) : remember_for_(remember_for) {}

void EndpointSupport::mark_unsupported(std::string_view provider, SteadyTime now) {
  const std::lock_guard<std::mutex> lock(mutex_);
  until_[std::string(provider)] = now + remember_for_;
}

bool EndpointSupport::unsupported(std::string_view provider, SteadyTime now) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  auto it = until_.find(std::string(provider));
  return it != until_.end() && now < it->second;
}

}  // namespace balancer
