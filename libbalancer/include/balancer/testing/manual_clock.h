// manual_clock.h — a Clock that moves only when a test says so.
#pragma once

#include <atomic>
#include <cstdint>

#include <balancer/clock.h>

namespace balancer::testing {

// Starts at a fixed point and moves only through advance()/set(). Thread-safe.
class ManualClock final : public Clock {
 public:
  ManualClock() = default;

  SteadyTime now() const override { return SteadyTime(std::chrono::nanoseconds(offset_ns_.load())); }
  WallTime wall_now() const override {
    return WallTime(std::chrono::duration_cast<WallTime::duration>(std::chrono::nanoseconds(offset_ns_.load()))) +
           std::chrono::hours(24 * 365 * 56);  // around 2026, far from the epoch
  }
  void advance(std::chrono::nanoseconds d) { offset_ns_ += d.count(); }
  void set(SteadyTime t) {
    offset_ns_ = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  }

 private:
  std::atomic<std::int64_t> offset_ns_{3'600'000'000'000};  // starts one hour after zero
};

}  // namespace balancer::testing
