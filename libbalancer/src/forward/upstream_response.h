// upstream_response.h — small readers of an upstream response the forwarder decides on: is it
// an event stream, its Retry-After, a one-line summary of its error body, its whole body.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <balancer/error.h>
#include <balancer/http.h>

namespace balancer::detail {

// True when content-type is text/event-stream (parameters allowed).
bool is_event_stream(const Headers& headers);
// The `error.type` of an Anthropic or OpenAI error body (e.g. "overloaded_error"); empty when
// there is none.
std::string error_type_of(std::string_view body);
// "<type>: <message>" of an Anthropic or OpenAI error body (string fields only, message cut at
// 200 bytes); empty when the body has no error object.
std::string summarize_error_body(std::string_view body);
// Reads the rest of a body, up to `limit` bytes (more is an UpstreamProtocol error).
Result<std::string> read_body(UpstreamCall& call, std::size_t limit);

}  // namespace balancer::detail
