// openai_stream_relay.cpp — pulls an OpenAI chunk stream through a StreamTranslator for the
// client (see openai_stream_relay.h).
#include "stream/openai_stream_relay.h"

#include "stream/openai_chunk.h"

namespace balancer::detail {

OpenAiStreamRelay::OpenAiStreamRelay(std::unique_ptr<UpstreamCall> call, std::string client_model,
                                     FailureCallback on_failure)
    : call_(std::move(call)), translator_(std::move(client_model)), on_failure_(std::move(on_failure)) {}

void OpenAiStreamRelay::pump(std::optional<std::chrono::milliseconds> longest) {
  auto more = longest ? call_->read_for(chunk_, *longest) : call_->read(chunk_);
  if (!more) {
    read_error_ = more.error().code;
    translator_.fail(std::string(to_string(more.error().code)) + ": " + more.error().message, ready_);
  } else if (!*more) {
    translator_.finish(ready_);
  } else {
    bytes_received_ += chunk_.size();
    translator_.feed(chunk_, ready_);
  }
  if (translator_.done() && !translator_.completed() && failure_.empty()) {
    StreamFailure failure = describe_failure();
    failure_ = failure.message;
    if (committed_ && on_failure_) {
      on_failure_(failure);
    }
  }
}

StreamFailure OpenAiStreamRelay::describe_failure() const {
  if (!translator_.upstream_error().empty()) {
    const UpstreamStreamError error = describe_upstream_error(translator_.upstream_error());
    return {FailureClass::UpstreamError, error.type, "upstream_error: " + error.type + ": " + error.message};
  }
  const FailureClass error_class =
      read_error_ == ErrorCode::UpstreamTimeout ? FailureClass::TimeoutError : FailureClass::StreamError;
  return {error_class, {}, translator_.failure()};
}

std::optional<StreamFailure> OpenAiStreamRelay::prime(const Clock& clock, Duration first_event_timeout) {
  const SteadyTime deadline = clock.now() + first_event_timeout;
  while (ready_.empty() && !translator_.done()) {
    const auto left = time_left(clock, deadline);
    if (left.count() == 0) {
      return first_event_timed_out(first_event_timeout);
    }
    pump(left);
    if (read_error_ == ErrorCode::UpstreamTimeout && clock.now() >= deadline) {
      return first_event_timed_out(first_event_timeout);
    }
  }
  if (!translator_.started() && !translator_.upstream_error().empty()) {
    first_event_type_ = "error";  // classified like an Anthropic stream opening with an error
    first_event_data_ = translator_.upstream_error();
    return std::nullopt;
  }
  if (translator_.done() && !translator_.completed()) {
    // Broken before anything reached the client (a short answer that ended in an error can
    // arrive in one read): fail over instead of relaying it.
    StreamFailure failure = describe_failure();
    if (bytes_received_ == 0 && !read_error_) {  // ended without a byte (a timeout stays one)
      failure.error_class = FailureClass::EmptyBody;
      failure.message = "empty_stream: " + failure.message;
    }
    return failure;
  }
  first_event_type_ = "message_start";
  return std::nullopt;
}

bool OpenAiStreamRelay::next(std::string& out) {
  committed_ = true;
  while (ready_.empty() && !translator_.done()) {
    pump(std::nullopt);
  }
  return hand_out(ready_, call_, out);
}

}  // namespace balancer::detail
