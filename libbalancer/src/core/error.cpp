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

std::string_view to_string(FailureClass failure_class) {
  switch (failure_class) {
    case FailureClass::None: return "";
    case FailureClass::HttpStatus: return "http_status";
    case FailureClass::ErrorPayload: return "error_payload";
    case FailureClass::HtmlBody: return "html_body";
    case FailureClass::InvalidJson: return "invalid_json";
    case FailureClass::EmptyBody: return "empty_body";
    case FailureClass::ErrorEvent: return "error_event";
    case FailureClass::ConnectionError: return "connection_error";
    case FailureClass::TimeoutError: return "timeout_error";
    case FailureClass::SslError: return "ssl_error";
    case FailureClass::ProtocolError: return "protocol_error";
    case FailureClass::InternalError: return "internal_error";
    case FailureClass::InvalidRequest: return "invalid_request";
    case FailureClass::OAuthLogin: return "oauth_login";
    case FailureClass::OAuthRefresh: return "oauth_refresh";
    case FailureClass::UnsupportedEndpoint: return "unsupported_endpoint";
    case FailureClass::InvalidResponse: return "invalid_response";
    case FailureClass::StreamError: return "stream_error";
    case FailureClass::UpstreamError: return "upstream_error";
    case FailureClass::Cancelled: return "cancelled";
  }
  return "internal_error";
}

}  // namespace balancer
