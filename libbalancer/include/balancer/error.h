// error.h — the closed error taxonomy of libbalancer and the Result<T> alias every fallible
// public function returns.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace balancer {

// What went wrong, as a closed set. Value type.
enum class ErrorCode {
  InvalidRequest,    // the client's request is malformed (bad JSON, no model, ...)
  InvalidConfig,     // a configuration file or value is wrong; the message names the key
  NotFound,          // no route / provider for what was asked
  Unauthorized,      // client credentials missing or wrong
  RequestTooLarge,   // request body over the limit
  UpstreamConnect,   // refused, reset, DNS failure, dropped connection
  UpstreamTls,       // TLS handshake or certificate failure
  UpstreamTimeout,   // no headers within the header timeout, or a body idle past the idle timeout
  UpstreamProtocol,  // the upstream answered something that is not HTTP we can use
  Cancelled,         // the caller gave up (client went away)
  Internal,          // a bug or an unexpected condition
};

std::string_view to_string(ErrorCode code);

// Why one attempt at a provider failed, as a closed set. Its to_string() names appear in logs,
// in /providers `last_error_class`, in attempt listings and in the `unhealthy_error_types`
// setting (which stays a list of these strings). Value type.
enum class FailureClass {
  None,                 // no failure (success or pass-through); to_string gives ""
  HttpStatus,           // "http_status": status listed in unhealthy_http_codes
  ErrorPayload,         // "error_payload": an error object, or a body matching a pattern
  HtmlBody,             // "html_body": a 2xx HTML page
  InvalidJson,          // "invalid_json": a 2xx body that is not JSON
  EmptyBody,            // "empty_body": a 2xx empty body or event stream
  ErrorEvent,           // "error_event": an event stream whose first event is `error`
  ConnectionError,      // "connection_error": refused, reset, DNS failure, dropped connection
  TimeoutError,         // "timeout_error"
  SslError,             // "ssl_error"
  ProtocolError,        // "protocol_error": any other transport failure
  InternalError,        // "internal_error": the balancer's own failure
  InvalidRequest,       // "invalid_request": the request could not be built for the provider
  OAuthLogin,           // "oauth_login": the account has no usable login
  OAuthRefresh,         // "oauth_refresh": the access token was refused and could not be refreshed
  UnsupportedEndpoint,  // "unsupported_endpoint": count_tokens answered 404/405/501
  InvalidResponse,      // "invalid_response": an OpenAI answer that cannot be converted
  StreamError,          // "stream_error": an event stream failed
  UpstreamError,        // "upstream_error": the upstream sent an error event inside a committed stream
  Cancelled,            // "cancelled": the client went away while the attempt ran (no penalty)
};

std::string_view to_string(FailureClass failure_class);

// An error with a human-readable message. Value type.
struct Error {
  ErrorCode code = ErrorCode::Internal;
  std::string message;
};

template <class T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> make_error(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message)});
}

}  // namespace balancer
