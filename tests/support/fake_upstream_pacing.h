// fake_upstream_pacing.h — delays inside fake upstream handlers (stream pacing, slow headers). The only
// sleeping test code: tests themselves wait on conditions, never on time.
#pragma once

#include <chrono>
#include <thread>

namespace balancer::test {

// Pauses the fake upstream's own handler thread.
inline void pace_fake_upstream(std::chrono::milliseconds delay) { std::this_thread::sleep_for(delay); }

}  // namespace balancer::test
