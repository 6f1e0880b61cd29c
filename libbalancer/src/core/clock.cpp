#include <balancer/clock.h>

namespace balancer {
namespace {

// The real clocks. Stateless, so one shared instance is safe from every thread.
class RealClock final : public Clock {
 public:
  SteadyTime now() const override { return std::chrono::steady_clock::now(); }
  WallTime wall_now() const override { return std::chrono::system_clock::now(); }
};

}  // namespace

const Clock& Clock::real() {
  static const RealClock clock;
  return clock;
}

}  // namespace balancer
