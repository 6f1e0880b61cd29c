// header_rules.h — which headers cross the proxy in each direction (spec §4).
#pragma once

#include <string_view>

#include <balancer/http.h>

namespace balancer::detail {

// True for client request headers that are forwarded upstream: end-to-end headers such as
// anthropic-version, anthropic-beta, user-agent, x-stainless-*, x-claude-code-*, x-app.
// False for credentials (x-api-key, authorization, cookie), host, content-length, expect,
// accept-encoding (the balancer asks for identity bodies so it can read streams), hop-by-hop
// headers, and the transport's pseudo headers (REMOTE_ADDR, ...). Pure.
bool is_forwardable_request_header(std::string_view name);

// True for upstream response headers relayed to the client: everything end-to-end
// (request-id, retry-after, anthropic-ratelimit-*, content-type, ...); false for hop-by-hop
// headers and framing (content-length, transfer-encoding), which the balancer sets itself.
bool is_forwardable_response_header(std::string_view name);

// Client headers to forward: the forwardable ones, minus any header the client's own
// `Connection` header names.
Headers forwardable_request_headers(const Headers& client_headers);

}  // namespace balancer::detail
