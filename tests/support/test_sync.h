// test_sync.h — waiting helpers for the threaded tests (unit and integration): a Gate that
// blocks callers until the test opens it, and wait_until, which yields (never sleeps) until a
// condition holds or a generous failure deadline passes. Any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

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

// Yields until `pred()` holds; false when it still does not after `deadline` (a failure guard,
// not a timing assumption).
template <class Pred>
bool wait_until(Pred pred, std::chrono::seconds deadline = std::chrono::seconds(30)) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) {
      return false;
    }
    std::this_thread::yield();
  }
  return true;
}

}  // namespace balancer::test
