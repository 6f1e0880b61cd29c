#include "app.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <condition_variable>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <balancer/curl_transport.h>

#include "http_routes.h"

namespace balancer::server {
namespace {

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

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

Runtime::Runtime(std::shared_ptr<const BalancerConfig> cfg, HealthTracker& health,
                 ConversationAffinity& affinity, EndpointSupport& endpoint_support, Random& random,
                 HttpTransport& transport, const Clock& clock, ProviderStats& stats, OAuthClient& oauth)
    : config(std::move(cfg)),
      auth(config->auth),
      router(config, health, random),
      forwarder(router, transport, auth, clock, stats,
                ForwarderOptions{.max_buffered_body = 64u << 20,
                                 .health = &health,
                                 .affinity = &affinity,
                                 .endpoint_support = &endpoint_support,
                                 .oauth = &oauth}) {}

App::App(AppOptions options)
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : Clock::real()),
      owned_transport_(options_.transport == nullptr ? make_curl_transport() : nullptr),
      transport_(options_.transport != nullptr ? *options_.transport : *owned_transport_),
      random_(make_default_random()),
      health_(HealthConfig::from(options_.config->settings), clock_),
      balance_monitor_(health_, clock_),
      dedup_(dedup_options(options_.config->settings), clock_) {}

Result<std::unique_ptr<App>> App::create(AppOptions options) {
  if (!options.config) {
    return make_error(ErrorCode::InvalidConfig, "no configuration given");
  }
  std::unique_ptr<App> app(new App(std::move(options)));
  const Settings& settings = app->options_.config->settings;
  app->log_ = std::make_unique<RequestLog>(app->clock_, parse_log_level(settings.log_level),
                                           settings.log_file_path);
  app->start_oauth();
  app->runtime_ = std::make_shared<const Runtime>(app->options_.config, app->health_,
                                                  app->affinity_, app->endpoint_support_, *app->random_, app->transport_,
                                                  app->clock_, app->stats_, *app->oauth_);
  for (const std::string& warning : app->options_.config->warnings) {
    app->log_->write(LogLevel::Warning, "config", {{"warning", warning}});
  }
  app->balance_monitor_.set_config(*app->options_.config);
  app->balance_checker_ = std::make_unique<BalanceChecker>(
      app->balance_monitor_, [log = app->log_.get()](const BalanceUpdate& u) {
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
  app->oauth_refresher_ = std::jthread([raw = app.get()](std::stop_token stop) { raw->refresh_oauth_accounts(stop); });
  app->configure_server(settings);
  return app;
}

void App::refresh_oauth_accounts(std::stop_token stop) {
  constexpr std::chrono::seconds kOAuthRefreshRound{30};
  std::mutex mutex;
  std::condition_variable_any wake;  // only the stop request wakes it early
  std::unique_lock lock(mutex);
  while (!stop.stop_requested()) {
    wake.wait_for(lock, stop, kOAuthRefreshRound, [] { return false; });
    if (stop.stop_requested()) {
      return;
    }
    for (const auto& [email, result] : oauth_->refresh_due()) {
      if (result) {
        log_->write(LogLevel::Info, "oauth account refreshed ahead of expiry", {{"account_email", email}});
      } else {
        log_->write(LogLevel::Warning, "oauth refresh failed", {{"account_email", email}, {"error", result.error().message}});
      }
    }
  }
}

App::~App() { stop(); }

void App::start_oauth() {
  const OAuthSettings& settings = options_.config->oauth;
  token_store_path_ = resolve_token_store_path(settings, options_.env);
  oauth_ = std::make_unique<OAuthClient>(settings, transport_, clock_, make_file_token_store(token_store_path_));
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

void App::configure_server(const Settings& settings) {
  if (!settings.tls_cert_file.empty()) {
    server_ = std::make_unique<httplib::SSLServer>(settings.tls_cert_file.c_str(),
                                                   settings.tls_key_file.c_str());
  } else {
    server_ = std::make_unique<httplib::Server>();
  }
  const std::size_t max_connections = settings.max_connections;
  server_->new_task_queue = [this, max_connections] {
    // Headroom above max_connections so that excess connections are answered with 503
    // overloaded_error instead of waiting unseen in the queue.
    auto* queue = new GrowingTaskQueue(8, max_connections + 64);
    queue_ = queue;
    return queue;
  };
  server_->set_tcp_nodelay(true);
  server_->set_keep_alive_max_count(100000);
  server_->set_keep_alive_timeout(30);
  server_->set_read_timeout(std::chrono::seconds(60));
  // A client that stops reading a stream for longer than the idle budget is given up on.
  server_->set_write_timeout(std::chrono::duration_cast<std::chrono::seconds>(
      settings.timeouts.read_timeout + std::chrono::seconds(1)));
  server_->set_socket_options([this](int fd) {
    int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    listen_fd_ = fd;
  });
  install_routes(*server_, *this);
}

Result<int> App::bind(const std::string& host, int port) {
  const auto config = runtime()->config;
  if (!is_loopback(host) && !config->auth.enabled &&
      !config->settings.allow_unauthenticated_remote) {
    return make_error(ErrorCode::InvalidConfig,
                      fmt::format("settings.host: refusing to listen on {} without client auth "
                                  "(set auth.enabled, or settings.allow_unauthenticated_remote)",
                                  host));
  }
  if (!server_->is_valid()) {
    return make_error(ErrorCode::InvalidConfig, "settings.tls_cert_file/tls_key_file: cannot load the TLS certificate or key");
  }
  int bound = port;
  if (port == 0) {
    bound = server_->bind_to_any_port(host);
  } else if (!server_->bind_to_port(host, port)) {
    bound = -1;
  }
  if (bound < 0) {
    return make_error(ErrorCode::InvalidConfig, fmt::format("cannot listen on {}:{}", host, port));
  }
  // httplib listens with a backlog of 5; a burst of Claude Code sessions needs more.
  if (listen_fd_ >= 0) {
    ::listen(listen_fd_, 1024);
  }
  log_->write(LogLevel::Info, "listening", {{"host", host}, {"port", bound}});
  return bound;
}

void App::run() { server_->listen_after_bind(); }

void App::stop() {
  if (server_ && server_->is_running()) {
    server_->stop();
  }
}

std::shared_ptr<const Runtime> App::runtime() const {
  std::lock_guard lock(runtime_mutex_);
  return runtime_;
}

Result<std::shared_ptr<const Runtime>> App::reload() {
  std::lock_guard reload_lock(reload_mutex_);
  if (options_.config_path.empty()) {
    return make_error(ErrorCode::InvalidConfig, "no config file to reload (started without --config)");
  }
  auto parsed = load_config(options_.config_path, options_.env);
  if (!parsed) {
    log_->write(LogLevel::Error, "reload rejected", {{"error", parsed.error().message}});
    return tl::unexpected(parsed.error());
  }
  auto config = std::make_shared<const BalancerConfig>(std::move(*parsed));
  auto next = std::make_shared<const Runtime>(config, health_, affinity_, endpoint_support_, *random_, transport_,
                                              clock_, stats_, *oauth_);
  oauth_->set_settings(config->oauth);
  if (resolve_token_store_path(config->oauth, options_.env) != token_store_path_) {
    log_->write(LogLevel::Warning, "oauth.token_store_path changed: takes effect after a restart",
                {{"store", token_store_path_}});
  }
  health_.set_config(HealthConfig::from(config->settings));
  dedup_.set_options(dedup_options(config->settings));
  balance_monitor_.set_config(*config);
  balance_checker_->wake();
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
  log_->write(LogLevel::Info, "config reloaded", {{"providers", config->providers.size()},
                                                  {"routes", config->model_routes.size()}});
  return next;
}

std::string App::next_request_id() {
  return fmt::format("req_{:012x}", ++request_counter_);
}

}  // namespace balancer::server
