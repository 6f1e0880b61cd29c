// primed_stream.h — the interface the Forwarder needs from a streaming response before it
// commits to it: read ahead to the first event (so a failing provider can still be failed over),
// then relay the rest as a BodySource.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <balancer/clock.h>
#include <balancer/config.h>
#include <balancer/error.h>
#include <balancer/http.h>
#include <balancer/response.h>

namespace balancer::detail {

// Why a stream failed. Value type.
struct StreamFailure {
  // EmptyBody (no event at all), TimeoutError (no first event in time, or idle past
  // read_timeout), StreamError (dropped, cut short, unreadable), UpstreamError (the upstream
  // sent an error event inside the committed stream).
  FailureClass error_class = FailureClass::StreamError;
  std::string upstream_error_type;  // UpstreamError: e.g. "overloaded_error"
  std::string message;              // for logs and the attempt record
};

// Not thread-safe: one per response, driven by the thread that writes to the client.
class PrimedStream : public BodySource {
 public:
  // Called once if the stream fails after it was committed (next() called).
  using FailureCallback = std::function<void(const StreamFailure& failure)>;

  // Reads from the upstream until its first whole event is ready or the stream ended, for at
  // most `first_event_timeout` by `clock` (comments do not count as events). Called before the
  // response is committed: a failure here lets the caller fail over.
  virtual std::optional<StreamFailure> prime(const Clock& clock, Duration first_event_timeout) = 0;
  // The first event's type (e.g. "message_start", "error") and its data, once primed.
  const std::string& first_event_type() const { return first_event_type_; }
  const std::string& first_event_data() const { return first_event_data_; }

 protected:
  // The end of next(): moves the bytes that are ready into `out` (true), or, when none are left,
  // releases the upstream connection at once and reports the end (false).
  static bool hand_out(std::string& ready, std::unique_ptr<UpstreamCall>& call, std::string& out) {
    if (ready.empty()) {
      call.reset();
      return false;
    }
    out.clear();
    out.swap(ready);
    return true;
  }

  // The longest wait left before `deadline`, at least 1 ms (0 when it passed).
  static std::chrono::milliseconds time_left(const Clock& clock, SteadyTime deadline) {
    const SteadyTime now = clock.now();
    if (now >= deadline) {
      return std::chrono::milliseconds(0);
    }
    return std::max(std::chrono::milliseconds(1), std::chrono::ceil<std::chrono::milliseconds>(deadline - now));
  }
  static StreamFailure first_event_timed_out(Duration first_event_timeout) {
    return {FailureClass::TimeoutError,
            {},
            "timeout_error: no event from the upstream within first_event_timeout (" +
                std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(first_event_timeout).count()) +
                " ms) of its response headers"};
  }

  std::string first_event_type_;
  std::string first_event_data_;
};

}  // namespace balancer::detail
