// watched_clock.h — a testing::ManualClock that also tells the test which threads have read it.
// A component reads its injected clock when it decides what to do (OAuthClient::access_token
// reads it under the client's lock before it joins a refresh in flight), so "n threads read the
// clock" is an event a test can wait for instead of yielding and hoping the threads got there.
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <set>
#include <thread>

#include <balancer/clock.h>
#include <balancer/testing/manual_clock.h>

namespace balancer::test {

class WatchedClock final : public Clock {
 public:
  SteadyTime now() const override {
    saw_reader();
    return clock_.now();
  }
  WallTime wall_now() const override {
    saw_reader();
    return clock_.wall_now();
  }
  void advance(std::chrono::nanoseconds d) { clock_.advance(d); }
  void set(SteadyTime t) { clock_.set(t); }

  // Forgets the threads that read the clock so far.
  void forget_readers() {
    std::lock_guard lock(mutex_);
    readers_.clear();
  }
  // Waits until at least `n` threads other than the calling one read the clock since the last
  // forget_readers(); false when `timeout` passed first.
  bool wait_for_readers(std::size_t n, std::chrono::milliseconds timeout) const {
    const std::thread::id self = std::this_thread::get_id();
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return readers_.size() - readers_.count(self) >= n; });
  }

 private:
  void saw_reader() const {
    bool added = false;
    {
      std::lock_guard lock(mutex_);
      added = readers_.insert(std::this_thread::get_id()).second;
    }
    if (added) {
      cv_.notify_all();
    }
  }

  testing::ManualClock clock_;
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  mutable std::set<std::thread::id> readers_;
};

}  // namespace balancer::test
