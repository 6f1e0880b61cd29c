// primed_stream.h — the interface the Forwarder needs from a streaming response before it
// commits to it: read ahead to the first event (so a failing provider can still be failed over),
// then relay the rest as a BodySource.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <balancer/http.h>
#include <balancer/response.h>

namespace balancer::detail {

// Not thread-safe: one per response, driven by the thread that writes to the client.
class PrimedStream : public BodySource {
 public:
  // Called once if the stream fails after it was committed (next() called).
  using FailureCallback = std::function<void(const std::string& failure)>;

  // Reads from the upstream until at least one whole event is ready or the stream ended.
  // Called before the response is committed: an error or an empty stream here lets the caller
  // fail over. Returns the failure, or an empty string when an event is ready.
  virtual std::string prime() = 0;
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

  std::string first_event_type_;
  std::string first_event_data_;
};

}  // namespace balancer::detail
