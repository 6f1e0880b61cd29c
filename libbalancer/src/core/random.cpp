#include <balancer/random.h>

#include <mutex>
#include <random>

namespace balancer {
namespace {

// splitmix64 behind a mutex: tiny, fast, good enough for load-balancing draws.
class SplitMixRandom final : public Random {
 public:
  explicit SplitMixRandom(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next_u64() override {
    std::lock_guard lock(mutex_);
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  std::mutex mutex_;
  std::uint64_t state_;
};

}  // namespace

std::unique_ptr<Random> make_default_random() {
  std::random_device device;
  const std::uint64_t seed = (static_cast<std::uint64_t>(device()) << 32) ^ device();
  return std::make_unique<SplitMixRandom>(seed);
}

std::unique_ptr<Random> make_seeded_random(std::uint64_t seed) { return std::make_unique<SplitMixRandom>(seed); }

std::uint64_t uniform_below(std::uint64_t draw, std::uint64_t n) {
  __extension__ using Wide = unsigned __int128;
  return static_cast<std::uint64_t>((static_cast<Wide>(draw) * n) >> 64);
}

}  // namespace balancer
