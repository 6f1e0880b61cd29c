// oauth_token_response.h — parsing what an OAuth token endpoint answers (spec §9): the grant of a
// successful code exchange or refresh, and the error of a refused one. Pure functions over the
// response body; any thread may call them. They never throw, and their error messages describe
// the shape of the body, never its values (bodies carry tokens).
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <balancer/error.h>

namespace balancer::detail {

// The longest lifetime a token response may claim; larger expires_in values are capped to it.
inline constexpr std::chrono::seconds kMaxTokenLifetime{10LL * 365 * 24 * 3600};

// A usable 2xx token response. Value type; holds secrets.
struct TokenGrant {
  std::string access_token;            // never empty
  std::string refresh_token;           // empty when the response carried none (no rotation)
  std::chrono::seconds expires_in{0};  // > 0, at most kMaxTokenLifetime
  std::vector<std::string> scopes;     // from "scope" (space-separated); empty when absent
  std::string account_email;           // from account.email_address; empty when absent
};

// A refused request: the OAuth `error` code and its description. Both may be empty (the body was
// not a recognised error shape). `description` is at most kMaxErrorDescription bytes, on one line.
struct TokenError {
  std::string error;
  std::string description;
};

inline constexpr std::size_t kMaxErrorDescription = 200;

// A 2xx body: {"access_token": "...", "expires_in": 3600, "refresh_token"?: "...",
// "scope"?: "a b", "account"?: {"email_address": "..."}}. Errors: UpstreamProtocol naming what is
// missing or mistyped.
Result<TokenGrant> parse_token_response(std::string_view body);

// A non-2xx body, either OAuth's {"error": "...", "error_description": "..."} or Anthropic's
// {"type": "error", "error": {"type": "...", "message": "..."}}.
TokenError parse_token_error(std::string_view body);

}  // namespace balancer::detail
