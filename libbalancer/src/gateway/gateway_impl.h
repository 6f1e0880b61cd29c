// gateway_impl.h — the Gateway's state and the endpoint handlers that work on it (private).
// gateway.cpp builds and reloads it; messages_endpoint.cpp, status_endpoints.cpp and
// oauth_endpoints.cpp answer requests with it. Thread-safe like Gateway: every member is
// either immutable after create(), itself thread-safe, or guarded by runtime_mutex_.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <balancer/deduplicator.h>
#include <balancer/gateway.h>
#include <balancer/health_tracker.h>
#include <balancer/oauth_client.h>
#include <balancer/router.h>
#include "config/client_auth.h"
#include "forward/forwarder.h"
#include "health/balance_monitor.h"
#include "health/provider_stats.h"
#include "routing/conversation_affinity.h"
#include "routing/endpoint_support.h"

#include "gateway/request_counters.h"
#include "health/balance_checker.h"
#include "report/redactor.h"

namespace balancer {

// One config snapshot and everything built from it. Immutable; a request keeps the snapshot it
// started with alive (shared_ptr), so a reload never disturbs a request in flight.
struct Runtime {
  Runtime(std::shared_ptr<const BalancerConfig> config, HealthTracker& health, ConversationAffinity& affinity,
          EndpointSupport& endpoint_support, Random& random, HttpTransport& transport, const Clock& clock,
          ProviderStats& stats, OAuthClient& oauth);
  std::shared_ptr<const BalancerConfig> config;
  ClientAuth auth;
  Router router;
  Forwarder forwarder;
  detail::Redactor redactor;  // this config's secrets, kept out of error bodies and log lines
};

class Gateway::Impl {
 public:
  explicit Impl(GatewayOptions options);
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // The steps of Gateway::create after construction (they log, so the log must exist).
  void start();

  std::shared_ptr<const Runtime> runtime() const;
  Result<ReloadSummary> reload(std::shared_ptr<const BalancerConfig> config);
  Result<ReloadSummary> reload_file();
  void tick(SteadyTime now);
  void set_listen_host(std::string host);
  std::string next_request_id();

  const GatewayOptions& options() const { return options_; }
  const Clock& clock() const { return clock_; }
  LogSink& log() const { return *log_; }
  HealthTracker& health() { return health_; }
  const HealthTracker& health() const { return health_; }
  ProviderStats& stats() { return stats_; }
  const ProviderStats& stats() const { return stats_; }
  const BalanceMonitor& balance() const { return balance_monitor_; }
  Deduplicator& dedup() { return dedup_; }
  const Deduplicator& dedup() const { return dedup_; }
  OAuthClient& oauth() const { return *oauth_; }
  detail::RequestCounters& counters() { return counters_; }
  const detail::RequestCounters& counters() const { return counters_; }
  const std::string& token_store_path() const { return token_store_path_; }

 private:
  Result<ReloadSummary> reload_locked(std::shared_ptr<const BalancerConfig> config);  // reload_mutex_ held
  void start_oauth();
  void start_balance_checks();

  GatewayOptions options_;
  const Clock& clock_;
  std::unique_ptr<HttpTransport> owned_transport_;
  HttpTransport& transport_;
  std::unique_ptr<Random> owned_random_;
  Random& random_;
  std::shared_ptr<StateStore> state_;
  std::shared_ptr<LogSink> log_;
  HealthTracker health_;
  BalanceMonitor balance_monitor_;
  ConversationAffinity affinity_;
  EndpointSupport endpoint_support_;
  Deduplicator dedup_;
  ProviderStats stats_;
  detail::RequestCounters counters_;
  std::string token_store_path_;
  std::unique_ptr<OAuthClient> oauth_;  // before runtime_: every Forwarder points at it

  mutable std::mutex runtime_mutex_;
  std::shared_ptr<const Runtime> runtime_;  // guarded by runtime_mutex_
  std::mutex reload_mutex_;                 // one reload at a time
  std::string listen_host_;                 // guarded by reload_mutex_; empty: not listening

  std::mutex tick_mutex_;
  std::optional<SteadyTime> last_oauth_round_;  // guarded by tick_mutex_
  std::atomic<std::uint64_t> request_counter_{0};
  // Last: its threads stop before anything they use is destroyed.
  std::unique_ptr<BalanceChecker> balance_checker_;
};

// The endpoint handlers (one file each group). `request` is complete (body read).
namespace endpoints {

// Takes the body out of `request`.
Response messages(Gateway::Impl& gateway, ClientRequest& request);
Response health(Gateway::Impl& gateway);
Response providers(Gateway::Impl& gateway, const ClientRequest& request);
Response metrics(Gateway::Impl& gateway, const ClientRequest& request);
Response reload(Gateway::Impl& gateway, const ClientRequest& request);
// The handler of an /oauth/* endpoint for `method`; nullptr when there is none (a wrong method
// on an /oauth/* path, or not an /oauth/* path at all).
using OAuthHandler = Response (*)(Gateway::Impl& gateway, const ClientRequest& request);
OAuthHandler find_oauth_handler(std::string_view method, std::string_view path);

// True when `path` is one of the /oauth/* endpoints (whatever the method), so that a wrong
// method gets 405 rather than 404.
bool is_oauth_path(std::string_view path);

}  // namespace endpoints

}  // namespace balancer
