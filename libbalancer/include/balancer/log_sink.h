// log_sink.h — where the Gateway writes its structured log lines: one per request (model,
// provider, status, every attempt, duration) plus operational events (reloads, OAuth logins,
// balance checks). Callers pass names, statuses, counts and error classes only, never secrets.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <balancer/clock.h>

namespace balancer {

enum class LogLevel { Debug = 0, Info = 1, Warning = 2, Error = 3, Critical = 4 };
// "DEBUG", "INFO", "WARNING"/"WARN", "ERROR", "CRITICAL" (any case); anything else is Info.
LogLevel parse_log_level(std::string_view name);

// Implementations must be thread-safe: every request thread writes.
class LogSink {
 public:
  virtual ~LogSink() = default;
  // Whether a line at `level` would be written; lets callers skip building its fields.
  virtual bool enabled(LogLevel level) const = 0;
  // Writes one line (`fields` plus the message, level and time) if `level` is enabled.
  virtual void write(LogLevel level, std::string_view message, nlohmann::json fields = nlohmann::json::object()) = 0;
  // A reload changed settings.log_level.
  virtual void set_level(LogLevel level) = 0;
};

// JSON lines appended to `file_path` (directories created; empty: no file) and, for warnings
// and above or when there is no file, to stderr. Times from `clock` (UTC), which must outlive it.
std::shared_ptr<LogSink> make_jsonl_log(const Clock& clock, LogLevel level, const std::string& file_path);

}  // namespace balancer
