// balance_monitor.h — scheduling and decisions of the per-provider balance check (claude-code-lb's
// `balance_check` / `balance_check_interval` / `balance_threshold`). Pure logic: it never runs a
// command and never waits. The server drives it from a thread: due() hands out the checks to
// run, the server runs each command off the request path with the job's timeout, and record()
// turns the result into HealthTracker::set_low_balance().
//
// Rules:
//   * A provider is checked when it is enabled and its `balance_check` is not empty.
//   * Its first check is due at once; the next one `balance_check_interval` after the previous
//     one finished (reading or error), so a slow or hanging script is never re-run back to back.
//     Intervals below kMinBalanceCheckInterval are raised to it.
//   * A check is never handed out twice at once: due() marks it in progress until record().
//   * A reading at or below `balance_threshold` marks the provider low (unavailable until a later
//     reading is above the threshold); a reading above it clears the mark.
//   * A failed check (command failed, timed out, printed no number) leaves the mark as it was: a
//     broken script neither takes a provider down nor brings it back. The error is kept as
//     last_error and returned by record() for the log.
//   * A reload keeps the readings and schedule of providers that are still checked, re-applies the
//     (possibly new) threshold to the last reading, makes a changed command due at once, and
//     clears the low mark of providers that are no longer checked (removed, disabled, or without
//     a `balance_check`).
#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <balancer/clock.h>
#include <balancer/config.h>
#include <balancer/error.h>
#include <balancer/health_tracker.h>

namespace balancer {

// How long one balance command may run before it is killed (claude-code-lb uses 30 s too).
inline constexpr Duration kDefaultBalanceCheckTimeout = std::chrono::seconds(30);
// Shortest interval between two checks of one provider.
inline constexpr Duration kMinBalanceCheckInterval = std::chrono::seconds(1);

// One check to run now: `/bin/sh -c command`, killed after `timeout`. The command may contain
// secrets (curl with a key): never log it.
struct BalanceCheckJob {
  std::string provider;
  std::string command;
  Duration timeout = kDefaultBalanceCheckTimeout;
};

// What record() did with one result, for the log.
struct BalanceUpdate {
  std::string provider;
  bool tracked = true;            // false: the provider is no longer checked; result dropped
  std::optional<double> balance;  // the reading; nullopt when the check failed
  std::string error;              // why the check failed; empty when it read a number
  double threshold = 0.0;
  bool low = false;      // the provider's low mark after this result
  bool changed = false;  // this result set or cleared the mark
};

// Point-in-time view of one checked provider, for /providers.
struct BalanceStatus {
  std::string provider;
  double threshold = 0.0;
  Duration interval{};
  std::optional<double> balance;           // last successful reading (kept across failures)
  std::optional<SteadyTime> last_checked;  // when the last check finished (reading or error)
  std::optional<double> checked_ago_s;     // seconds since last_checked, at snapshot time
  std::string last_error;                  // error of the last check; empty when it read a number
  bool low = false;                        // marked low by this monitor
  bool in_progress = false;
  double next_check_in_s = 0.0;  // 0: due now (or running)
};

// Thread-safe. `tracker` and `clock` must outlive the monitor. Lock order: the monitor's mutex,
// then the tracker's (the tracker never calls back).
class BalanceMonitor {
 public:
  BalanceMonitor(HealthTracker& tracker, const Clock& clock, Duration check_timeout = kDefaultBalanceCheckTimeout);

  // (Re)load the set of checked providers; see the rules above.
  void set_config(const BalancerConfig& config);

  // The checks whose time has come, in config order, each marked in progress until record().
  std::vector<BalanceCheckJob> due();
  // The earliest time a check not in progress becomes due; nullopt when there is none.
  std::optional<SteadyTime> next_due() const;

  // The result of a job from due(): the command's parsed output, or why it failed. Updates the
  // provider's low mark (readings only) and schedules its next check.
  BalanceUpdate record(const std::string& provider, const Result<double>& reading);

  // Every checked provider, in config order.
  std::vector<BalanceStatus> snapshot() const;
  // One provider; nullopt when it is not checked.
  std::optional<BalanceStatus> snapshot(std::string_view provider) const;

 private:
  struct Entry {
    std::string provider;
    std::string command;
    Duration interval{};
    double threshold = 0.0;
    std::optional<double> balance;
    std::optional<SteadyTime> last_checked;
    std::string last_error;
    bool low = false;
    bool in_progress = false;
    bool due_now = true;  // first check, or the command changed
  };

  static SteadyTime due_at(const Entry& e);
  BalanceStatus status_of(const Entry& e, SteadyTime now) const;
  Entry* find(std::string_view provider);  // requires mutex_

  HealthTracker& tracker_;
  const Clock& clock_;
  const Duration check_timeout_;
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;  // guarded by mutex_; config order
};

// The balance printed by a check: the first number in `output`, so "12.5", "$12.50",
// "balance: 3", "USD 1,234.56" (thousands commas) and `{"balance": 4.2}` all work; a script
// printing several numbers should print the balance first (e.g. `... | jq .balance`).
// A number is an optional sign, digits with an optional fraction (or ".5") and an optional
// exponent; it must not continue a word, so "api03", "v2" and "sk-123" are skipped, and a sign
// counts only when it does not join two words. Errors: no number, or one out of range.
Result<double> parse_balance(std::string_view output);

}  // namespace balancer
