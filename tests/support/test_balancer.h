// test_balancer.h — runs the real balancer server (balancer::server::App) in-process on
// 127.0.0.1:<ephemeral> for the integration tests. The config is YAML written to a temporary
// file and loaded with balancer::load_config, with ${VAR} looked up in a map the test passes
// (never the real environment).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

#include "app.h"

namespace balancer::test {

// A temporary directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

// What a TestBalancer injects into its server::App; build it with designated initializers,
// e.g. {.clock = &clock, .log = log}. Every pointer must outlive the balancer. (`clock` comes
// first so that a brace list like {{"VAR", "value"}} can only be the env map of the other
// constructor.)
struct TestBalancerOptions {
  // The balancer's clock (health cooldowns, cache TTLs, OAuth expiry, balance check intervals),
  // e.g. a testing::ManualClock the test advances; nullptr: the real clock. The transport's own
  // timeouts (libcurl) and the server's one-second tick stay on real time.
  const Clock* clock = nullptr;
  // Where the Gateway logs, e.g. a RecordingLog (recording_log.h) to wait for a line on;
  // nullptr: JSON lines as the config's settings say.
  std::shared_ptr<LogSink> log = nullptr;
  std::map<std::string, std::string> env = {};  // ${VAR} values (never the real environment)
  HttpTransport* transport = nullptr;           // nullptr: the server's own libcurl transport
  // How long an idle server worker thread lives (server::AppOptions::worker_idle_retire).
  std::chrono::milliseconds worker_idle_retire{30000};
  std::size_t max_pending = 0;  // server::AppOptions::max_pending
};

class TestBalancer {
 public:
  // Throws std::runtime_error when the config is invalid or the server cannot bind.
  // `transport` (must outlive the balancer): the upstream transport; nullptr = the server's own
  // libcurl transport.
  explicit TestBalancer(const std::string& yaml, std::map<std::string, std::string> env = {},
                        HttpTransport* transport = nullptr);
  TestBalancer(const std::string& yaml, TestBalancerOptions options);
  ~TestBalancer();
  TestBalancer(const TestBalancer&) = delete;
  TestBalancer& operator=(const TestBalancer&) = delete;

  int port() const { return port_; }
  // "http://127.0.0.1:<port><path>"
  std::string url(std::string_view path = "") const;
  const std::string& config_path() const { return config_path_; }
  // Replaces the config file (for POST /providers/reload).
  void rewrite_config(const std::string& yaml) const;
  server::App& app() { return *app_; }

 private:
  TempDir dir_;
  std::string config_path_;
  std::unique_ptr<server::App> app_;
  int port_ = -1;
  std::thread thread_;
};

// A provider entry for the YAML `providers:` list (indented for it).
std::string provider_yaml(std::string_view name, std::string_view base_url, std::string_view auth_type = "api_key",
                          std::string_view auth_value = "");  // default: "key-<name>"

// `settings:` for tests: no log file, warnings only, plus `extra` lines (each "  key: value\n").
std::string test_settings_yaml(std::string_view extra = "");

// The error type of an Anthropic error body {"type":"error","error":{"type":T,"message":M}};
// empty when `body` does not have that shape (a non-empty string message included).
std::string anthropic_error_type(const std::string& body);
std::string anthropic_error_message(const std::string& body);

// Raises the soft RLIMIT_NOFILE to at least `wanted` (bounded by the hard limit): a test with
// hundreds of concurrent connections holds four descriptors per connection in this process.
void raise_fd_limit(unsigned long wanted);

}  // namespace balancer::test
