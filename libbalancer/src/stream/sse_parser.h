// sse_parser.h — incremental Server-Sent Events parser: bytes in arbitrary chunks, events out.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace balancer::detail {

// One dispatched event. `event` is empty when the stream gave no `event:` field.
struct SseEvent {
  std::string event;
  std::string data;  // data lines joined with '\n'
};

// Parses an SSE byte stream fed in chunks split anywhere (also inside "\r\n"). Handles LF, CRLF
// and CR line endings, comments, multi-line data, and a leading UTF-8 BOM.
// Not thread-safe; one per stream.
class SseParser {
 public:
  using Callback = std::function<void(const SseEvent&)>;

  // Parses `chunk`, calling `on_event` for every event completed by it.
  void feed(std::string_view chunk, const Callback& on_event);

  // Bytes fed so far that belong to an event not yet completed (no blank line seen yet).
  // A relay that forwards only `total - pending_bytes()` can end a stream on an event boundary.
  std::size_t pending_bytes() const { return pending_bytes_; }

 private:
  void process_line(std::string_view line, const Callback& on_event);

  std::string line_;          // current incomplete line
  bool last_was_cr_ = false;  // previous chunk ended with '\r' (a following '\n' is part of it)
  bool bom_checked_ = false;
  SseEvent current_;
  bool has_data_ = false;
  std::size_t pending_bytes_ = 0;
};

}  // namespace balancer::detail
