// jsonl_log.cpp — the JSON-lines LogSink: one mutex around each whole line.
#include <balancer/log_sink.h>

#include <atomic>
#include <cstdio>
#include <mutex>

#include <filesystem>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include <balancer/http.h>

namespace balancer {

LogLevel parse_log_level(std::string_view name) {
  if (iequals(name, "DEBUG")) return LogLevel::Debug;
  if (iequals(name, "WARNING") || iequals(name, "WARN")) return LogLevel::Warning;
  if (iequals(name, "ERROR")) return LogLevel::Error;
  if (iequals(name, "CRITICAL")) return LogLevel::Critical;
  return LogLevel::Info;
}

namespace {

constexpr std::string_view kLevelNames[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};

class JsonlLog final : public LogSink {
 public:
  JsonlLog(const Clock& clock, LogLevel level, const std::string& file_path);
  ~JsonlLog() override;
  JsonlLog(const JsonlLog&) = delete;
  JsonlLog& operator=(const JsonlLog&) = delete;

  bool enabled(LogLevel level) const override { return level >= level_.load(); }
  void write(LogLevel level, std::string_view message, nlohmann::json fields) override;
  void set_level(LogLevel level) override;

 private:
  const Clock& clock_;
  std::mutex mutex_;
  std::atomic<LogLevel> level_;
  std::FILE* file_ = nullptr;  // guarded by mutex_ for writes
};

JsonlLog::JsonlLog(const Clock& clock, LogLevel level, const std::string& file_path) : clock_(clock), level_(level) {
  if (file_path.empty()) {
    return;
  }
  std::error_code ec;
  const auto parent = std::filesystem::path(file_path).parent_path();
  if (!parent.empty()) {
    std::filesystem::create_directories(parent, ec);
  }
  file_ = std::fopen(file_path.c_str(), "a");
  if (file_ == nullptr) {
    fmt::print(stderr, "balancer: cannot open log file {}; logging to stderr only\n", file_path);
  }
}

JsonlLog::~JsonlLog() {
  if (file_ != nullptr) {
    std::fclose(file_);
  }
}

void JsonlLog::set_level(LogLevel level) { level_ = level; }

void JsonlLog::write(LogLevel level, std::string_view message, nlohmann::json fields) {
  if (!enabled(level)) {
    return;
  }
  // UTC whatever TZ says (fmt formats a system_clock time_point in local time).
  const WallTime wall = clock_.wall_now();
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(wall.time_since_epoch()).count() % 1000;
  fields["ts"] =
      fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", fmt::gmtime(std::chrono::system_clock::to_time_t(wall)), millis);
  fields["level"] = kLevelNames[static_cast<int>(level)];
  fields["msg"] = message;
  const std::string line = fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard lock(mutex_);
  if (file_ != nullptr) {
    std::fputs(line.c_str(), file_);
    std::fflush(file_);
  }
  if (file_ == nullptr || level >= LogLevel::Warning) {
    std::fputs(line.c_str(), stderr);
  }
}

}  // namespace

std::shared_ptr<LogSink> make_jsonl_log(const Clock& clock, LogLevel level, const std::string& file_path) {
  return std::make_shared<JsonlLog>(clock, level, file_path);
}

}  // namespace balancer
