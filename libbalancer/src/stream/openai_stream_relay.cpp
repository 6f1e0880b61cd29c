// openai_stream_relay.cpp — pulls an OpenAI chunk stream through a StreamTranslator for the
// client (see openai_stream_relay.h).
#include "stream/openai_stream_relay.h"

namespace balancer::detail {

OpenAiStreamRelay::OpenAiStreamRelay(std::unique_ptr<UpstreamCall> call, std::string client_model,
                                     FailureCallback on_failure)
    : call_(std::move(call)), translator_(std::move(client_model)), on_failure_(std::move(on_failure)) {}

void OpenAiStreamRelay::pump() {
  auto more = call_->read(chunk_);
  if (!more) {
    translator_.fail(std::string(to_string(more.error().code)) + ": " + more.error().message, ready_);
  } else if (!*more) {
    translator_.finish(ready_);
  } else {
    bytes_received_ += chunk_.size();
    translator_.feed(chunk_, ready_);
  }
  if (translator_.done() && !translator_.completed() && committed_ && !failure_reported_ && on_failure_) {
    failure_reported_ = true;
    on_failure_(translator_.failure());
  }
}

std::string OpenAiStreamRelay::prime() {
  while (ready_.empty() && !translator_.done()) {
    pump();
  }
  if (!translator_.started() && !translator_.upstream_error().empty()) {
    first_event_type_ = "error";  // classified like an Anthropic stream opening with an error
    first_event_data_ = translator_.upstream_error();
    return {};
  }
  if (translator_.done() && !translator_.completed()) {
    // Broken before anything reached the client (a short answer that ended in an error can
    // arrive in one read): fail over instead of relaying it.
    return (bytes_received_ == 0 ? "empty_stream: " : "") + translator_.failure();
  }
  first_event_type_ = "message_start";
  return {};
}

bool OpenAiStreamRelay::next(std::string& out) {
  committed_ = true;
  while (ready_.empty() && !translator_.done()) {
    pump();
  }
  return hand_out(ready_, call_, out);
}

}  // namespace balancer::detail
