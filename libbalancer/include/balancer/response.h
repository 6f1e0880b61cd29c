// response.h — what the balancer answers a client: a status, headers, and either a whole body
// or a BodySource the front end pulls from as the client reads, plus the record of every
// provider attempt (for logs). The one shape every layer hands out: the Forwarder, the
// Deduplicator and the Gateway.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <balancer/http.h>

namespace balancer {

// One try of one provider. `status` is 0 when no HTTP status was received. Value type.
struct Attempt {
  std::string provider;
  int status = 0;
  std::string error;  // e.g. "connection_error: Connection refused"; empty on success
  std::chrono::milliseconds elapsed{0};
  std::string health;              // the provider's health after this attempt, e.g. "count=1/2"
  std::vector<std::string> notes;  // OpenAI providers: what the conversion left out
  std::string account;             // OAuth providers: the account's email
  std::string error_class;         // failures: e.g. "connection_error", "http_status", "internal_error"
};

// The rest of a committed streaming response, pulled by the one thread that writes to the
// client. Relays whole events as they arrive; an upstream drop or idle timeout becomes an
// Anthropic `event: error` and the end of the stream. Destroying it cancels the upstream
// transfer (or leaves a coalesced flight). Not thread-safe: one per response.
class BodySource {
 public:
  virtual ~BodySource() = default;
  // Replaces `out` with the next bytes for the client: true = bytes, false = the body is over.
  virtual bool next(std::string& out) = 0;
  // After the end: whether the upstream stream finished properly (message_stop, or an error
  // event the upstream sent itself). False when the balancer had to end it with an error.
  virtual bool completed() const = 0;
  // Why the stream did not complete; empty when it did.
  virtual const std::string& failure() const = 0;
};

// What to send back to the client. Exactly one of `body` / `stream` carries the content.
struct Response {
  int status = 500;
  Headers headers;  // includes content-type, x-balancer-provider and x-balancer-attempts
  std::string body;
  std::unique_ptr<BodySource> stream;
  std::vector<Attempt> attempts;
  std::string provider;  // the provider that answered; empty when the balancer answered itself
  std::string model;     // the client's model, when known
  // Set by the Gateway: the front end calls it exactly once, when the response is over
  // (`delivered` false: the client went away first). It logs and counts the request.
  std::function<void(bool delivered)> on_finish;
};

}  // namespace balancer
