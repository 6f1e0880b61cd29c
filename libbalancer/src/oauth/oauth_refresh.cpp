// oauth_refresh.cpp — OAuthClient's token half (spec §9): handing out access tokens, refreshing
// them ahead of expiry, after a 401 or on demand, with at most one refresh in flight per account
// (the others wait for it on refreshed_ and share its result), backoff after failures, and
// needs_login after invalid_grant. Any thread may call access_token / refresh_after_rejection /
// refresh; the token endpoint is called with no lock held, and the store is written (rotated
// refresh token) before the waiters are woken.
#include <balancer/oauth_client.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/retry_after.h"

#include "oauth/oauth_client_state.h"
#include "oauth/oauth_token_response.h"

namespace balancer {
namespace {

// What one refresh request came to. Holds the new tokens on success; messages carry no secrets.
struct RefreshOutcome {
  enum class Kind { Success, InvalidGrant, Failure };
  Kind kind = Kind::Failure;
  detail::TokenGrant grant;
  Error error;                                      // InvalidGrant / Failure
  std::optional<std::chrono::seconds> retry_after;  // Failure: the endpoint's Retry-After
};

// The endpoint's Retry-After, at least 1 s and at most a day.
std::optional<std::chrono::seconds> refresh_retry_after(const Headers& headers, WallTime now) {
  const auto value = find_header(headers, "retry-after");
  const auto seconds = value ? detail::parse_retry_after(*value, now) : std::nullopt;
  if (!seconds) {
    return std::nullopt;
  }
  return std::clamp(*seconds, std::chrono::seconds(1), std::chrono::seconds(24 * 3600));
}

RefreshOutcome refresh_tokens(HttpTransport& transport, const OAuthSettings& settings, const std::string& refresh_token,
                              WallTime now) {
  RefreshOutcome out;
  const nlohmann::json body = {
      {"grant_type", "refresh_token"},
      {"refresh_token", refresh_token},
      {"client_id", settings.client_id},
  };
  Result<HttpResponse> response = make_error(ErrorCode::Internal, "not sent");
  try {
    response = transport.send(
        detail::token_endpoint_request(settings, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)),
        detail::kMaxTokenBody);
  } catch (...) {
    out.error = Error{ErrorCode::Internal, "the token request failed unexpectedly"};
    return out;
  }
  if (!response) {
    out.error =
        Error{response.error().code, "token endpoint: " + detail::redact(response.error().message, {refresh_token})};
    return out;
  }
  const int status = response->status;
  if (status >= 200 && status < 300) {
    auto grant = detail::parse_token_response(response->body);
    if (!grant) {
      out.error = Error{ErrorCode::UpstreamProtocol, fmt::format("HTTP {}: {}", status, grant.error().message)};
      return out;
    }
    out.kind = RefreshOutcome::Kind::Success;
    out.grant = std::move(*grant);
    return out;
  }
  const std::string why = detail::describe_refusal(*response, {refresh_token});
  if ((status == 400 || status == 401) && detail::parse_token_error(response->body).error == "invalid_grant") {
    out.kind = RefreshOutcome::Kind::InvalidGrant;
    out.error = Error{ErrorCode::Unauthorized, "the token endpoint refused the refresh token: " + why};
    return out;
  }
  out.error = Error{ErrorCode::UpstreamProtocol, "the token endpoint answered " + why};
  out.retry_after = refresh_retry_after(response->headers, now);
  return out;
}

long long whole_seconds_up(std::chrono::nanoseconds d) {
  return static_cast<long long>(std::ceil(std::chrono::duration<double>(d).count()));
}

}  // namespace

Result<std::string> OAuthClient::access_token(std::string_view account_email) {
  return obtain(account_email, Trigger::Skew, {});
}

Result<std::string> OAuthClient::refresh_after_rejection(std::string_view account_email, std::string_view rejected) {
  return obtain(account_email, Trigger::Rejected, rejected);
}

