// oauth_endpoints.cpp — the /oauth/* endpoints (spec §9): login flows, code exchange, account
// status, refresh and token removal. Admin client auth is checked before they run (admit()).
#include <algorithm>
#include <array>
#include <chrono>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <balancer/oauth_client.h>
#include <balancer/router.h>

#include "gateway/exchange.h"
#include "gateway/gateway_impl.h"
#include "routing/account_choice.h"

namespace balancer {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 6> kOAuthPaths = {"/oauth/authorize", "/oauth/generate-url",
                                                         "/oauth/callback",  "/oauth/exchange-code",
                                                         "/oauth/status",    "/oauth/tokens"};
// Followed by one path segment: the account email.
constexpr std::array<std::string_view, 2> kOAuthPrefixes = {"/oauth/refresh/", "/oauth/tokens/"};

constexpr std::string_view kInstructions =
    "Open the URL, log in, then POST the code shown (code#state) to /oauth/exchange-code with "
    "{\"code\": …, \"account_email\": …}";

// "2025-01-31T12:00:00Z" (UTC, whole seconds).
std::string iso8601_utc(WallTime time) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(time);
  std::tm utc{};
  ::gmtime_r(&seconds, &utc);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday,
                     utc.tm_hour, utc.tm_min, utc.tm_sec);
}

// The value of query parameter `name`; empty when absent.
std::string param(const ClientRequest& req, std::string_view name) {
  return detail::query_param(req, name).value_or("");
}

// The account email of /oauth/refresh/{email} and /oauth/tokens/{email}.
std::string_view path_segment(std::string_view path) {
  for (const std::string_view prefix : kOAuthPrefixes) {
    if (path.substr(0, prefix.size()) == prefix) {
      return path.substr(prefix.size());
    }
  }
  return {};
}

json optional_time(const std::optional<WallTime>& time) { return time ? json(iso8601_utc(*time)) : json(); }

json optional_string(const std::string& value) { return value.empty() ? json() : json(value); }

