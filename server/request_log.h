// request_log.h — structured JSON log lines (one per request, plus operational events).
// Never given secrets: callers pass names, statuses, counts and error classes only.
#pragma once

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <balancer/clock.h>

namespace balancer::server {

enum class LogLevel { Debug = 0, Info = 1, Warning = 2, Error = 3, Critical = 4 };
LogLevel parse_log_level(std::string_view name);

// Writes JSON lines to the configured file (appending; directories created) and to stderr
// for warnings and errors. Thread-safe: one mutex around each whole line.
class RequestLog {
 public:
  RequestLog(const Clock& clock, LogLevel level, const std::string& file_path);
  ~RequestLog();
  RequestLog(const RequestLog&) = delete;
  RequestLog& operator=(const RequestLog&) = delete;

  // Adds "ts", "level" and "msg" to `fields` and writes the line if `level` is enabled.
  void write(LogLevel level, std::string_view message, nlohmann::json fields = nlohmann::json::object());
  void set_level(LogLevel level);
  // Whether a line at `level` would be written; lets callers skip building its fields.
  bool enabled(LogLevel level) const { return level >= level_.load(); }

 private:
  const Clock& clock_;
  std::mutex mutex_;
  std::atomic<LogLevel> level_;
  std::FILE* file_ = nullptr;
};

}  // namespace balancer::server
