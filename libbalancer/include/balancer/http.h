// http.h — the upstream I/O seam: plain request/response values and the HttpTransport
// interface. The production implementation is in curl_transport.h; tests use
// testing/fake_transport.h.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <balancer/error.h>

namespace balancer {

// Ordered header list; names keep the case they arrived with and compare case-insensitively.
using Headers = std::vector<std::pair<std::string, std::string>>;

bool iequals(std::string_view a, std::string_view b);
// The first value of header `name` (case-insensitive), if present.
std::optional<std::string_view> find_header(const Headers& headers, std::string_view name);

// One outbound request. Value type.
struct HttpRequest {
  std::string method = "POST";
  std::string url;
  Headers headers;
  std::string body;
  std::chrono::milliseconds connect_timeout{10'000};
  // Longest wait for the response status and headers (first byte).
  std::chrono::milliseconds header_timeout{300'000};
  // Longest gap without body bytes once the headers arrived. There is no total timeout.
  std::chrono::milliseconds idle_timeout{120'000};
  std::string proxy;  // e.g. "socks5://127.0.0.1:1080"; empty = direct
  // Polled (from the thread driving the call) while it waits for the upstream, at least every
  // 250 ms: true once the client went away, which cancels the transfer (ErrorCode::Cancelled).
  std::function<bool()> cancelled;
};

// Status line and headers of a response. Value type.
struct HttpResponseHead {
  int status = 0;
  Headers headers;
};

// A complete, buffered response. Value type.
struct HttpResponse {
  int status = 0;
  Headers headers;
  std::string body;
};

// One request in flight, read in pull style: first head(), then read() until it returns false.
// Destroying the object cancels the transfer. Not thread-safe: one thread drives one call.
class UpstreamCall {
 public:
  virtual ~UpstreamCall() = default;
  // Blocks until the final status and headers arrived. Errors: UpstreamConnect, UpstreamTls,
  // UpstreamTimeout (header_timeout passed), UpstreamProtocol.
  virtual Result<HttpResponseHead> head() = 0;
  // Blocks until more body bytes arrived and replaces `chunk` with them: true = data, false =
  // the body ended cleanly. Errors: UpstreamConnect (dropped), UpstreamTimeout (idle_timeout).
  virtual Result<bool> read(std::string& chunk) = 0;
  // As read(), waiting at most `longest` (or idle_timeout when shorter) for the bytes: the
  // caller's own deadline, e.g. for a stream's first event.
  virtual Result<bool> read_for(std::string& chunk, std::chrono::milliseconds longest) {
    (void)longest;
    return read(chunk);
  }
};

// Starts upstream requests. Implementations must allow concurrent start() calls from many threads.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  virtual std::unique_ptr<UpstreamCall> start(HttpRequest request) = 0;

  // Convenience: runs a request to completion and buffers the body (at most `max_body` bytes).
  Result<HttpResponse> send(HttpRequest request, std::size_t max_body = 64u << 20);
};

}  // namespace balancer
