// forwarder.h — forwards one client request to the first provider that answers usefully
// (spec §4, §6): request splicing, header and credential rules, failover before the first byte,
// and the SSE relay that never presents a truncated stream as a success.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <balancer/client_auth.h>
#include <balancer/client_request.h>
#include <balancer/clock.h>
#include <balancer/conversation_affinity.h>
#include <balancer/endpoint_support.h>
#include <balancer/health_tracker.h>
#include <balancer/http.h>
#include <balancer/oauth_client.h>
#include <balancer/provider_stats.h>
#include <balancer/router.h>

namespace balancer {

// A client request as the server received it. Value type.
struct ForwardRequest {
  std::string path;   // "/v1/messages" or "/v1/messages/count_tokens"
  std::string query;  // raw query string without '?', may be empty
  Headers headers;    // the client's headers
  std::string body;
};

// One try of one provider. `status` is 0 when no HTTP status was received.
struct Attempt {
  std::string provider;
  int status = 0;
  std::string error;  // e.g. "connection_error: Connection refused"; empty on success
  std::chrono::milliseconds elapsed{0};
  std::string health;  // the provider's health after this attempt, e.g. "count=1/2"
  std::vector<std::string> notes;  // OpenAI providers: what the conversion left out
  std::string account;             // OAuth providers: the account's email
  std::string error_class;  // failures: e.g. "connection_error", "http_status", "internal_error"
};

// The rest of a committed streaming (SSE) response, pulled by the server thread that writes to
// the client. Relays whole events as they arrive; an upstream drop or idle timeout becomes an
// Anthropic `event: error` and the end of the stream. Destroying it cancels the upstream
// transfer. Not thread-safe: one per response.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  // Replaces `out` with the next bytes for the client: true = bytes, false = the stream is over.
  virtual bool next(std::string& out) = 0;
  // After the end: whether the upstream stream finished properly (message_stop, or an error
  // event the upstream sent itself). False when the balancer had to end it with an error.
  virtual bool completed() const = 0;
  // Why the stream did not complete; empty when it did.
  virtual const std::string& failure() const = 0;
};

// What to send back to the client. Exactly one of `body` / `stream` carries the content.
struct ForwardResult {
  int status = 500;
  Headers headers;  // includes content-type, x-balancer-provider and x-balancer-attempts
  std::string body;
  std::unique_ptr<ResponseStream> stream;
  std::vector<Attempt> attempts;
  std::string provider;  // the provider that answered; empty when the balancer answered itself
  std::string model;     // the client's model, when known
};

struct ForwarderOptions {
  std::size_t max_buffered_body = 64u << 20;  // non-streaming upstream bodies
  // Optional shared state (owned by the caller, must outlive the Forwarder): provider health,
  // fed with every attempt's outcome and consulted before contacting a provider; and
  // conversation affinity. Without them every provider is always tried and nothing is sticky.
  HealthTracker* health = nullptr;
  ConversationAffinity* affinity = nullptr;
  // Optional: providers known not to have count_tokens (answered locally with an estimate).
  EndpointSupport* endpoint_support = nullptr;
  // Optional: the OAuth accounts `auth_type: oauth` providers use. Without it such providers
  // fail every attempt with a message saying so (and are not penalised).
  OAuthClient* oauth = nullptr;
};

// Thread-safe; one per config snapshot. `router`, `transport`, `auth`, `clock` and `stats` must
// outlive it.
class Forwarder {
 public:
  Forwarder(const Router& router, HttpTransport& transport, const ClientAuth& auth,
            const Clock& clock, ProviderStats& stats, ForwarderOptions options = {});

  // Never fails: every problem becomes an Anthropic error response (400 bad body, 404 unknown
  // model, 429/529/503 when every candidate failed).
  ForwardResult forward(const ForwardRequest& request) const;

 private:
  struct TryOutcome;
  TryOutcome try_candidate(const Candidate& candidate, const ForwardRequest& request,
                           const MessageRequestInfo& info, const std::string& account) const;
  void choose_account(Candidate& candidate, const std::string& conversation) const;
  ForwardResult estimate_tokens(const ForwardRequest& request, const std::string& model,
                                std::string_view reason) const;
  void record_outcome(const std::string& provider, const std::string& health_key,
                      TryOutcome& outcome) const;
  std::string conversation_key(const ForwardRequest& request, const std::string& user_id) const;

  const Router& router_;
  HttpTransport& transport_;
  const ClientAuth& auth_;
  const Clock& clock_;
  ProviderStats& stats_;
  ForwarderOptions options_;
};

}  // namespace balancer
