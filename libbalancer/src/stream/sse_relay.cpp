#include "stream/sse_relay.h"

#include <nlohmann/json.hpp>

#include <balancer/anthropic_error.h>

#include "stream/openai_chunk.h"

namespace balancer::detail {
namespace {

// The event's type: its `event:` name, else the `type` of its JSON data.
std::string event_type(const SseEvent& event) {
  if (!event.event.empty()) {
    return event.event;
  }
  auto data = nlohmann::json::parse(event.data, nullptr, false);
  if (data.is_object()) {
    auto it = data.find("type");
    if (it != data.end() && it->is_string()) {
      return it->get<std::string>();
    }
  }
  return {};
}

}  // namespace

SseRelay::SseRelay(std::unique_ptr<UpstreamCall> call, std::string provider, FailureCallback on_failure)
    : call_(std::move(call)), provider_(std::move(provider)), on_failure_(std::move(on_failure)) {}

SseRelay::Pump SseRelay::pump(std::optional<std::chrono::milliseconds> longest) {
  if (upstream_ended_) {
    return Pump::End;
  }
  auto more = longest ? call_->read_for(chunk_, *longest) : call_->read(chunk_);
  if (!more) {
    fail(more.error().code == ErrorCode::UpstreamTimeout ? FailureClass::TimeoutError : FailureClass::StreamError,
         std::string(to_string(more.error().code)) + ": " + more.error().message);
    return Pump::Failed;
  }
  if (!*more) {
    upstream_ended_ = true;
    return Pump::End;
  }
  parser_.feed(chunk_, [this](const SseEvent& event) {
    const std::string type = event_type(event);
    if (!events_seen_) {
      first_event_type_ = type;
      first_event_data_ = event.data;
    }
    events_seen_ = true;
    if (type == "message_stop" || type == "error") {
      terminal_seen_ = true;
    }
    if (type == "error" && !upstream_error_) {
      upstream_error_ = describe_upstream_error(event.data);
    }
  });
  held_ += chunk_;
  const std::size_t complete = held_.size() - parser_.pending_bytes();
  ready_.append(held_, 0, complete);
  held_.erase(0, complete);
  return Pump::Data;
}

void SseRelay::fail(FailureClass error_class, std::string reason) {
  failure_ = std::move(reason);
  failure_class_ = error_class;
  finished_ = true;
  held_.clear();
  ready_ += anthropic_error_event("api_error", "upstream provider '" + provider_ + "' stream failed: " + failure_);
  if (committed_ && on_failure_) {
    on_failure_(StreamFailure{error_class, {}, failure_});
  }
}

void SseRelay::end_after_upstream_error() {
  // The error event is relayed as the upstream sent it; nothing after it is read.
  finished_ = true;
  held_.clear();
  failure_ = "upstream_error: " + upstream_error_->type + ": " + upstream_error_->message;
  failure_class_ = FailureClass::UpstreamError;
  if (on_failure_) {
    on_failure_(StreamFailure{FailureClass::UpstreamError, upstream_error_->type, failure_});
  }
}

std::optional<StreamFailure> SseRelay::prime(const Clock& clock, Duration first_event_timeout) {
  const SteadyTime deadline = clock.now() + first_event_timeout;
  while (!events_seen_) {
    const auto left = time_left(clock, deadline);
    if (left.count() == 0) {
      return first_event_timed_out(first_event_timeout);
    }
    switch (pump(left)) {
      case Pump::Data: break;
      case Pump::End: return StreamFailure{FailureClass::EmptyBody, {}, "empty_stream: the upstream sent no event"};
      case Pump::Failed:
        if (clock.now() >= deadline) {
          return first_event_timed_out(first_event_timeout);
        }
        return StreamFailure{failure_class_, {}, failure_};  // e.g. read_timeout < first_event_timeout
    }
  }
  return std::nullopt;
}

bool SseRelay::next(std::string& out) {
  committed_ = true;
  while (!finished_) {
    if (upstream_error_) {
      // Recorded before the error event is handed out: a client that stops reading at the
      // error (Claude Code does) cannot make the failure go unrecorded.
      end_after_upstream_error();
      break;
    }
    if (!ready_.empty()) {
      break;
    }
    switch (pump(std::nullopt)) {
      case Pump::Data:
      case Pump::Failed: break;
      case Pump::End:
        if (terminal_seen_) {
          ready_ += held_;  // a final event without its blank line: relay as received
          held_.clear();
          finished_ = true;
        } else {
          fail(FailureClass::StreamError, "the stream ended before message_stop");
        }
        break;
    }
  }
  return hand_out(ready_, call_, out);
}

}  // namespace balancer::detail
