// app.h — balancer-server: a balancer::Gateway behind a cpp-httplib thread-pool server. The App
// owns both, plus the thread that gives the Gateway its periodic tick. main.cpp and the
// integration tests create one App each; every request is translated by http_adapter.cpp.
#pragma once

#include <atomic>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>

#include <httplib.h>

#include <balancer/gateway.h>

#include "growing_task_queue.h"

namespace balancer::server {

struct AppOptions {
  std::string config_path;                       // re-read by POST /providers/reload
  EnvLookup env;                                 // ${VAR} expansion on reload; XDG_STATE_HOME / HOME
                                                 // for the default OAuth token store
  std::shared_ptr<const BalancerConfig> config;  // the initial, validated config
  HttpTransport* transport = nullptr;            // nullptr: the Gateway owns a libcurl transport
  const Clock* clock = nullptr;                  // nullptr: Clock::real()
  std::shared_ptr<LogSink> log;                  // nullptr: JSON lines as settings.log_* say
};

// Thread-safe: handlers run on many pool threads; stop() may come from a signal thread.
class App {
 public:
  static Result<std::unique_ptr<App>> create(AppOptions options);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Binds and listens (port 0 = ephemeral); returns the bound port. Refuses a non-loopback
  // host while client auth is off, unless allow_unauthenticated_remote is set.
  Result<int> bind(const std::string& host, int port);
  // Accepts connections until stop(); returns when the server has stopped and in-flight
  // requests have finished.
  void run();
  void stop();

  Gateway& gateway() { return *gateway_; }
  Deduplicator& dedup() { return gateway_->dedup(); }
  LogSink& log() { return gateway_->log(); }
  const std::string& token_store_path() const { return gateway_->token_store_path(); }
  // Connections being served right now (GET /metrics, the overload check).
  std::size_t busy_connections() const { return busy_connections_->load(); }

 private:
  App() = default;
  void configure_server(const Settings& settings);
  // ticker_'s loop: Gateway::tick about every second until `stop`.
  void tick(std::stop_token stop);

  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<httplib::Server> server_;
  // Kept up to date by the server's GrowingTaskQueue (which httplib owns and deletes).
  std::shared_ptr<std::atomic<std::size_t>> busy_connections_ = std::make_shared<std::atomic<std::size_t>>(0);
  int listen_fd_ = -1;
  std::jthread ticker_;  // last: stopped and joined before the gateway goes away
};

}  // namespace balancer::server
