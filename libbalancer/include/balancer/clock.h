// clock.h — Clock is the only source of time in libbalancer. Components take a `const Clock&`
// and read it once per operation; tests inject testing::ManualClock.
#pragma once

#include <chrono>

namespace balancer {

using SteadyTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;

// Source of monotonic time (intervals, deadlines) and wall time (display only).
// Implementations must be thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  [[nodiscard]] virtual SteadyTime now() const = 0;
  [[nodiscard]] virtual WallTime wall_now() const = 0;

  // The real clocks; a process-lifetime object, safe from any thread.
  static const Clock& real();
};

}  // namespace balancer