// Answers an error of the OAuth client: 400 for a refused request or code, 404 for an unknown
// account, 409 for an account that needs a new login, 502 when the token endpoint failed.
Response oauth_error(const Error& error) {
  switch (error.code) {
    case ErrorCode::InvalidRequest:
    case ErrorCode::InvalidConfig: return detail::error_response(400, "invalid_request_error", error.message);
    case ErrorCode::NotFound: return detail::error_response(404, "not_found_error", error.message);
    case ErrorCode::Unauthorized: return detail::error_response(409, "invalid_request_error", error.message);
    case ErrorCode::UpstreamConnect:
    case ErrorCode::UpstreamTimeout:
    case ErrorCode::UpstreamProtocol:
    case ErrorCode::UpstreamTls:
      return detail::error_response(502, "api_error", "the OAuth token endpoint failed: " + error.message);
    default: return detail::error_response(500, "api_error", error.message);
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

bool wants_html(const ClientRequest& req) {
  return detail::header_value(req, "Accept").find("text/html") != std::string::npos;
}

json providers_of(Gateway::Impl& app, const BalancerConfig& config, const std::string& email) {
  json providers = json::array();
  for (const ProviderConfig& provider : config.providers) {
    if (!detail::account_serves(config, provider, email)) {
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

json account_json(Gateway::Impl& app, const BalancerConfig& config, const OAuthAccountStatus& account) {
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
json logged_in_json(Gateway::Impl& app, const std::string& email) {
  const auto account = find_account(app.oauth(), email);
  return {{"account_email", email},
          {"expires_at", account ? json(iso8601_utc(account->expires_at)) : json()},
          {"status", "logged_in"}};
}

Response handle_authorize(Gateway::Impl& app, const ClientRequest& req) {
  const LoginFlow flow = app.oauth().begin_login(param(req, "account_email"));
  app.log().write(LogLevel::Info, "oauth login started",
                  {{"account_email", optional_string(flow.account_email)}, {"via", "authorize"}});
  Response res = detail::content_response(
      302, fmt::format("<!doctype html><p>Continue to <a href=\"{0}\">{0}</a></p>\n", html_escape(flow.url)),
      "text/html; charset=utf-8");
  res.headers.emplace_back("location", flow.url);
  return res;
}

Response handle_generate_url(Gateway::Impl& app, const ClientRequest& req) {
  const LoginFlow flow = app.oauth().begin_login(param(req, "account_email"));
  app.log().write(LogLevel::Info, "oauth login started",
                  {{"account_email", optional_string(flow.account_email)}, {"via", "generate-url"}});
  return detail::json_response(200, {{"url", flow.url},
                                     {"state", flow.state},
                                     {"expires_at", iso8601_utc(flow.expires_at)},
                                     {"account_email", optional_string(flow.account_email)},
                                     {"instructions", kInstructions}});
}

// Exchanges the code and answers with the stored account (or the error).
Response exchange(Gateway::Impl& app, std::string_view code, std::string_view email, std::string_view state,
                  bool html) {
  auto exchanged = app.oauth().exchange_code(code, email, state);
  if (!exchanged) {
    app.log().write(LogLevel::Warning, "oauth code exchange failed",
                    {{"error", exchanged.error().message}, {"error_code", to_string(exchanged.error().code)}});
    return oauth_error(exchanged.error());
  }
  app.log().write(LogLevel::Info, "oauth account logged in", {{"account_email", *exchanged}});
  if (html) {
    return detail::content_response(200,
                                    fmt::format("<!doctype html><title>balancer: logged in</title>"
                                                "<p>Logged in as <b>{}</b>. The balancer stored the account; "
                                                "you can close this page.</p>\n",
                                                html_escape(*exchanged)),
                                    "text/html; charset=utf-8");
  }
  return detail::json_response(200, logged_in_json(app, *exchanged));
}

Response handle_callback(Gateway::Impl& app, const ClientRequest& req) {
  if (detail::query_param(req, "error").has_value()) {
    // The authorization server refused (e.g. access_denied); its error is no secret.
    return detail::error_response(
        400, "invalid_request_error",
        "the login was refused: " + param(req, "error") +
            (detail::query_param(req, "error_description").has_value() ? ": " + param(req, "error_description") : ""));
  }
  if (param(req, "code").empty()) {
    return detail::error_response(400, "invalid_request_error", "code: missing query parameter");
  }
  return exchange(app, param(req, "code"), param(req, "account_email"), param(req, "state"), wants_html(req));
}

Response handle_exchange_code(Gateway::Impl& app, const ClientRequest& req) {
  // Its size was checked by Gateway::admit (body_limit: 64 KiB off the Messages API).
  const json body = json::parse(req.body, nullptr, false);
  if (!body.is_object()) {
    return detail::error_response(400, "invalid_request_error",
                                  "request body must be a JSON object {\"code\": \"…\", \"account_email\": \"…\"}");
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
    return detail::error_response(400, "invalid_request_error",
                                  "code: required, a string (the code shown after the login, as code#state)");
  }
  if (!email) {
    return detail::error_response(400, "invalid_request_error", "account_email: must be a string");
  }
  if (!state) {
    return detail::error_response(400, "invalid_request_error", "state: must be a string");
  }
  return exchange(app, *code, *email, *state, false);
}

Response handle_status(Gateway::Impl& app, const ClientRequest& /*req*/) {
  const auto runtime = app.runtime();
  json accounts = json::array();
  for (const OAuthAccountStatus& account : app.oauth().status()) {
    accounts.push_back(account_json(app, *runtime->config, account));
  }
  return detail::json_response(200, {{"accounts", std::move(accounts)},
                                     {"pending_logins", app.oauth().pending_flows()},
                                     {"token_store", app.token_store_path()}});
}

Response handle_refresh(Gateway::Impl& app, const ClientRequest& req) {
  const std::string email = normalize_account_email(path_segment(req.path));
  if (auto refreshed = app.oauth().refresh(email); !refreshed) {
    app.log().write(LogLevel::Warning, "oauth refresh failed",
                    {{"account_email", email}, {"error", refreshed.error().message}});
    return oauth_error(refreshed.error());
  }
  app.log().write(LogLevel::Info, "oauth token refreshed", {{"account_email", email}, {"via", "api"}});
  const auto account = find_account(app.oauth(), email);
  return detail::json_response(
      200, {{"account_email", email}, {"expires_at", account ? json(iso8601_utc(account->expires_at)) : json()}});
}

Response handle_remove(Gateway::Impl& app, const ClientRequest& req) {
  const std::string email = normalize_account_email(path_segment(req.path));
  if (!app.oauth().remove(email)) {
    return detail::error_response(404, "not_found_error", "no stored OAuth account " + email);
  }
  app.log().write(LogLevel::Info, "oauth account removed", {{"account_email", email}});
  return detail::json_response(200, {{"removed", email}});
}

Response handle_remove_all(Gateway::Impl& app, const ClientRequest& /*req*/) {
  const std::size_t count = app.oauth().status().size();
  app.oauth().remove_all();
  app.log().write(LogLevel::Info, "oauth accounts removed", {{"accounts", count}});
  return detail::json_response(200, {{"removed", count}});
}

}  // namespace

namespace endpoints {

bool is_oauth_path(std::string_view path) {
  if (std::find(kOAuthPaths.begin(), kOAuthPaths.end(), path) != kOAuthPaths.end()) {
    return true;
  }
  return std::any_of(kOAuthPrefixes.begin(), kOAuthPrefixes.end(), [path](std::string_view prefix) {
    return path.size() > prefix.size() && path.substr(0, prefix.size()) == prefix &&
           path.find('/', prefix.size()) == std::string_view::npos;
  });
}

OAuthHandler find_oauth_handler(std::string_view method, std::string_view path) {
  const bool get = method == "GET" || method == "HEAD";
  if (get && path == "/oauth/authorize") return handle_authorize;
  if (get && path == "/oauth/generate-url") return handle_generate_url;
  if (get && path == "/oauth/callback") return handle_callback;
  if (get && path == "/oauth/status") return handle_status;
  if (method == "POST" && path == "/oauth/exchange-code") return handle_exchange_code;
  if (method == "DELETE" && path == "/oauth/tokens") return handle_remove_all;
  if (!is_oauth_path(path)) {
    return nullptr;
  }
  if (method == "POST" && path.substr(0, kOAuthPrefixes[0].size()) == kOAuthPrefixes[0]) return handle_refresh;
  if (method == "DELETE" && path.substr(0, kOAuthPrefixes[1].size()) == kOAuthPrefixes[1]) return handle_remove;
  return nullptr;
}

}  // namespace endpoints
}  // namespace balancer
