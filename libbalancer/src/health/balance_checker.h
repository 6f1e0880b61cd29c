// balance_checker.h — runs the balance checks that BalanceMonitor schedules: one background
// thread asks the monitor for due checks about once a second and runs each check's command on a
// thread of its own, off the request path, so a slow script delays neither requests nor other
// providers' checks.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>

#include <balancer/error.h>
#include "health/balance_monitor.h"

namespace balancer {

// Runs `/bin/sh -c command` in a process group of its own, with stdin and stderr on /dev/null,
// and returns what it printed on stdout (at most `max_output` bytes; the rest is read and
// dropped). The command's result is what it printed by the time the shell exited; processes it
// left behind are killed with the group. Errors: the shell exited non-zero or was killed by a
// signal (UpstreamProtocol), `timeout` passed (UpstreamTimeout; the whole group is killed with
// SIGKILL), `stop` was requested (Cancelled; killed likewise), it could not be started
// (Internal). The shell is always reaped before this returns. Thread-safe; blocks the caller.
Result<std::string> run_shell_command(const std::string& command, std::chrono::milliseconds timeout,
                                      std::stop_token stop = {}, std::size_t max_output = 4096);

struct BalanceCheckerOptions {
  std::chrono::milliseconds round = std::chrono::seconds(1);  // how often to ask due()
  std::size_t max_output = 4096;                              // bytes of stdout kept per check
};

// Starts its thread on construction; the destructor stops it promptly: running commands are
// killed (their process groups), every thread is joined. `monitor` must outlive the checker.
// `on_update` is called after every finished check (not for ones cancelled by the destructor),
// from the check's own thread, possibly concurrently for different providers; it must be
// thread-safe and must not destroy the checker. Thread-safe.
class BalanceChecker {
 public:
  using UpdateCallback = std::function<void(const BalanceUpdate& update)>;

  explicit BalanceChecker(BalanceMonitor& monitor, UpdateCallback on_update = {}, BalanceCheckerOptions options = {});
  ~BalanceChecker();
  BalanceChecker(const BalanceChecker&) = delete;
  BalanceChecker& operator=(const BalanceChecker&) = delete;

  // Ask the monitor for due checks now instead of at the next round (e.g. after a reload).
  void wake();

 private:
  void loop(std::stop_token stop);
  void run_job(const BalanceCheckJob& job, std::stop_token stop);

  BalanceMonitor& monitor_;
  const UpdateCallback on_update_;
  const BalanceCheckerOptions options_;
  std::mutex mutex_;
  std::condition_variable_any wake_cv_;
  bool wake_ = false;    // guarded by mutex_
  std::jthread thread_;  // last: stopped and joined before the members above go away
};

}  // namespace balancer
