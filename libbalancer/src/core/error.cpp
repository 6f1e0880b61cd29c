#include <balancer/error.h>

namespace balancer {

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidRequest: return "invalid_request";
    case ErrorCode::InvalidConfig: return "invalid_config";
    case ErrorCode::NotFound: return "not_found";
    case ErrorCode::Unauthorized: return "unauthorized";
    case ErrorCode::RequestTooLarge: return "request_too_large";
    case ErrorCode::UpstreamConnect: return "connection_error";
    case ErrorCode::UpstreamTls: return "ssl_error";
    case ErrorCode::UpstreamTimeout: return "timeout_error";
    case ErrorCode::UpstreamProtocol: return "protocol_error";
    case ErrorCode::Cancelled: return "cancelled";
    case ErrorCode::Internal: return "internal_error";
  }
  return "internal_error";
}

}  // namespace balancer
