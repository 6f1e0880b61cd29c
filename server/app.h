// app.h — balancer-server: a balancer::Gateway behind its connection layer (net/, plain HTTP or
// TLS), which hands each complete request head to cpp-httplib's parser and router. The App owns
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

#include "net/connection_server.h"

namespace balancer::server {

// The pseudo-header through which RequestProcessor::process tells the handlers the client's
// socket (never a client's header of that name); http_adapter turns it into
// ClientRequest::client_gone and drops it.
inline constexpr const char* kClientSocketHeader = "BALANCER_CLIENT_SOCKET";

// httplib's request parser, router and response writer, driven by the ConnectionServer one
// request at a time (process_request is protected in httplib::Server). Any thread; handlers
// must be installed before the first request.
class RequestProcessor final : public httplib::Server {
 public:
  // httplib ends streamed (content provider) responses as soon as it believes its own listening
  // socket closed; here there is none, so it is marked open.
  RequestProcessor() { svr_sock_ = 0; }
  // Serves one request from `stream` (ConnectionServerOptions::process). The handlers see
  // `headers` as the client sent them (httplib percent-decodes values: `x-api-key: a%2Db` would
  // read as `a-b`, `%0d%0a` as a line break), plus the connection's own addresses (never a
  // client's header of the same name); a Range header is ignored (no API answer is partial).
  bool process(httplib::Stream& stream, bool close, bool& closed, const RawHeaders& headers);
};

// SSL_CTX_free, without OpenSSL's headers here.
void free_tls_context(ssl_ctx_st* context);

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
  // Connections the poller may hold; 0: derived from max_connections and the open-file limit.
  std::size_t max_pending = 0;
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
  // Worker threads alive.
  std::size_t worker_threads() const { return connections_->threads(); }
  // Tests: waits until `holds(busy, worker threads)` or `timeout` passes.
  bool wait_for_workers(const std::function<bool(std::size_t busy, std::size_t threads)>& holds,
                        std::chrono::milliseconds timeout) const {
    return connections_->wait_until(holds, timeout);
  }

 private:
  App() = default;
  Result<void> configure_server(const Settings& settings, std::chrono::milliseconds worker_idle_retire,
                                std::size_t max_pending);
  ConnectionPolicy connection_policy() const;
  // ticker_'s loop: Gateway::tick about every second until `stop`.
  void tick(std::stop_token stop);

  std::unique_ptr<Gateway> gateway_;
  // Kept up to date by the connection layer's workers.
  std::shared_ptr<std::atomic<std::size_t>> busy_connections_ = std::make_shared<std::atomic<std::size_t>>(0);
  std::unique_ptr<ssl_ctx_st, void (*)(ssl_ctx_st*)> tls_{nullptr, &free_tls_context};  // TLS on: the context
  std::unique_ptr<RequestProcessor> processor_;    // httplib's parser, router and response writer
  std::unique_ptr<ConnectionServer> connections_;  // uses both above
  std::jthread ticker_;                            // last: stopped and joined before the gateway goes away
};

}  // namespace balancer::server
