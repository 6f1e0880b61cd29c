// app.h — balancer-server's composition root: owns the transport, stats, health view, logger,
// the current config snapshot and the cpp-httplib server. main.cpp and the integration tests
// create one App each.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>

#include <httplib.h>

#include <balancer/balance_monitor.h>
#include <balancer/client_auth.h>
#include <balancer/config.h>
#include <balancer/conversation_affinity.h>
#include <balancer/forwarder.h>
#include <balancer/deduplicator.h>
#include <balancer/health_tracker.h>
#include <balancer/http.h>
#include <balancer/oauth_client.h>
#include <balancer/provider_stats.h>
#include <balancer/random.h>
#include <balancer/router.h>

#include "balance_checker.h"
#include "growing_task_queue.h"
#include "request_counters.h"
#include "request_log.h"

namespace balancer::server {

struct AppOptions {
  std::string config_path;                       // re-read by POST /providers/reload
  EnvLookup env;                                 // ${VAR} expansion on reload; XDG_STATE_HOME / HOME
                                                 // for the default OAuth token store
  std::shared_ptr<const BalancerConfig> config;  // the initial, validated config
  HttpTransport* transport = nullptr;            // nullptr: the App owns a libcurl transport
  const Clock* clock = nullptr;                  // nullptr: Clock::real()
};

// Where the OAuth token store lives: `oauth.token_store_path` when set (a leading "~/" is the
// home directory), else
// $XDG_STATE_HOME/balancer/oauth_tokens.json, else $HOME/.local/state/balancer/oauth_tokens.json,
// else ./oauth_tokens.json. The environment comes through `env` (may be empty).
std::string resolve_token_store_path(const OAuthSettings& settings, const EnvLookup& env);

// One config snapshot and everything built from it. Immutable; a request keeps the snapshot it
// started with alive (shared_ptr), so a reload never disturbs a request in flight.
struct Runtime {
  Runtime(std::shared_ptr<const BalancerConfig> config, HealthTracker& health,
          ConversationAffinity& affinity, EndpointSupport& endpoint_support, Random& random,
          HttpTransport& transport, const Clock& clock, ProviderStats& stats, OAuthClient& oauth);
  std::shared_ptr<const BalancerConfig> config;
  ClientAuth auth;
  Router router;
  Forwarder forwarder;
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

  std::shared_ptr<const Runtime> runtime() const;
  // Re-reads options.config_path; swaps the snapshot only when the whole file is valid.
  Result<std::shared_ptr<const Runtime>> reload();

  RequestLog& log() { return *log_; }
  const Clock& clock() const { return clock_; }
  const HealthTracker& health() const { return health_; }
  const ProviderStats& stats() const { return stats_; }
  const BalanceMonitor& balance() const { return balance_monitor_; }
  Deduplicator& dedup() { return dedup_; }
  // The OAuth accounts (spec §9), one client for the process lifetime.
  OAuthClient& oauth() { return *oauth_; }
  RequestCounters& counters() { return counters_; }
  // The token store file in use (oauth.token_store_path, else the default; see
  // resolve_token_store_path).
  const std::string& token_store_path() const { return token_store_path_; }
  std::size_t busy_connections() const {
    auto* queue = queue_.load();
    return queue != nullptr ? queue->busy() : 0;
  }
  std::string next_request_id();

 private:
  explicit App(AppOptions options);
  void configure_server(const Settings& settings);
  // Creates the OAuth client on the token store and loads it (a load error is logged).
  void start_oauth();
  // oauth_refresher_'s loop: OAuthClient::refresh_due() every round until `stop`.
  void refresh_oauth_accounts(std::stop_token stop);

  AppOptions options_;
  const Clock& clock_;
  std::unique_ptr<HttpTransport> owned_transport_;
  HttpTransport& transport_;
  std::unique_ptr<Random> random_;
  HealthTracker health_;
  BalanceMonitor balance_monitor_;
  ConversationAffinity affinity_;
  EndpointSupport endpoint_support_;
  Deduplicator dedup_;
  ProviderStats stats_;
  RequestCounters counters_;
  std::unique_ptr<RequestLog> log_;
  std::string token_store_path_;
  std::unique_ptr<OAuthClient> oauth_;  // before runtime_: every Forwarder points at it

  mutable std::mutex runtime_mutex_;
  std::shared_ptr<const Runtime> runtime_;  // guarded by runtime_mutex_
  std::mutex reload_mutex_;                 // one reload at a time

  std::unique_ptr<httplib::Server> server_;
  std::atomic<GrowingTaskQueue*> queue_{nullptr};  // owned by server_
  int listen_fd_ = -1;
  std::atomic<std::uint64_t> request_counter_{0};
  // Last: its threads stop before anything they use is destroyed.
  std::unique_ptr<BalanceChecker> balance_checker_;
  // Refreshes OAuth accounts due for it about every 30 s, off the request path.
  std::jthread oauth_refresher_;
};

}  // namespace balancer::server
