// gateway.cpp — Gateway: builds the shared state and the config snapshot, reloads it, runs the
// periodic work, and dispatches every request to its endpoint handler.
#include <balancer/gateway.h>

#include <array>
#include <exception>

#include <fmt/format.h>

#include <balancer/curl_transport.h>
#include "report/metrics_report.h"
#include "report/status_report.h"

#include "gateway/exchange.h"
#include "gateway/gateway_impl.h"

namespace balancer {
namespace {

constexpr std::chrono::seconds kOAuthRefreshRound{30};
constexpr std::size_t kSmallBodyLimit = 64u << 10;  // every endpoint but the Messages API

DedupOptions dedup_options(const Settings& settings) {
  DedupOptions options;
  options.max_flight_bytes = settings.deduplication.max_flight_bytes;
  options.max_flights = settings.deduplication.max_flights;
  options.cache_ttl = settings.cache_ttl;
  options.max_cache_entries = settings.max_cache_size;
  return options;
}

// The value of an environment variable that names a directory, when set to an absolute path
// (the XDG base directory spec ignores relative ones).
std::optional<std::string> env_dir(const EnvLookup& env, const std::string& name) {
  if (!env) {
    return std::nullopt;
  }
  auto value = env(name);
  if (!value || value->empty() || value->front() != '/') {
    return std::nullopt;
  }
  return value;
}

bool is_messages_path(std::string_view path) { return path == "/v1/messages" || path == "/v1/messages/count_tokens"; }

// What an endpoint needs before its body is read.
struct Route {
  enum class Kind { Messages, Health, Metrics, Providers, Reload, OAuth, WrongMethod, Unknown };
  Kind kind = Kind::Unknown;
  ClientAuth::Access access = ClientAuth::Access::Client;
  bool needs_auth = true;
};

Route route_of(const ClientRequest& r) {
  using Kind = Route::Kind;
  const bool get = r.method == "GET" || r.method == "HEAD";
  const bool post = r.method == "POST";
  auto only = [&](bool method_ok, Kind kind, ClientAuth::Access access, bool auth) {
    return method_ok ? Route{kind, access, auth} : Route{Kind::WrongMethod, access, false};
  };
  if (is_messages_path(r.path)) return only(post, Kind::Messages, ClientAuth::Access::Client, true);
  if (r.path == "/health") return only(get, Kind::Health, ClientAuth::Access::Client, false);
  if (r.path == "/metrics") return only(get, Kind::Metrics, ClientAuth::Access::Client, true);
  if (r.path == "/providers") return only(get, Kind::Providers, ClientAuth::Access::Client, true);
  if (r.path == "/providers/reload") return only(post, Kind::Reload, ClientAuth::Access::Admin, true);
  if (endpoints::is_oauth_path(r.path)) {
    return only(endpoints::find_oauth_handler(r.method, r.path) != nullptr, Kind::OAuth, ClientAuth::Access::Admin,
                true);
  }
  return Route{Kind::Unknown, ClientAuth::Access::Client, false};
}

}  // namespace

std::string resolve_token_store_path(const OAuthSettings& settings, const EnvLookup& env) {
  const std::string& configured = settings.token_store_path;
  if (!configured.empty()) {
    auto home = configured.rfind("~/", 0) == 0 ? env_dir(env, "HOME") : std::nullopt;
    return home ? *home + configured.substr(1) : configured;
  }
  if (auto state = env_dir(env, "XDG_STATE_HOME")) {
    return *state + "/balancer/oauth_tokens.json";
  }
  if (auto home = env_dir(env, "HOME")) {
    return *home + "/.local/state/balancer/oauth_tokens.json";
  }
  return "./oauth_tokens.json";
}

Runtime::Runtime(std::shared_ptr<const BalancerConfig> cfg, HealthTracker& health, ConversationAffinity& affinity,
                 EndpointSupport& endpoint_support, Random& random, HttpTransport& transport, const Clock& clock,
                 ProviderStats& stats, OAuthClient& oauth)
    : config(std::move(cfg)),
      auth(config->auth),
      router(config, health, random),
      forwarder(router, transport, auth, clock, stats,
                ForwarderOptions{.max_buffered_body = 64u << 20,
                                 .health = &health,
                                 .affinity = &affinity,
                                 .endpoint_support = &endpoint_support,
                                 .oauth = &oauth}),
      redactor(*config) {}

Gateway::Impl::Impl(GatewayOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : Clock::real()),
      owned_transport_(options_.transport == nullptr ? make_curl_transport() : nullptr),
      transport_(options_.transport != nullptr ? *options_.transport : *owned_transport_),
      owned_random_(options_.random == nullptr ? make_default_random() : nullptr),
      random_(options_.random != nullptr ? *options_.random : *owned_random_),
      state_(options_.state ? options_.state : make_memory_state_store()),
      log_(options_.log ? options_.log
                        : make_jsonl_log(clock_, parse_log_level(options_.config->settings.log_level),
                                         options_.config->settings.log_file_path)),
      health_(HealthConfig::from(options_.config->settings), clock_, state_),
      balance_monitor_(health_, clock_),
      affinity_(state_),
      dedup_(dedup_options(options_.config->settings), clock_),
      stats_(state_) {}

Gateway::Impl::~Impl() { balance_checker_.reset(); }

void Gateway::Impl::start() {
  start_oauth();
  runtime_ = std::make_shared<const Runtime>(options_.config, health_, affinity_, endpoint_support_, random_,
                                             transport_, clock_, stats_, *oauth_);
  for (const std::string& warning : options_.config->warnings) {
    log_->write(LogLevel::Warning, "config", {{"warning", warning}});
  }
  balance_monitor_.set_config(*options_.config);
  if (options_.run_balance_checks) {
    start_balance_checks();
  }
}

void Gateway::Impl::start_oauth() {
  const OAuthSettings& settings = options_.config->oauth;
  token_store_path_ = resolve_token_store_path(settings, options_.env);
  std::unique_ptr<TokenStore> store =
      options_.token_store ? std::move(options_.token_store) : make_file_token_store(token_store_path_);
  oauth_ = std::make_unique<OAuthClient>(settings, transport_, clock_, std::move(store));
  if (auto loaded = oauth_->load(); !loaded) {
    // The message names the file and the problem, never its content.
    log_->write(LogLevel::Error, "oauth token store not loaded; starting without stored accounts",
                {{"store", token_store_path_}, {"error", loaded.error().message}});
    return;
  }
  const std::vector<OAuthAccountStatus> accounts = oauth_->status();
  nlohmann::json emails = nlohmann::json::array();
  for (const OAuthAccountStatus& account : accounts) {
    emails.push_back(account.account_email);
  }
  log_->write(LogLevel::Info, "oauth accounts loaded",
              {{"store", token_store_path_}, {"accounts", accounts.size()}, {"emails", std::move(emails)}});
}

void Gateway::Impl::start_balance_checks() {
  balance_checker_ = std::make_unique<BalanceChecker>(balance_monitor_, [log = log_](const BalanceUpdate& u) {
    if (!u.tracked) {
      return;
    }
    if (!u.error.empty()) {
      log->write(LogLevel::Warning, "balance check failed", {{"provider", u.provider}, {"error", u.error}});
    } else if (u.changed) {
      log->write(u.low ? LogLevel::Warning : LogLevel::Info,
                 u.low ? "balance low: provider unavailable" : "balance restored",
                 {{"provider", u.provider}, {"balance", *u.balance}, {"threshold", u.threshold}});
    }
  });
}

std::shared_ptr<const Runtime> Gateway::Impl::runtime() const {
  std::lock_guard lock(runtime_mutex_);
  return runtime_;
}

Result<ReloadSummary> Gateway::Impl::reload_file() {
  // Parse and swap under one lock: two reloads racing a file edit never leave the older file.
  std::lock_guard reload_lock(reload_mutex_);
  if (options_.config_path.empty()) {
    return make_error(ErrorCode::InvalidConfig, "no config file to reload (started without --config)");
  }
  auto parsed = load_config(options_.config_path, options_.env);
  if (!parsed) {
    log_->write(LogLevel::Error, "reload rejected", {{"error", parsed.error().message}});
    return tl::unexpected(parsed.error());
  }
  return reload_locked(std::make_shared<const BalancerConfig>(std::move(*parsed)));
}

Result<ReloadSummary> Gateway::Impl::reload(std::shared_ptr<const BalancerConfig> config) {
  std::lock_guard reload_lock(reload_mutex_);
  return reload_locked(std::move(config));
}

Result<ReloadSummary> Gateway::Impl::reload_locked(std::shared_ptr<const BalancerConfig> config) {
  if (!config) {
    return make_error(ErrorCode::InvalidConfig, "no configuration given");
  }
  if (!listen_host_.empty()) {
    // The start-up rule holds after a reload too: it cannot switch auth off on a public address.
    if (auto safe = check_listen_safety(*config, listen_host_); !safe) {
      log_->write(LogLevel::Error, "reload rejected", {{"error", safe.error().message}});
      return tl::unexpected(safe.error());
    }
  }
  auto next = std::make_shared<const Runtime>(config, health_, affinity_, endpoint_support_, random_, transport_,
                                              clock_, stats_, *oauth_);
  oauth_->set_settings(config->oauth);
  if (resolve_token_store_path(config->oauth, options_.env) != token_store_path_) {
    log_->write(LogLevel::Warning, "oauth.token_store_path changed: takes effect after a restart",
                {{"store", token_store_path_}});
  }
  health_.set_config(HealthConfig::from(config->settings));
  dedup_.set_options(dedup_options(config->settings));
  balance_monitor_.set_config(*config);
  if (balance_checker_) {
    balance_checker_->wake();
  }
  std::shared_ptr<const Runtime> previous;
  {
    std::lock_guard lock(runtime_mutex_);
    previous = runtime_;
    runtime_ = next;
  }
  const Settings& old_settings = previous->config->settings;
  if (old_settings.host != config->settings.host || old_settings.port != config->settings.port) {
    log_->write(LogLevel::Warning, "settings.host/port changed: takes effect after a restart");
  }
  log_->set_level(parse_log_level(config->settings.log_level));
  for (const std::string& warning : config->warnings) {
    log_->write(LogLevel::Warning, "config", {{"warning", warning}});
  }
  log_->write(LogLevel::Info, "config reloaded",
              {{"providers", config->providers.size()}, {"routes", config->model_routes.size()}});
  return ReloadSummary{config->providers.size(), config->model_routes.size(), config->warnings};
}

void Gateway::Impl::set_listen_host(std::string host) {
  std::lock_guard lock(reload_mutex_);
  listen_host_ = std::move(host);
}

void Gateway::Impl::tick(SteadyTime now) {
  {
    // The first round comes kOAuthRefreshRound after the first tick (accounts were loaded
    // just before); then one round per kOAuthRefreshRound.
    std::lock_guard lock(tick_mutex_);
    if (!last_oauth_round_) {
      last_oauth_round_ = now;
      return;
    }
    if (now - *last_oauth_round_ < kOAuthRefreshRound) {
      return;
    }
    last_oauth_round_ = now;
  }
  for (const auto& [email, result] : oauth_->refresh_due()) {
    if (result) {
      log_->write(LogLevel::Info, "oauth account refreshed ahead of expiry", {{"account_email", email}});
    } else {
      log_->write(LogLevel::Warning, "oauth refresh failed",
                  {{"account_email", email}, {"error", result.error().message}});
    }
  }
  if (balance_checker_) {
    balance_checker_->wake();
  }
}

std::string Gateway::Impl::next_request_id() { return fmt::format("req_{:012x}", ++request_counter_); }

// --- Gateway ------------------------------------------------------------------------------------

Result<std::unique_ptr<Gateway>> Gateway::create(GatewayOptions options) {
  if (!options.config) {
    return make_error(ErrorCode::InvalidConfig, "no configuration given");
  }
  auto impl = std::make_unique<Impl>(std::move(options));
  impl->start();
  return std::unique_ptr<Gateway>(new Gateway(std::move(impl)));
}

Gateway::Gateway(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Gateway::~Gateway() = default;

std::size_t Gateway::body_limit(std::string_view path) const {
  return is_messages_path(path) ? impl_->runtime()->config->settings.max_request_body_bytes : kSmallBodyLimit;
}

std::optional<Response> Gateway::admit(const ClientRequest& head) const {
  const Route route = route_of(head);
  if (route.kind == Route::Kind::Unknown) {
    return detail::error_response(404, "not_found_error", "no such endpoint: " + head.path);
  }
  if (route.kind == Route::Kind::WrongMethod) {
    return detail::error_response(405, "invalid_request_error",
                                  "method " + head.method + " not allowed on " + head.path);
  }
  if (route.needs_auth) {
    if (auto refused = detail::check_auth(impl_->runtime()->auth, head, route.access)) {
      // Who tried, never what they sent.
      impl_->log().write(LogLevel::Info, "client authentication failed",
                         {{"method", head.method},
                          {"path", head.path},
                          {"status", refused->status},
                          {"client_address", detail::header_value(head, "REMOTE_ADDR")}});
      return refused;
    }
  }
  const std::size_t limit = body_limit(head.path);
  if (detail::content_length(head).value_or(0) > limit || head.body.size() > limit) {
    return detail::error_response(413, "request_too_large",
                                  fmt::format("request body exceeds the {} byte limit", limit));
  }
  return std::nullopt;
}

Response Gateway::handle(ClientRequest request) {
  Response answer = dispatch(std::move(request));
  if (!answer.on_finish) {
    answer.on_finish = [](bool /*delivered*/) {};  // the contract holds for every answer
  }
  return answer;
}

Response Gateway::dispatch(ClientRequest request) {
  try {
    if (auto refused = admit(request)) {
      return std::move(*refused);
    }
    switch (route_of(request).kind) {
      case Route::Kind::Messages: return endpoints::messages(*impl_, request);
      case Route::Kind::Health: return endpoints::health(*impl_);
      case Route::Kind::Metrics: return endpoints::metrics(*impl_, request);
      case Route::Kind::Providers: return endpoints::providers(*impl_, request);
      case Route::Kind::Reload: return endpoints::reload(*impl_, request);
      case Route::Kind::OAuth: return endpoints::find_oauth_handler(request.method, request.path)(*impl_, request);
      case Route::Kind::WrongMethod:
      case Route::Kind::Unknown: break;
    }
    return detail::error_response(404, "not_found_error", "no such endpoint: " + request.path);
  } catch (const std::exception& e) {
    impl_->log().write(LogLevel::Error, "handler exception", {{"path", request.path}, {"error", e.what()}});
  } catch (...) {
    impl_->log().write(LogLevel::Error, "handler exception", {{"path", request.path}, {"error", "unknown"}});
  }
  return detail::error_response(500, "api_error", "internal error while serving the request");
}

Result<ReloadSummary> Gateway::reload() { return impl_->reload_file(); }
Result<ReloadSummary> Gateway::reload(std::shared_ptr<const BalancerConfig> config) {
  return impl_->reload(std::move(config));
}
void Gateway::tick(SteadyTime now) { impl_->tick(now); }
void Gateway::set_listen_host(std::string host) { impl_->set_listen_host(std::move(host)); }

std::pair<bool, nlohmann::json> Gateway::health() const {
  return health_report(*impl_->runtime()->config, impl_->health(), &impl_->oauth());
}

std::shared_ptr<const BalancerConfig> Gateway::config() const { return impl_->runtime()->config; }
const Clock& Gateway::clock() const { return impl_->clock(); }
LogSink& Gateway::log() const { return impl_->log(); }
OAuthClient& Gateway::oauth() const { return impl_->oauth(); }
Deduplicator& Gateway::dedup() const { return impl_->dedup(); }
const std::string& Gateway::token_store_path() const { return impl_->token_store_path(); }
std::vector<OAuthAccountStatus> Gateway::oauth_status() const { return impl_->oauth().status(); }

}  // namespace balancer
