// request_head.h — the one place a client's request head is judged, from raw bytes, before
// anything else reads it: is it complete, is it well-formed HTTP/1.1 (RFC 9112), within the
// limits, and how is its body framed. The connection layer calls scan_request_head on the bytes
// it has buffered; cpp-httplib then parses only heads that passed. Pure functions, any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace balancer::server {

struct HeadLimits {
  std::size_t max_header_count = 100;
  std::size_t max_header_bytes = 64u << 10;  // names + values
  std::size_t max_line_bytes = 8190;         // one request line or header line: httplib's 8192 with CR LF
};

enum class BodyFraming { None, Length, Chunked };

struct HeadScan {
  enum class State {
    Incomplete,  // no end of head yet, and nothing wrong so far: read more
    Complete,    // a well-formed head of `head_bytes` bytes (leading empty lines included)
    Refused,     // answer `status` with `message` and close the connection
  };
  State state = State::Incomplete;
  std::size_t head_bytes = 0;
  std::size_t skipped = 0;  // of head_bytes, empty lines before the request line (to be dropped)
  BodyFraming framing = BodyFraming::None;
  std::uint64_t content_length = 0;  // when framing is Length
  bool close = false;                // the client asked for the connection to close
  // Complete only: the header fields as sent (names and trimmed values, no decoding), viewing
  // the scanned buffer — valid until it changes.
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  int status = 0;
  std::string message;
};

// Judges the start of `buffer` (bytes of one connection, at a request boundary). Incomplete
// heads are still refused as soon as they break a rule or a limit, so a client cannot hold a
// connection with a head that could never pass.
HeadScan scan_request_head(std::string_view buffer, const HeadLimits& limits);

// The framing rules alone (RFC 9112 §6, §3.2), over parsed headers: empty when sound, else why
// not. One Host for HTTP/1.1; at most one Content-Length, digits only; never Content-Length with
// Transfer-Encoding; only `chunked`; no body on GET, HEAD or OPTIONS. Also used where another
// parser (httplib's, behind TLS) read the head.
std::string framing_error(std::string_view method, std::string_view version,
                          const std::vector<std::pair<std::string_view, std::string_view>>& headers);

}  // namespace balancer::server
