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
  InvalidRequest,   // the client's request is malformed (bad JSON, no model, ...)
  InvalidConfig,    // a configuration file or value is wrong; the message names the key
  NotFound,         // no route / provider for what was asked
  Unauthorized,     // client credentials missing or wrong
  RequestTooLarge,  // request body over the limit
  UpstreamConnect,  // refused, reset, DNS failure, dropped connection
  UpstreamTls,      // TLS handshake or certificate failure
  UpstreamTimeout,  // no headers within the header timeout, or a body idle past the idle timeout
  UpstreamProtocol, // the upstream answered something that is not HTTP we can use
  Cancelled,        // the caller gave up (client went away)
  Internal,         // a bug or an unexpected condition
};

std::string_view to_string(ErrorCode code);

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
