// app.h — balancer-server: a balancer::Gateway behind cpp-httplib. Plain HTTP connections are
// held by the ConnectionServer (net/), which hands each complete request head to httplib's
// parser and router; with TLS on, httplib's own SSLServer serves the connections. The App owns
// these, plus the thread that gives the Gateway its periodic tick. main.cpp and the integration
// tests create one App each; every request is translated by http_adapter.cpp.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>

#include <httplib.h>

#include <balancer/gateway.h>

#include "growing_task_queue.h"
#include "net/connection_server.h"

namespace balancer::server {

struct AppOptions {
  std::string config_path;                       // re-read by POST /providers/reload
  EnvLookup env;                                 // ${VAR} expansion on reload; XDG_STATE_HOME / HOME
                                                 // for the default OAuth token store
  std::shared_ptr<const BalancerConfig> config;  // the initial, validated config
  HttpTransport* transport = nullptr;            // nullptr: the Gateway owns a libcurl transport
  const Clock* clock = nullptr;                  // nullptr: Clock::real()
  std::shared_ptr<LogSink> log;                  // nullptr: JSON lines as settings.log_* say
  // How long an idle worker thread lives (plain HTTP), down to the 8 kept.
  std::chrono::milliseconds worker_idle_retire{30000};
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
  // Worker threads alive (plain HTTP only; 0 with TLS).
  std::size_t worker_threads() const { return connections_ ? connections_->threads() : 0; }
  // Tests (plain HTTP): waits until `holds(busy, worker threads)` or `timeout` passes.
  bool wait_for_workers(const std::function<bool(std::size_t busy, std::size_t threads)>& holds,
                        std::chrono::milliseconds timeout) const {
    return connections_ && connections_->wait_until(holds, timeout);
  }
  // Whether requests refused on their head leave their body unread (the connection then closes):
  // true for plain HTTP; httplib's TLS server would read the unread body as a next request.
  bool closes_refused_connections() const { return connections_ != nullptr; }

 private:
  App() = default;
  void configure_server(const Settings& settings, std::chrono::milliseconds worker_idle_retire);
  ConnectionPolicy connection_policy() const;
  // ticker_'s loop: Gateway::tick about every second until `stop`.
  void tick(std::stop_token stop);

  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<httplib::Server> server_;          // the parser and router (and, with TLS, the server)
  std::unique_ptr<ConnectionServer> connections_;  // plain HTTP: the connection layer
  // Kept up to date by the server's GrowingTaskQueue (which httplib owns and deletes).
  std::shared_ptr<std::atomic<std::size_t>> busy_connections_ = std::make_shared<std::atomic<std::size_t>>(0);
  int listen_fd_ = -1;
  std::jthread ticker_;  // last: stopped and joined before the gateway goes away
};

}  // namespace balancer::server