Result<void> OAuthClient::refresh(std::string_view account_email) {
  auto done = obtain(account_email, Trigger::Manual, {});
  if (!done) {
    return tl::unexpected(done.error());
  }
  return {};
}

std::vector<std::pair<std::string, Result<void>>> OAuthClient::refresh_due() {
  std::vector<std::string> due;
  {
    std::lock_guard lock(mutex_);
    const WallTime wall = clock_.wall_now();
    const SteadyTime now = clock_.now();
    for (const auto& [email, account] : accounts_) {
      if (!account->token.needs_login && !account->token.refresh_token.empty() && !account->flight &&
          now >= account->backoff_until && detail::within_skew(account->token, wall, settings_.refresh_skew)) {
        due.push_back(email);
      }
    }
  }
  std::vector<std::pair<std::string, Result<void>>> out;
  for (std::string& email : due) {
    auto done = obtain(email, Trigger::Ahead, {});
    out.emplace_back(std::move(email), done ? Result<void>() : Result<void>(tl::unexpected(done.error())));
  }
  return out;
}

Result<std::string> OAuthClient::obtain(std::string_view account_email, Trigger trigger, std::string_view rejected) {
  const std::string email = normalize_account_email(account_email);
  std::unique_lock lock(mutex_);

  const auto hand_out = [&](Account& account, WallTime wall) -> Result<std::string> {
    if (trigger == Trigger::Manual || trigger == Trigger::Ahead) {  // not a use of the token
      return std::string();
    }
    ++account.requests;
    account.last_used = wall;
    return account.token.access_token;
  };
  const auto needs_login = [&](const Account& account) {
    return make_error(ErrorCode::Unauthorized,
                      fmt::format("account {} needs a new login: {}", email,
                                  account.last_error.empty() ? "its refresh token was refused" : account.last_error));
  };
  // The stored account, unless it is unknown or needs a login. mutex_ held.
  const auto find_usable = [&]() -> Result<Account*> {
    const auto it = accounts_.find(email);
    if (it == accounts_.end()) {
      return make_error(ErrorCode::NotFound, "no OAuth account " + email);
    }
    if (it->second->token.needs_login) {
      return needs_login(*it->second);
    }
    return it->second.get();
  };
  // What a finished (not discarded) flight means for this caller. mutex_ held.
  const auto flight_result = [&](const RefreshFlight& flight) -> Result<std::string> {
    auto usable = find_usable();
    if (!usable) {
      return tl::unexpected(usable.error());
    }
    Account& account = **usable;
    const WallTime wall = clock_.wall_now();
    if (!flight.error || (trigger == Trigger::Skew && wall < account.token.expires_at)) {
      return hand_out(account, wall);
    }
    return tl::unexpected(*flight.error);
  };

  for (;;) {
    auto usable = find_usable();
    if (!usable) {
      return tl::unexpected(usable.error());
    }
    Account& account = **usable;
    const WallTime wall = clock_.wall_now();
    const bool fresh = !detail::within_skew(account.token, wall, settings_.refresh_skew);
    const bool unexpired = wall < account.token.expires_at;
    if (fresh && (trigger == Trigger::Skew || trigger == Trigger::Ahead ||
                  (trigger == Trigger::Rejected && account.token.access_token != rejected))) {
      return hand_out(account, wall);
    }
    if (account.flight) {  // join the refresh in flight; never start a second one
      const std::shared_ptr<RefreshFlight> flight = account.flight;
      refreshed_.wait(lock, [&] { return flight->done; });
      if (flight->discarded) {
        continue;  // the account was removed or replaced meanwhile: look again
      }
      return flight_result(*flight);
    }
    const SteadyTime now = clock_.now();
    if (now < account.backoff_until) {
      if (trigger == Trigger::Skew && unexpired) {
        return hand_out(account, wall);
      }
      return make_error(account.last_error_code,
                        fmt::format("token endpoint backing off for account {} after: {}; retry in {} s", email,
                                    account.last_error, whole_seconds_up(account.backoff_until - now)));
    }
    if (account.token.refresh_token.empty()) {
      account.token.needs_login = true;
      account.last_error = "no refresh token is stored";
      auto error = needs_login(account);
      lock.unlock();
      (void)persist();
      return error;
    }

    // Lead a refresh flight.
    const auto flight = std::make_shared<RefreshFlight>();
    account.flight = flight;
    // Whatever happens below (even an exception), the flight ends and its waiters wake.
    struct FlightEnder {
      OAuthClient& client;
      std::unique_lock<std::mutex>& lock;
      const std::shared_ptr<RefreshFlight>& flight;
      const std::string& email;
      ~FlightEnder() {
        if (flight->done) {
          return;
        }
        if (!lock.owns_lock()) {
          lock.lock();
        }
        if (const auto it = client.accounts_.find(email);
            it != client.accounts_.end() && it->second->flight == flight) {
          it->second->flight.reset();
        }
        flight->error = Error{ErrorCode::Internal, "the refresh failed unexpectedly"};
        flight->done = true;
        client.refreshed_.notify_all();
      }
    } ender{*this, lock, flight, email};
    const std::string refresh_token = account.token.refresh_token;
    const OAuthSettings settings = settings_;
    lock.unlock();
    RefreshOutcome outcome = refresh_tokens(transport_, settings, refresh_token, clock_.wall_now());
    lock.lock();

    const auto found = accounts_.find(email);
    if (found == accounts_.end() || found->second->flight != flight) {
      flight->discarded = true;  // removed or logged in again while the refresh ran
      flight->done = true;
      refreshed_.notify_all();
      continue;
    }
    Account& current = *found->second;
    bool store = true;
    switch (outcome.kind) {
      case RefreshOutcome::Kind::Success: {
        const WallTime applied = clock_.wall_now();
        current.token.access_token = std::move(outcome.grant.access_token);
        if (!outcome.grant.refresh_token.empty()) {  // rotation
          current.token.refresh_token = std::move(outcome.grant.refresh_token);
        }
        current.token.expires_at = applied + outcome.grant.expires_in;
        if (!outcome.grant.scopes.empty()) {
          current.token.scopes = std::move(outcome.grant.scopes);
        }
        current.token.last_refresh = applied;
        current.failures = 0;
        current.backoff_until = SteadyTime{};
        current.last_error.clear();
        break;
      }
      case RefreshOutcome::Kind::InvalidGrant:
        current.token.needs_login = true;
        current.last_error = outcome.error.message;
        flight->error = Error{ErrorCode::Unauthorized,
                              fmt::format("account {} needs a new login: {}", email, outcome.error.message)};
        break;
      case RefreshOutcome::Kind::Failure: {
        store = false;
        ++current.failures;
        std::chrono::seconds backoff = kFirstBackoff * (1LL << std::min(current.failures - 1, 16));
        if (outcome.retry_after) {
          backoff = *outcome.retry_after;
        } else if (backoff > kMaxBackoff) {
          backoff = kMaxBackoff;
        }
        current.backoff_until = clock_.now() + backoff;
        current.last_error = outcome.error.message;
        current.last_error_code = outcome.error.code;
        flight->error = Error{outcome.error.code, fmt::format("refresh of account {} failed: {}; retry in {} s", email,
                                                              outcome.error.message, backoff.count())};
        break;
      }
    }
    if (store) {  // a rotated refresh token reaches the disk before anyone uses the result
      lock.unlock();
      Result<void> saved = make_error(ErrorCode::Internal, "not saved");
      try {
        saved = persist();
      } catch (...) {
        saved = make_error(ErrorCode::Internal, "token store failed unexpectedly");
      }
      lock.lock();
      const auto again = accounts_.find(email);
      if (!saved && again != accounts_.end() && again->second->flight == flight) {
        again->second->last_error = "tokens not saved: " + saved.error().message;
      }
    }
    if (const auto again = accounts_.find(email); again != accounts_.end() && again->second->flight == flight) {
      again->second->flight.reset();
    }
    flight->done = true;
    refreshed_.notify_all();
    return flight_result(*flight);
  }
}

}  // namespace balancer
