#include "oauth_routes.h"

#include <algorithm>
#include <array>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <balancer/oauth_client.h>
#include <balancer/router.h>

#include "app.h"
#include "route_helpers.h"

namespace balancer::server {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 6> kOAuthPaths = {
    "/oauth/authorize", "/oauth/generate-url", "/oauth/callback",
    "/oauth/exchange-code", "/oauth/status", "/oauth/tokens"};
// Followed by one path segment: the account email.
constexpr std::array<std::string_view, 2> kOAuthPrefixes = {"/oauth/refresh/", "/oauth/tokens/"};

constexpr std::size_t kMaxBodyBytes = 64u << 10;  // an exchange body is a code and an email

constexpr std::string_view kInstructions =
    "Open the URL, log in, then POST the code shown (code#state) to /oauth/exchange-code with "
    "{\"code\": …, \"account_email\": …}";

json optional_time(const std::optional<WallTime>& time) {
  return time ? json(iso8601_utc(*time)) : json();
}

json optional_string(const std::string& value) { return value.empty() ? json() : json(value); }

// Answers an error of the OAuth client: 400 for a refused request or code, 404 for an unknown
// account, 409 for an account that needs a new login, 502 when the token endpoint failed.
void send_oauth_error(httplib::Response& res, const Error& error) {
  switch (error.code) {
    case ErrorCode::InvalidRequest:
    case ErrorCode::InvalidConfig:
      send_error(res, 400, "invalid_request_error", error.message);
      return;
    case ErrorCode::NotFound:
      send_error(res, 404, "not_found_error", error.message);
      return;
    case ErrorCode::Unauthorized:
      send_error(res, 409, "invalid_request_error", error.message);
      return;
    case ErrorCode::UpstreamConnect:
    case ErrorCode::UpstreamTimeout:
    case ErrorCode::UpstreamProtocol:
    case ErrorCode::UpstreamTls:
      send_error(res, 502, "api_error", "the OAuth token endpoint failed: " + error.message);
      return;
    default:
      send_error(res, 500, "api_error", error.message);
      return;
  }
}

std::optional<OAuthAccountStatus> find_account(const OAuthClient& oauth, std::string_view email) {
  const std::string key = normalize_account_email(email);
  for (OAuthAccountStatus& account : oauth.status()) {
    if (account.account_email == key) {
      return std::move(account);
    }
  }
  return std::nullopt;
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

bool wants_html(const httplib::Request& req) {
  return req.get_header_value("Accept").find("text/html") != std::string::npos;
}

// Whether the OAuth provider `provider` may be served by `email`: it binds the account itself,
// a route entry binds it to the provider, or the provider is unbound (used by a route entry
// without an account, or by no route at all) so any logged-in account may serve it.
bool serves_account(const BalancerConfig& config, const ProviderConfig& provider, const std::string& email) {
  if (provider.auth_type != AuthType::OAuth) {
    return false;
  }
  if (!provider.account_email.empty() && normalize_account_email(provider.account_email) == email) {
    return true;
  }
  bool routed = false;
  bool unbound_entry = false;
  for (const ModelRoute& route : config.model_routes) {
    for (const RouteEntry& entry : route.entries) {
      if (entry.provider != provider.name) {
        continue;
      }
      routed = true;
      if (!entry.account_email.empty() && normalize_account_email(entry.account_email) == email) {
        return true;
      }
      unbound_entry = unbound_entry || entry.account_email.empty();
    }
  }
  return provider.account_email.empty() && (unbound_entry || !routed);
}

json providers_of(App& app, const BalancerConfig& config, const std::string& email) {
  json providers = json::array();
  for (const ProviderConfig& provider : config.providers) {
    if (!serves_account(config, provider, email)) {
      continue;
    }
    const std::string key = health_key(provider, email);
    const HealthSnapshot health = app.health().snapshot(key);
    providers.push_back({{"provider", provider.name},
                         {"enabled", provider.enabled},
                         {"health_key", key},
                         {"healthy", health.healthy},
                         {"status", health.status},
                         {"failure_count", health.failure_count},
                         {"cooldown_remaining_s", health.cooldown_remaining_s},
                         {"last_error", optional_string(health.last_error)}});
  }
  return providers;
}

json account_json(App& app, const BalancerConfig& config, const OAuthAccountStatus& account) {
  return {{"account_email", account.account_email},
          {"state", account.state},
          {"expires_at", iso8601_utc(account.expires_at)},
          {"expires_in_s", account.expires_in_s},
          {"has_refresh_token", account.has_refresh_token},
          {"refresh_in_flight", account.refresh_in_flight},
          {"backoff_remaining_s", account.backoff_remaining_s},
          {"last_error", optional_string(account.last_error)},
          {"last_refresh", optional_time(account.last_refresh)},
          {"requests", account.requests},
          {"last_used", optional_time(account.last_used)},
          {"scopes", account.scopes},
          {"providers", providers_of(app, config, account.account_email)}};
}

// The account that was just stored: its email and expiry.
json logged_in_json(App& app, const std::string& email) {
  const auto account = find_account(app.oauth(), email);
  return {{"account_email", email},
          {"expires_at", account ? json(iso8601_utc(account->expires_at)) : json()},
          {"status", "logged_in"}};
}

void handle_authorize(App& app, const httplib::Request& req, httplib::Response& res) {
  if (!authorize(app, req, res, ClientAuth::Access::Admin)) {
    return;
  }
  const LoginFlow flow = app.oauth().begin_login(req.get_param_value("account_email"));
  app.log().write(LogLevel::Info, "oauth login started",
                  {{"account_email", optional_string(flow.account_email)}, {"via", "authorize"}});
  res.set_redirect(flow.url, 302);
  res.set_content(fmt::format("<!doctype html><p>Continue to <a href=\"{0}\">{0}</a></p>\n", html_escape(flow.url)),
                  "text/html; charset=utf-8");
}

void handle_generate_url(App& app, const httplib::Request& req, httplib::Response& res) {
  if (!authorize(app, req, res, ClientAuth::Access::Admin)) {
    return;
  }
  const LoginFlow flow = app.oauth().begin_login(req.get_param_value("account_email"));
  app.log().write(LogLevel::Info, "oauth login started",
                  {{"account_email", optional_string(flow.account_email)}, {"via", "generate-url"}});
  send_json(res, 200, {{"url", flow.url},
                       {"state", flow.state},
                       {"expires_at", iso8601_utc(flow.expires_at)},
                       {"account_email", optional_string(flow.account_email)},
                       {"instructions", kInstructions}});
}

// Exchanges the code and answers with the stored account (or the error).
void exchange(App& app, httplib::Response& res, std::string_view code, std::string_view email,
              std::string_view state, bool html) {
  auto exchanged = app.oauth().exchange_code(code, email, state);
  if (!exchanged) {
    app.log().write(LogLevel::Warning, "oauth code exchange failed",
                    {{"error", exchanged.error().message}, {"error_code", to_string(exchanged.error().code)}});
    send_oauth_error(res, exchanged.error());
    return;
  }
  app.log().write(LogLevel::Info, "oauth account logged in", {{"account_email", *exchanged}});
  if (html) {
    res.status = 200;
    res.set_content(fmt::format("<!doctype html><title>balancer: logged in</title>"
                                "<p>Logged in as <b>{}</b>. The balancer stored the account; "
                                "you can close this page.</p>\n",
                                html_escape(*exchanged)),
                    "text/html; charset=utf-8");
    return;
  }
  send_json(res, 200, logged_in_json(app, *exchanged));
}

void handle_callback(App& app, const httplib::Request& req, httplib::Response& res) {
  if (!authorize(app, req, res, ClientAuth::Access::Admin)) {
    return;
  }
  if (req.has_param("error")) {
    // The authorization server refused (e.g. access_denied); its error is no secret.
    send_error(res, 400, "invalid_request_error",
               "the login was refused: " + req.get_param_value("error") +
                   (req.has_param("error_description") ? ": " + req.get_param_value("error_description") : ""));
    return;
  }
  if (req.get_param_value("code").empty()) {
    send_error(res, 400, "invalid_request_error", "code: missing query parameter");
    return;
  }
  exchange(app, res, req.get_param_value("code"), req.get_param_value("account_email"),
           req.get_param_value("state"), wants_html(req));
}

void handle_exchange_code(App& app, const httplib::Request& req, httplib::Response& res) {
  if (!authorize(app, req, res, ClientAuth::Access::Admin)) {
    return;
  }
  if (req.body.size() > kMaxBodyBytes) {
    send_error(res, 413, "request_too_large", fmt::format("request body exceeds the {} byte limit", kMaxBodyBytes));
    return;
  }
  const json body = json::parse(req.body, nullptr, false);
  if (!body.is_object()) {
    send_error(res, 400, "invalid_request_error",
               "request body must be a JSON object {\"code\": \"…\", \"account_email\": \"…\"}");
    return;
  }
  const auto string_field = [&](const char* name) -> std::optional<std::string> {
    const auto it = body.find(name);
    if (it == body.end() || it->is_null()) {
      return std::string();
    }
    if (!it->is_string()) {
      return std::nullopt;
    }
    return it->get<std::string>();
  };
  const auto code = string_field("code");
  const auto email = string_field("account_email");
  const auto state = string_field("state");
  if (!code || code->empty()) {
    send_error(res, 400, "invalid_request_error",
               "code: required, a string (the code shown after the login, as code#state)");
    return;
  }
  if (!email) {
    send_error(res, 400, "invalid_request_error", "account_email: must be a string");
    return;
  }
  if (!state) {
    send_error(res, 400, "invalid_request_error", "state: must be a string");
    return;
  }
  exchange(app, res, *code, *email, *state, false);
}

void handle_status(App& app, const httplib::Request& req, httplib::Response& res) {
  if (!authorize(app, req, res, ClientAuth::Access::Admin)) {
    return;
  }
  const auto runtime = app.runtime();
  json accounts = json::array();
  for (const OAuthAccountStatus& account : app.oauth().status()) {
    accounts.push_back(account_json(app, *runtime->config, account));
  }
  send_json(res, 200, {{"accounts", std::move(accounts)},
                       {"pending_logins", app.oauth().pending_flows()},
                       {"token_store", app.token_store_path()}});
}

void handle_refresh(App& app, const httplib::Request& req, httplib::Response& res) {
  if (!authorize(app, req, res, ClientAuth::Access::Admin)) {
    return;
  }
  const std::string email = normalize_account_email(req.matches[1].str());
  if (auto refreshed = app.oauth().refresh(email); !refreshed) {
    app.log().write(LogLevel::Warning, "oauth refresh failed",
                    {{"account_email", email}, {"error", refreshed.error().message}});
    send_oauth_error(res, refreshed.error());
    return;
  }
  app.log().write(LogLevel::Info, "oauth token refreshed", {{"account_email", email}, {"via", "api"}});
  const auto account = find_account(app.oauth(), email);
  send_json(res, 200, {{"account_email", email},
                       {"expires_at", account ? json(iso8601_utc(account->expires_at)) : json()}});
}

void handle_remove(App& app, const httplib::Request& req, httplib::Response& res) {
  if (!authorize(app, req, res, ClientAuth::Access::Admin)) {
    return;
  }
  const std::string email = normalize_account_email(req.matches[1].str());
  if (!app.oauth().remove(email)) {
    send_error(res, 404, "not_found_error", "no stored OAuth account " + email);
    return;
  }
  app.log().write(LogLevel::Info, "oauth account removed", {{"account_email", email}});
  send_json(res, 200, {{"removed", email}});
}

void handle_remove_all(App& app, const httplib::Request& req, httplib::Response& res) {
  if (!authorize(app, req, res, ClientAuth::Access::Admin)) {
    return;
  }
  const std::size_t count = app.oauth().status().size();
  app.oauth().remove_all();
  app.log().write(LogLevel::Info, "oauth accounts removed", {{"accounts", count}});
  send_json(res, 200, {{"removed", count}});
}

}  // namespace

std::string iso8601_utc(WallTime time) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
                     utc.tm_hour, utc.tm_min, utc.tm_sec);
}

