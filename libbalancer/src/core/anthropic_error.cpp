#include <balancer/anthropic_error.h>

#include <nlohmann/json.hpp>

namespace balancer {

std::string anthropic_error_body(std::string_view type, std::string_view message) {
  nlohmann::ordered_json body = {{"type", "error"}, {"error", {{"type", type}, {"message", message}}}};
  return body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string anthropic_error_event(std::string_view type, std::string_view message) {
  return "event: error\ndata: " + anthropic_error_body(type, message) + "\n\n";
}

ErrorReply error_reply_for(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidRequest: return {400, "invalid_request_error"};
    case ErrorCode::InvalidConfig: return {400, "invalid_request_error"};
    case ErrorCode::NotFound: return {404, "not_found_error"};
    case ErrorCode::Unauthorized: return {401, "authentication_error"};
    case ErrorCode::RequestTooLarge: return {413, "request_too_large"};
    case ErrorCode::UpstreamTimeout: return {504, "api_error"};
    case ErrorCode::UpstreamConnect:
    case ErrorCode::UpstreamTls:
    case ErrorCode::UpstreamProtocol: return {502, "api_error"};
    case ErrorCode::Cancelled: return {499, "api_error"};
    case ErrorCode::Internal: return {500, "api_error"};
  }
  return {500, "api_error"};
}

}  // namespace balancer
