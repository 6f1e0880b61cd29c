// random.h — Random is the only source of randomness in libbalancer.
#pragma once

#include <cstdint>
#include <memory>

namespace balancer {

// A stream of uniformly distributed 64-bit draws. Implementations must be thread-safe.
class Random {
 public:
  virtual ~Random() = default;
  virtual std::uint64_t next_u64() = 0;
};

// A thread-safe generator seeded from the operating system's entropy.
std::unique_ptr<Random> make_default_random();
// A thread-safe generator with a fixed seed (reproducible runs, benchmarks).
std::unique_ptr<Random> make_seeded_random(std::uint64_t seed);

// Maps one draw to [0, n) with Lemire's multiply-shift: the same draws give the same picks on
// every standard library. n must be > 0.
std::uint64_t uniform_below(std::uint64_t draw, std::uint64_t n);

}  // namespace balancer