bool is_oauth_path(std::string_view path) {
  if (std::find(kOAuthPaths.begin(), kOAuthPaths.end(), path) != kOAuthPaths.end()) {
    return true;
  }
  return std::any_of(kOAuthPrefixes.begin(), kOAuthPrefixes.end(), [path](std::string_view prefix) {
    return path.size() > prefix.size() && path.substr(0, prefix.size()) == prefix &&
           path.find('/', prefix.size()) == std::string_view::npos;
  });
}

void install_oauth_routes(httplib::Server& server, App& app) {
  using Handler = void (*)(App&, const httplib::Request&, httplib::Response&);
  const auto bind = [&app](Handler handler) {
    return [&app, handler](const httplib::Request& req, httplib::Response& res) { handler(app, req, res); };
  };
  server.Get("/oauth/authorize", bind(handle_authorize));
  server.Get("/oauth/generate-url", bind(handle_generate_url));
  server.Get("/oauth/callback", bind(handle_callback));
  server.Post("/oauth/exchange-code", bind(handle_exchange_code));
  server.Get("/oauth/status", bind(handle_status));
  server.Post(R"(/oauth/refresh/([^/]+))", bind(handle_refresh));
  server.Delete("/oauth/tokens", bind(handle_remove_all));
  server.Delete(R"(/oauth/tokens/([^/]+))", bind(handle_remove));
}

}  // namespace balancer::server
