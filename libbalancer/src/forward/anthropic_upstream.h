// anthropic_upstream.h — the upstream request for an Anthropic-compatible provider (spec §4):
// the client's body with the route's model spliced in (bytes, not re-serialised), its
// end-to-end headers, and the provider's credential in place of the client's.
#pragma once

#include <balancer/error.h>
#include <balancer/http.h>
#include <balancer/router.h>
#include "config/client_auth.h"
#include "forward/forwarder.h"
#include "json/json_validate.h"

namespace balancer::detail {

// `members`: the top-level members the request body was inspected into (inspect_request_body).
// `remove_provider`: drop the balancer-only "provider" pin from the body. Thinking blocks
// without a signature (produced by OpenAI-format providers) are removed. `oauth_token`: the
// access token of an `auth_type: oauth` provider's account.
HttpRequest anthropic_upstream_request(const Candidate& candidate, const ForwardRequest& request,
                                       const std::vector<MemberSpan>& members, bool remove_provider,
                                       const ClientAuth& auth, std::string_view oauth_token = {});

// The headers sent upstream: forwardable client headers, the provider's credential (or with
// passthrough the client's own, never a balancer key; with OAuth `Authorization: Bearer
// <oauth_token>` and the oauth beta flag merged into anthropic-beta), extra headers,
// content-type and anthropic-version defaults.
Headers anthropic_upstream_headers(const Headers& client_headers, const ProviderConfig& provider,
                                   const ClientAuth& auth, std::string_view oauth_token = {});

}  // namespace balancer::detail
