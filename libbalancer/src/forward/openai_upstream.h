// openai_upstream.h — the OpenAI-compatible side of a forwarded request (spec §7): the upstream
// request (converted body, URL, credentials, extra headers) and the translation of buffered
// responses back into Anthropic bodies.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <balancer/config.h>
#include <balancer/error.h>
#include <balancer/http.h>
#include "config/client_auth.h"

#include <nlohmann/json.hpp>

namespace balancer::detail {

// The upstream request for `provider`: `anthropic_body` converted to /chat/completions with
// `upstream_model`, POSTed to base_url + "/chat/completions" with `Authorization: Bearer` (the
// configured key, or with passthrough the client's own credential, never a balancer key) and
// the provider's extra headers. Client headers are not forwarded (they are Anthropic's).
// What the conversion left out is appended to `notes` (for the request log).
// Errors: InvalidRequest when the body cannot be converted (the client's 400).
// `anthropic_request`: the client's body, parsed once per request however many OpenAI-format
// providers it is tried on.
Result<HttpRequest> openai_upstream_request(const ProviderConfig& provider, const nlohmann::json& anthropic_request,
                                            const std::string& upstream_model, const Headers& client_headers,
                                            const ClientAuth& auth, std::vector<std::string>& notes);

// A buffered 2xx chat.completion → an Anthropic message body (`model` = the client's).
// Errors: UpstreamProtocol when the body is not a usable completion (fails over).
Result<nlohmann::json> anthropic_message_from_openai(std::string_view body, std::string_view client_model,
                                                     const ProviderConfig& provider);

// A buffered OpenAI error body with its status → an Anthropic error body.
std::string anthropic_error_from_openai(int status, std::string_view body);

}  // namespace balancer::detail
