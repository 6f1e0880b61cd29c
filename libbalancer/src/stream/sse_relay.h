// sse_relay.h — the BodySource for Anthropic SSE responses: relays whole events as they
// arrive and turns any unfinished upstream stream into an Anthropic error event.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <balancer/response.h>

#include "stream/openai_chunk.h"
#include "stream/primed_stream.h"
#include "stream/sse_parser.h"

namespace balancer::detail {

// Not thread-safe: one per response, driven by the thread that writes to the client. An error
// event the upstream sends inside the committed stream is relayed as sent and ends it as a
// failure (UpstreamError): it is neither complete nor cacheable.
class SseRelay final : public PrimedStream {
 public:
  SseRelay(std::unique_ptr<UpstreamCall> call, std::string provider, FailureCallback on_failure);

  // The first event's type is its `event:` name, else its JSON `type`.
  std::optional<StreamFailure> prime(const Clock& clock, Duration first_event_timeout) override;

  bool next(std::string& out) override;
  bool completed() const override { return finished_ && failure_.empty(); }
  const std::string& failure() const override { return failure_; }

 private:
  enum class Pump { Data, End, Failed };
  // One read: waiting at most `longest` when given, else the call's idle timeout.
  Pump pump(std::optional<std::chrono::milliseconds> longest);
  void fail(FailureClass error_class, std::string reason);
  void end_after_upstream_error();

  std::unique_ptr<UpstreamCall> call_;
  std::string provider_;
  FailureCallback on_failure_;
  SseParser parser_;
  std::string chunk_;
  std::string held_;                                   // bytes of an event not yet complete
  std::string ready_;                                  // whole events not yet handed out
  bool terminal_seen_ = false;                         // message_stop or an upstream error event
  std::optional<UpstreamStreamError> upstream_error_;  // the first error event the upstream sent
  bool events_seen_ = false;
  bool upstream_ended_ = false;
  bool committed_ = false;  // next() was called: failures are now the client's to see
  bool finished_ = false;
  std::string failure_;
  FailureClass failure_class_ = FailureClass::None;  // of failure_, once set
};

}  // namespace balancer::detail
