// upstream_credentials.h — the credential rules shared by both provider types (spec §4, §10):
// which of the client's own credentials a passthrough provider may receive, and how a
// provider's extra headers replace the ones already set.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <balancer/http.h>
#include "config/client_auth.h"

namespace balancer::detail {

// The client's own credentials for a passthrough provider, never one of the balancer's client or
// admin keys in any spelling (raw, after "Bearer", with a suffix): its x-api-key when that is one
// token, and its Authorization when that is exactly "Bearer <token>", with the token it carries.
struct PassthroughCredential {
  std::optional<std::string> api_key;
  std::optional<std::string> authorization;        // e.g. "Bearer sk-…"
  std::optional<std::string> authorization_token;  // the credential inside it
};
PassthroughCredential passthrough_credential(const Headers& client_headers, const ClientAuth& auth);

// Sets each of `extra` on `headers`, replacing any header of the same name (case-insensitive).
void apply_extra_headers(Headers& headers, const std::vector<std::pair<std::string, std::string>>& extra);

// Makes `flag` part of the request's anthropic-beta: every anthropic-beta header is folded into
// one comma-separated value, `flag` first, the client's own flags kept in order without
// duplicates.
void merge_anthropic_beta(Headers& headers, std::string_view flag);

}  // namespace balancer::detail
