// endpoint_support.h — remembers which providers answered that they do not have an optional
// endpoint (count_tokens: 404/405/501), so that the balancer stops asking them for a while and
// answers with a local estimate instead, without counting it against their health.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include <balancer/clock.h>

namespace balancer {

// Thread-safe; shared by every config snapshot (owned by the server, like HealthTracker).
class EndpointSupport {
 public:
  explicit EndpointSupport(std::chrono::milliseconds remember_for = std::chrono::hours(1));

  // `provider` answered "not supported" at `now`; remembered until now + remember_for.
  void mark_unsupported(std::string_view provider, SteadyTime now);
  // True while a "not supported" answer of `provider` is remembered.
  bool unsupported(std::string_view provider, SteadyTime now) const;

 private:
  const std::chrono::milliseconds remember_for_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, SteadyTime> until_;  // guarded by mutex_
};

}  // namespace balancer
