#include "stream/sse_parser.h"

namespace balancer::detail {

void SseParser::feed(std::string_view chunk, const Callback& on_event) {
  if (!bom_checked_ && !chunk.empty()) {
    // The BOM can only be judged once three bytes (or a non-BOM byte) are available.
    line_.append(chunk);
    pending_bytes_ += chunk.size();
    if (line_.size() < 3 && std::string_view("\xEF\xBB\xBF").substr(0, line_.size()) == line_) {
      return;
    }
    bom_checked_ = true;
    std::string buffered;
    buffered.swap(line_);
    std::string_view rest(buffered);
    if (rest.substr(0, 3) == "\xEF\xBB\xBF") {
      rest.remove_prefix(3);
    }
    pending_bytes_ -= rest.size();  // the BOM stays counted; `rest` is counted again below
    feed(rest, on_event);
    return;
  }
  std::size_t i = 0;
  while (i < chunk.size()) {
    std::size_t line_end = i;
    while (line_end < chunk.size() && chunk[line_end] != '\r' && chunk[line_end] != '\n') {
      ++line_end;
    }
    if (line_end > i) {  // a run of bytes inside a line: appended at once
      line_.append(chunk.substr(i, line_end - i));
      pending_bytes_ += line_end - i;
      last_was_cr_ = false;
      i = line_end;
      continue;
    }
    const char c = chunk[i++];
    ++pending_bytes_;
    if (c == '\n' && last_was_cr_) {
      last_was_cr_ = false;
      if (line_.empty() && !has_data_ && current_.event.empty() && pending_bytes_ == 1) {
        pending_bytes_ = 0;  // the LF of a CRLF that already ended an event
      }
      continue;
    }
    last_was_cr_ = c == '\r';
    process_line(line_, on_event);  // c is '\r' or '\n'
    line_.clear();
  }
}

void SseParser::process_line(std::string_view line, const Callback& on_event) {
  if (line.empty()) {
    if (has_data_ || !current_.event.empty()) {
      on_event(current_);
    }
    current_ = SseEvent{};
    has_data_ = false;
    pending_bytes_ = 0;
    return;
  }
  if (line.front() == ':') {
    return;  // comment
  }
  const std::size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') {
    value.remove_prefix(1);
  }
  if (field == "event") {
    current_.event.assign(value);
  } else if (field == "data") {
    if (has_data_) {
      current_.data.push_back('\n');
    }
    current_.data.append(value);
    has_data_ = true;
  }
}

}  // namespace balancer::detail
