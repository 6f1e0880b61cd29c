// recording_log.h — a LogSink for tests: keeps every line the Gateway writes and wakes the
// threads waiting for a line. The natural event for work the balancer does on threads of its own
// (a balance check's result, an OAuth refresh round) is the line it logs; tests wait for that
// line, with a deadline, instead of polling an endpoint. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <balancer/log_sink.h>

namespace balancer::test {

struct LogLine {
  LogLevel level = LogLevel::Info;
  std::string message;
  nlohmann::json fields;
};

// Records every level (settings.log_level and set_level() are ignored: a test sees every line);
// writes nothing anywhere.
class RecordingLog final : public LogSink {
 public:
  bool enabled(LogLevel) const override { return true; }
  void write(LogLevel level, std::string_view message, nlohmann::json fields) override {
    {
      std::lock_guard lock(mutex_);
      lines_.push_back(LogLine{level, std::string(message), std::move(fields)});
    }
    changed_.notify_all();
  }
  void set_level(LogLevel) override {}

  std::vector<LogLine> lines() const {
    std::lock_guard lock(mutex_);
    return lines_;
  }
  // How many lines carry `message` (and, when `provider` is not empty, fields.provider ==
  // `provider`).
  std::size_t count(std::string_view message, std::string_view provider = "") const {
    std::lock_guard lock(mutex_);
    return count_locked(message, provider);
  }
  // Waits until `predicate(lines)` holds (evaluated under the log's lock after every write);
  // false when `timeout` passed first.
  bool wait_until(const std::function<bool(const std::vector<LogLine>&)>& predicate,
                  std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return predicate(lines_); });
  }
  // Waits until at least `n` lines match as in count().
  bool wait_for(std::string_view message, std::string_view provider, std::chrono::milliseconds timeout,
                std::size_t n = 1) const {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return count_locked(message, provider) >= n; });
  }

 private:
  std::size_t count_locked(std::string_view message, std::string_view provider) const {
    std::size_t n = 0;
    for (const LogLine& line : lines_) {
      if (line.message != message) {
        continue;
      }
      if (!provider.empty() &&
          !(line.fields.is_object() && line.fields.contains("provider") && line.fields["provider"].is_string() &&
            line.fields["provider"].get<std::string>() == provider)) {
        continue;
      }
      ++n;
    }
    return n;
  }

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<LogLine> lines_;
};

}  // namespace balancer::test
