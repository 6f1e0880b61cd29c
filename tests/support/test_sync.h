// test_sync.h — waiting helpers for the threaded tests (unit and integration): a Gate that
// blocks callers until the test opens it, and a Counter whose waiters are woken by every add().
// Every wait is woken by the event it waits for; its timeout is only a failure guard (a hung
// test fails instead of hanging), never a timing assumption. Any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace balancer::test {

// Closed until open(); then every wait returns at once. Thread-safe.
class Gate {
 public:
  void open() {
    {
      std::lock_guard lock(mutex_);
      open_ = true;
    }
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return open_; });
  }
  // True when opened within `timeout`.
  bool wait_for(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [this] { return open_; });
  }
  bool is_open() {
    std::lock_guard lock(mutex_);
    return open_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

// A count that other threads wait on, e.g. "both requests reached the fake upstream": add() wakes
// every waiter. Thread-safe.
class Counter {
 public:
  // Adds one; returns the new count.
  std::size_t add() {
    std::size_t now = 0;
    {
      std::lock_guard lock(mutex_);
      now = ++count_;
    }
    cv_.notify_all();
    return now;
  }
  std::size_t value() const {
    std::lock_guard lock(mutex_);
    return count_;
  }
  // True when the count reached at least `n` within `timeout`.
  bool wait_for_at_least(std::size_t n, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return count_ >= n; });
  }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  std::size_t count_ = 0;
};

}  // namespace balancer::test
