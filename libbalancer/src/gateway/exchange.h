// exchange.h — small helpers the endpoint handlers share (private): Anthropic-shaped error and
// JSON answers, request header and query lookups, and the client auth check. Pure; any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <balancer/gateway.h>
#include <balancer/response.h>
#include "config/client_auth.h"

namespace balancer::detail {

// {"type":"error","error":{"type":type,"message":message}} with `status`.
Response error_response(int status, std::string_view type, std::string_view message);
Response json_response(int status, const nlohmann::json& body);
Response content_response(int status, std::string body, std::string content_type);

// The first value of header `name` (any case); empty when absent.
std::string header_value(const ClientRequest& request, std::string_view name);
// The declared Content-Length; nullopt when absent or not a number.
std::optional<std::size_t> content_length(const ClientRequest& request);
// The percent-decoded value of query parameter `name` ('+' is a space); nullopt when absent.
std::optional<std::string> query_param(const ClientRequest& request, std::string_view name);

// Checks the client's key for `access`: nullopt when allowed, else the 401 answer.
std::optional<Response> check_auth(const ClientAuth& auth, const ClientRequest& request, ClientAuth::Access access);

}  // namespace balancer::detail
