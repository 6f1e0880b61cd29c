// oauth_login.cpp — OAuthClient's login half (spec §9): PKCE flows (begin_login) and the
// authorization-code exchange (exchange_code). Any thread may call either; the token endpoint is
// called without any lock held.
#include <balancer/oauth_client.h>

#include <stdexcept>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/text.h"
#include "oauth/oauth_client_state.h"
#include "oauth/oauth_token_response.h"

namespace balancer {
namespace {

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || u == '-' || u == '.' ||
        u == '_' || u == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (const auto& part : parts) {
    if (!out.empty()) {
      out += separator;
    }
    out += part;
  }
  return out;
}

constexpr std::string_view kUnknownState = "login state unknown or expired (10 minutes); start a new login";

}  // namespace

LoginFlow OAuthClient::begin_login(std::string account_email) {
  auto flow = std::make_unique<Flow>();
  auto verifier = random_url_token(32);
  auto random_state = random_url_token(32);
  if (!verifier || !random_state) {
    const Error& error = verifier ? random_state.error() : verifier.error();
    throw std::runtime_error("cannot start a login: " + error.message);
  }
  flow->verifier = std::move(*verifier);
  flow->account_email = normalize_account_email(account_email);
  std::string state = std::move(*random_state);
  const std::string challenge = pkce_challenge_s256(flow->verifier);
  if (challenge.empty()) {
    throw std::runtime_error("cannot start a login: SHA-256 failed for the PKCE challenge");
  }

  std::lock_guard lock(mutex_);
  const SteadyTime now = clock_.now();
  std::erase_if(flows_, [&](const auto& entry) { return now >= entry.second->expires; });
  while (flows_.size() >= detail::kMaxPendingFlows) {  // drop the oldest
    auto oldest = flows_.begin();
    for (auto it = flows_.begin(); it != flows_.end(); ++it) {
      if (it->second->expires < oldest->second->expires) {
        oldest = it;
      }
    }
    flows_.erase(oldest);
  }
  flow->expires = now + kFlowLifetime;
  flow->wall_expires = clock_.wall_now() + kFlowLifetime;

  LoginFlow out;
  out.url = settings_.authorize_url + "?code=true" + "&client_id=" + percent_encode(settings_.client_id) +
            "&response_type=code" + "&redirect_uri=" + percent_encode(settings_.redirect_uri) +
            "&scope=" + percent_encode(join(settings_.scopes, " ")) + "&code_challenge=" + percent_encode(challenge) +
            "&code_challenge_method=S256" + "&state=" + percent_encode(state);
  out.state = state;
  out.expires_at = flow->wall_expires;
  out.account_email = flow->account_email;
  flows_.emplace(std::move(state), std::move(flow));
  return out;
}

Result<std::string> OAuthClient::exchange_code(std::string_view pasted, std::string_view account_email,
                                               std::string_view state) {
  // "code#state" as Claude's callback page shows it; either part may carry stray whitespace.
  using detail::kAsciiWhitespace;
  pasted = detail::trim(pasted, kAsciiWhitespace);
  std::string_view code = pasted;
  std::string_view pasted_state;
  if (const auto hash = pasted.find('#'); hash != std::string_view::npos) {
    code = detail::trim(pasted.substr(0, hash), kAsciiWhitespace);
    pasted_state = detail::trim(pasted.substr(hash + 1), kAsciiWhitespace);
  }
  state = detail::trim(state, kAsciiWhitespace);
  if (code.empty()) {
    return make_error(ErrorCode::InvalidRequest, "no authorization code given");
  }
  if (!state.empty() && !pasted_state.empty() && state != pasted_state) {
    return make_error(ErrorCode::InvalidRequest, "the state after '#' in the pasted code differs from the state given");
  }
  if (state.empty()) {
    state = pasted_state;
  }

  std::string flow_state;
  std::string verifier;
  std::string flow_email;
  OAuthSettings settings;
  {
    std::lock_guard lock(mutex_);
    const SteadyTime now = clock_.now();
    std::erase_if(flows_, [&](const auto& entry) { return now >= entry.second->expires; });
    auto it = flows_.end();
    if (!state.empty()) {
      it = flows_.find(state);
      if (it == flows_.end()) {
        return make_error(ErrorCode::InvalidRequest, std::string(kUnknownState));
      }
    } else if (flows_.size() == 1) {
      it = flows_.begin();
    } else if (flows_.empty()) {
      return make_error(ErrorCode::InvalidRequest, std::string(kUnknownState));
    } else {
      return make_error(ErrorCode::InvalidRequest,
                        "several logins are pending: paste the whole code including the part "
                        "after '#'");
    }
    flow_state = it->first;
    verifier = it->second->verifier;
    flow_email = it->second->account_email;
    settings = settings_;
  }

  const nlohmann::json body = {
      {"grant_type", "authorization_code"},    {"client_id", settings.client_id}, {"code", code},
      {"redirect_uri", settings.redirect_uri}, {"code_verifier", verifier},       {"state", flow_state},
  };
  const std::string body_text = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  auto response = transport_.send(detail::token_endpoint_request(settings, body_text), detail::kMaxTokenBody);
  if (!response) {
    return make_error(response.error().code,
                      "token endpoint: " + detail::redact(response.error().message, {code, verifier}));
  }
  if (response->status < 200 || response->status >= 300) {
    const std::string why = detail::describe_refusal(*response, {code, verifier});
    if (response->status >= 400 && response->status < 500 && response->status != 429) {
      return make_error(ErrorCode::InvalidRequest, "the token endpoint refused the code: " + why);
    }
    return make_error(ErrorCode::UpstreamProtocol, "the token endpoint failed: " + why);
  }
  auto grant = detail::parse_token_response(response->body);
  if (!grant) {
    return make_error(ErrorCode::UpstreamProtocol, fmt::format("HTTP {}: {}", response->status, grant.error().message));
  }

  std::string email = normalize_account_email(account_email);
  if (email.empty()) {
    email = flow_email;
  }
  if (email.empty()) {
    email = normalize_account_email(grant->account_email);
  }
  if (email.empty()) {
    return make_error(ErrorCode::InvalidRequest,
                      "no account email: give account_email (the token endpoint named none)");
  }

  {
    std::lock_guard lock(mutex_);
    const WallTime wall = clock_.wall_now();
    auto account = std::make_unique<Account>();
    account->token.account_email = email;
    account->token.access_token = std::move(grant->access_token);
    account->token.refresh_token = std::move(grant->refresh_token);
    account->token.expires_at = wall + grant->expires_in;
    account->token.scopes = grant->scopes.empty() ? settings.scopes : std::move(grant->scopes);
    account->token.created_at = wall;
    if (const auto old = accounts_.find(email); old != accounts_.end()) {
      // A new login replaces the account; a refresh still running for it is discarded.
      account->requests = old->second->requests;
      account->last_used = old->second->last_used;
    }
    accounts_.insert_or_assign(email, std::move(account));
    flows_.erase(flow_state);
  }
  if (auto saved = persist(); !saved) {
    std::lock_guard lock(mutex_);
    if (const auto it = accounts_.find(email); it != accounts_.end()) {
      it->second->last_error = "tokens not saved: " + saved.error().message;
    }
  }
  return email;
}

}  // namespace balancer
