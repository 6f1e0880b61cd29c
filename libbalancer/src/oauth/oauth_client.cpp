// oauth_client.cpp — OAuthClient's bookkeeping (spec §9): construction, the token store (load,
// persist), settings, removal, status, plus the helpers shared with oauth_login.cpp and
// oauth_refresh.cpp. Any thread may call any public method. Lock order: store_mutex_ before
// mutex_; the store is never called with mutex_ held.
#include <balancer/oauth_client.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "oauth/oauth_client_state.h"
#include "oauth/oauth_token_response.h"

namespace balancer {

namespace detail {

HttpRequest token_endpoint_request(const OAuthSettings& settings, std::string json_body) {
  using namespace std::chrono_literals;
  HttpRequest request;
  request.method = "POST";
  request.url = settings.token_url;
  request.headers = {{"content-type", "application/json"}, {"accept", "application/json"}};
  request.body = std::move(json_body);
  request.connect_timeout = 10s;
  request.header_timeout = 30s;
  request.idle_timeout = 30s;
  request.proxy = settings.proxy;
  return request;
}

std::string redact(std::string text, std::initializer_list<std::string_view> secrets) {
  for (const std::string_view secret : secrets) {
    if (secret.empty()) {
      continue;
    }
    for (auto pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos)) {
      text.replace(pos, secret.size(), "[redacted]");
      pos += std::string_view("[redacted]").size();
    }
  }
  return text;
}

std::string describe_refusal(const HttpResponse& response, std::initializer_list<std::string_view> secrets) {
  const TokenError error = parse_token_error(redact(response.body, secrets));
  if (error.error.empty() && error.description.empty()) {
    return fmt::format("HTTP {}", response.status);
  }
  if (error.description.empty()) {
    return fmt::format("HTTP {} ({})", response.status, error.error);
  }
  return fmt::format("HTTP {} ({}: {})", response.status, error.error.empty() ? "error" : error.error,
                     error.description);
}

}  // namespace detail

OAuthClient::OAuthClient(OAuthSettings settings, HttpTransport& transport, const Clock& clock,
                         std::unique_ptr<TokenStore> store)
    : clock_(clock), transport_(transport), store_(std::move(store)), settings_(std::move(settings)) {}

OAuthClient::~OAuthClient() = default;

Result<void> OAuthClient::load() {
  std::lock_guard store_lock(store_mutex_);
  if (!store_) {
    return {};
  }
  auto tokens = store_->load();
  if (!tokens) {
    // Never overwrite a store that could not be read: it may hold every account's only valid
    // refresh token (a permission problem, a newer format). Logins then live in memory only.
    store_refused_ = tokens.error().message;
    return tl::unexpected(tokens.error());
  }
  store_refused_.clear();
  std::lock_guard lock(mutex_);
  accounts_.clear();
  for (auto& token : *tokens) {
    token.account_email = normalize_account_email(token.account_email);
    if (token.account_email.empty()) {
      continue;
    }
    auto account = std::make_unique<Account>();
    account->token = std::move(token);
    const std::string email = account->token.account_email;
    accounts_.insert_or_assign(email, std::move(account));
  }
  return {};
}

Result<void> OAuthClient::persist() {
  std::lock_guard store_lock(store_mutex_);
  if (!store_) {
    return {};
  }
  if (!store_refused_.empty()) {
    return make_error(ErrorCode::Internal, "the token store could not be loaded at start and is left as it is (" +
                                               store_refused_ + "); fix or move it and restart");
  }
  std::vector<OAuthToken> snapshot;
  {
    std::lock_guard lock(mutex_);
    snapshot.reserve(accounts_.size());
    for (const auto& [email, account] : accounts_) {
      snapshot.push_back(account->token);
    }
  }
  return store_->save(snapshot);
}

void OAuthClient::set_settings(OAuthSettings settings) {
  std::lock_guard lock(mutex_);
  settings_ = std::move(settings);
}

bool OAuthClient::remove(std::string_view account_email) {
  const std::string email = normalize_account_email(account_email);
  {
    std::lock_guard lock(mutex_);
    const auto it = accounts_.find(email);
    if (it == accounts_.end()) {
      return false;
    }
    accounts_.erase(it);
  }
  (void)persist();  // the account is gone from memory either way
  return true;
}

void OAuthClient::remove_all() {
  {
    std::lock_guard lock(mutex_);
    accounts_.clear();
  }
  (void)persist();
}

std::vector<std::string> OAuthClient::usable_accounts() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [email, account] : accounts_) {
    if (!account->token.needs_login) {
      out.push_back(email);
    }
  }
  return out;  // std::map keeps them sorted
}

std::vector<OAuthAccountStatus> OAuthClient::status() const {
  std::lock_guard lock(mutex_);
  const WallTime wall = clock_.wall_now();
  const SteadyTime now = clock_.now();
  std::vector<OAuthAccountStatus> out;
  out.reserve(accounts_.size());
  for (const auto& [email, account] : accounts_) {
    const OAuthToken& t = account->token;
    OAuthAccountStatus s;
    s.account_email = email;
    s.expires_at = t.expires_at;
    s.expires_in_s = std::chrono::duration<double>(t.expires_at - wall).count();
    if (t.needs_login) {
      s.state = "needs_login";
    } else if (wall >= t.expires_at) {
      s.state = "expired";
    } else if (detail::within_skew(t, wall, settings_.refresh_skew)) {
      s.state = "expiring";
    } else {
      s.state = "valid";
    }
    s.has_refresh_token = !t.refresh_token.empty();
    s.refresh_in_flight = account->flight != nullptr;
    s.backoff_remaining_s = std::max(0.0, std::chrono::duration<double>(account->backoff_until - now).count());
    s.last_error = account->last_error;
    s.last_refresh = t.last_refresh;
    s.requests = account->requests;
    s.last_used = account->last_used;
    s.scopes = t.scopes;
    out.push_back(std::move(s));
  }
  return out;
}

std::size_t OAuthClient::pending_flows() const {
  std::lock_guard lock(mutex_);
  const SteadyTime now = clock_.now();
  return static_cast<std::size_t>(
      std::count_if(flows_.begin(), flows_.end(), [&](const auto& entry) { return now < entry.second->expires; }));
}

}  // namespace balancer
