#include "openai_stream_relay.h"

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
  if (translator_.started()) {
    first_event_type_ = "message_start";
    return {};
  }
  if (!translator_.upstream_error().empty()) {
    first_event_type_ = "error";
    first_event_data_ = translator_.upstream_error();
    return {};
  }
  // Nothing usable before the end: an empty or broken stream, which fails over.
  return "empty_stream: " + (translator_.failure().empty() ? std::string("the upstream sent no chunk")
                                                           : translator_.failure());
}

bool OpenAiStreamRelay::next(std::string& out) {
  committed_ = true;
  while (ready_.empty() && !translator_.done()) {
    pump();
  }
  if (ready_.empty()) {
    call_.reset();  // release the upstream connection as soon as the stream is over
    return false;
  }
  out.clear();
  out.swap(ready_);
  return true;
}

}  // namespace balancer::detail
