// gateway.h — the balancer as one object: give it a config, hand it client requests, send back
// what it answers. The composition root of the request path (spec §3–§9): it owns the shared
// state (a StateStore with health, affinity and counters; the Deduplicator; the OAuth
// accounts; balance checks) and a reloadable, immutable snapshot of what a config builds
// (client auth, Router, Forwarder). Front ends — balancer-server on cpp-httplib, a test, another
// gateway — only translate their HTTP requests into ClientRequest and Response back.
//
//   auto gateway = balancer::Gateway::create({.config = config});
//   balancer::Response r = (*gateway)->handle({"POST", "/v1/messages", "", headers, body});
//   // send r.status, r.headers, then r.body or every r.stream->next(); then r.on_finish(true)
//
// Thread-safe: handle(), admit(), reload(), the reports and tick() may be called from any
// number of threads at once. A request keeps the config snapshot it started with, so a reload
// never disturbs a request in flight.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <balancer/clock.h>
#include <balancer/config.h>
#include <balancer/deduplicator.h>
#include <balancer/error.h>
#include <balancer/http.h>
#include <balancer/log_sink.h>
#include <balancer/oauth_client.h>
#include <balancer/random.h>
#include <balancer/response.h>
#include <balancer/state_store.h>

namespace balancer {

// One client request as a front end received it. Value type.
struct ClientRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // percent-decoded, without the query string, e.g. "/v1/messages"
  std::string query;   // raw, without '?'; may be empty
  Headers headers;
  std::string body;
  // Optional, from the front end: true once the client has gone away (closed its connection).
  // Polled while the balancer waits for a whole upstream answer, so that the upstream call is
  // cancelled instead of running for nobody.
  std::function<bool()> client_gone = {};
};

// One extra sample for GET /metrics from the front end (e.g. busy connections).
struct GaugeSample {
  std::string name;  // without the balancer_ prefix
  std::string help;
  double value = 0;
};

struct GatewayOptions {
  std::shared_ptr<const BalancerConfig> config;  // required, already validated
  std::string config_path;                       // re-read by reload() and POST /providers/reload; empty: none
  EnvLookup env;                                 // ${VAR} on reload; XDG_STATE_HOME / HOME for the token store
  HttpTransport* transport = nullptr;            // nullptr: the Gateway owns a libcurl transport
  const Clock* clock = nullptr;                  // nullptr: Clock::real()
  Random* random = nullptr;                      // nullptr: the default random source
  std::shared_ptr<StateStore> state;             // nullptr: in memory
  std::shared_ptr<LogSink> log;                  // nullptr: JSON lines as settings.log_* say
  std::unique_ptr<TokenStore> token_store;       // nullptr: a file at token_store_path()
  // Balance checks run their commands on threads of their own; off for a Gateway that must
  // start no thread (tick() still schedules nothing then).
  bool run_balance_checks = true;
  // Extra gauges for GET /metrics, called on the request thread.
  std::function<std::vector<GaugeSample>()> gauges;
};

// What a reload changed. Value type.
struct ReloadSummary {
  std::size_t providers = 0;
  std::size_t routes = 0;
  std::vector<std::string> warnings;
};

class Gateway {
 public:
  static Result<std::unique_ptr<Gateway>> create(GatewayOptions options);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Every endpoint of spec §3 (messages, count_tokens, /health, /providers, /providers/reload,
  // /metrics, /oauth/*, and 404/405 with an Anthropic error body). Never throws. The caller
  // must call `on_finish` of the answer (always set) once it was sent or the client left, while
  // `stream` still exists: it logs and counts the request.
  Response handle(ClientRequest request);

  // The checks that need no body, for front ends that read the body only after them: client
  // auth, unknown paths and wrong methods, a declared Content-Length over the limit. nullopt:
  // go on and read at most body_limit() bytes; else the answer to send without reading.
  std::optional<Response> admit(const ClientRequest& head) const;
  // The most body bytes `path` accepts (settings.max_request_body_bytes for the Messages API,
  // 64 KiB for the other endpoints).
  std::size_t body_limit(std::string_view path) const;

  // Re-reads options.config_path (or takes `config`): the snapshot changes only when the whole
  // config is valid; health, affinity, counters, OAuth accounts and flights are kept.
  Result<ReloadSummary> reload();
  Result<ReloadSummary> reload(std::shared_ptr<const BalancerConfig> config);

  // The address the front end listens on: from now on a reload that would make listening there
  // unsafe (check_listen_safety: a non-loopback host without client auth) is refused.
  void set_listen_host(std::string host);

  // Periodic work, every few seconds from one thread: the OAuth refresh round ahead of expiry
  // (every 30 s of `now`) and a nudge to the balance checks.
  void tick(SteadyTime now);

  // The reports behind GET /health (bool: some provider usable), /providers and /metrics.
  std::pair<bool, nlohmann::json> health() const;
  nlohmann::json providers() const;
  std::string metrics() const;
  std::vector<OAuthAccountStatus> oauth_status() const;

  std::shared_ptr<const BalancerConfig> config() const;
  const Clock& clock() const;
  LogSink& log() const;
  OAuthClient& oauth() const;
  Deduplicator& dedup() const;
  // The OAuth token store file in use (oauth.token_store_path, else the user's state dir).
  const std::string& token_store_path() const;

  class Impl;  // private: libbalancer/src/gateway/gateway_impl.h

 private:
  explicit Gateway(std::unique_ptr<Impl> impl);
  Response dispatch(ClientRequest request);
  std::unique_ptr<Impl> impl_;
};

// Where the OAuth token store lives: `oauth.token_store_path` when set (a leading "~/" is the
// home directory), else $XDG_STATE_HOME/balancer/oauth_tokens.json, else
// $HOME/.local/state/balancer/oauth_tokens.json, else ./oauth_tokens.json.
std::string resolve_token_store_path(const OAuthSettings& settings, const EnvLookup& env);

}  // namespace balancer
