// oauth_client_state.h — OAuthClient's private state types (Account, Flow, RefreshFlight) and the
// helpers its two source files share: oauth_client.cpp (logins, store, status) and
// oauth_refresh.cpp (access tokens and refresh flights). Every Account/Flow/RefreshFlight field
// is guarded by OAuthClient::mutex_; the helpers are pure and callable from any thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <balancer/oauth_client.h>

namespace balancer {

// One refresh of one account in progress. Shared by the thread running it and the threads
// waiting for it (OAuthClient::refreshed_), so it outlives the Account if that is removed.
struct OAuthClient::RefreshFlight {
  bool done = false;
  // The account was removed or replaced (new login) while the refresh ran: its result was
  // dropped and waiters look at the account again.
  bool discarded = false;
  std::optional<Error> error;  // set when the refresh failed
};

struct OAuthClient::Account {
  OAuthToken token;
  std::shared_ptr<RefreshFlight> flight;  // non-null while a refresh runs
  SteadyTime backoff_until{};             // the token endpoint is left alone until then
  int failures = 0;                       // consecutive failed refreshes
  std::string last_error;                 // no token characters
  ErrorCode last_error_code = ErrorCode::UpstreamProtocol;
  std::uint64_t requests = 0;
  std::optional<WallTime> last_used;
};

struct OAuthClient::Flow {
  std::string verifier;
  std::string account_email;  // normalised; empty when none was named
  SteadyTime expires{};       // valid while clock.now() < expires
  WallTime wall_expires{};
};

namespace detail {

// The most logins pending at once; starting one more drops the oldest.
inline constexpr std::size_t kMaxPendingFlows = 64;
// The largest token endpoint body read.
inline constexpr std::size_t kMaxTokenBody = 1u << 20;

// A POST of `json_body` to the token endpoint with the settings' proxy and the OAuth timeouts.
HttpRequest token_endpoint_request(const OAuthSettings& settings, std::string json_body);

// True when `token` should be refreshed at `wall`: within `skew` of its expiry — but a token a
// refresh just gave is used for at least half its lifetime, so an endpoint issuing tokens
// shorter than the skew cannot make every request refresh (and rotate) again.
inline bool within_skew(const OAuthToken& token, WallTime wall, std::chrono::nanoseconds skew) {
  if (token.last_refresh) {
    const auto lifetime = token.expires_at - *token.last_refresh;
    skew = std::min<std::chrono::nanoseconds>(skew, std::max<std::chrono::nanoseconds>(lifetime / 2, {}));
  }
  return wall >= token.expires_at - skew;
}

// `text` with every occurrence of each non-empty secret replaced by "[redacted]".
std::string redact(std::string text, std::initializer_list<std::string_view> secrets);

// "HTTP 400 (invalid_grant: description)" from a refused response, secrets redacted first.
std::string describe_refusal(const HttpResponse& response, std::initializer_list<std::string_view> secrets);

}  // namespace detail
}  // namespace balancer
