// scripted_random.h — a Random that returns a fixed, repeating sequence of draws.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <vector>

#include <balancer/random.h>

namespace balancer::testing {

// Cycles through the given values (0 forever when none are given). Thread-safe.
class ScriptedRandom final : public Random {
 public:
  ScriptedRandom(std::initializer_list<std::uint64_t> values) : values_(values) {}
  std::uint64_t next_u64() override {
    std::lock_guard lock(mutex_);
    if (values_.empty()) {
      return 0;
    }
    const std::uint64_t v = values_[next_ % values_.size()];
    ++next_;
    return v;
  }

 private:
  std::mutex mutex_;
  std::vector<std::uint64_t> values_;
  std::size_t next_ = 0;
};

}  // namespace balancer::testing
