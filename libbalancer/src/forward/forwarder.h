// forwarder.h — forwards one client request to the first provider that answers usefully
// (spec §4, §6): request splicing, header and credential rules, failover before the first byte,
// and the SSE relay that never presents a truncated stream as a success.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <balancer/clock.h>
#include <balancer/health_tracker.h>
#include <balancer/http.h>
#include <balancer/oauth_client.h>
#include <balancer/response.h>
#include <balancer/router.h>
#include <nlohmann/json.hpp>
#include "config/client_auth.h"
#include "health/provider_stats.h"
#include "json/client_request.h"
#include "routing/conversation_affinity.h"
#include "routing/endpoint_support.h"

namespace balancer {

// A client request as the server received it. Value type.
struct ForwardRequest {
  std::string path;   // "/v1/messages" or "/v1/messages/count_tokens"
  std::string query;  // raw query string without '?', may be empty
  Headers headers;    // the client's headers
  std::string body;
  // Optional: true once the client went away; polled while waiting for an upstream, which
  // cancels the transfer (a non-streaming answer nobody waits for any more).
  std::function<bool()> cancelled = {};
};

// The request and response types now live in <balancer/response.h>; these are their names on
// the forwarding side.
using ForwardResult = Response;
using ResponseStream = BodySource;

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
  Forwarder(const Router& router, HttpTransport& transport, const ClientAuth& auth, const Clock& clock,
            ProviderStats& stats, ForwarderOptions options = {});

  // Never fails: every problem becomes an Anthropic error response (400 bad body, 404 unknown
  // model, 429/529/503 when every candidate failed).
  ForwardResult forward(const ForwardRequest& request) const;

 private:
  struct TryOutcome;
  // `conversation`: the request's conversation key (empty: none), avoided after a committed
  // stream of it fails.
  // `document`: the body parsed into a DOM by the first attempt that needs one (an OpenAI-format
  // provider), kept for the request's further attempts.
  TryOutcome try_candidate(const Candidate& candidate, const ForwardRequest& request, const MessageRequestInfo& info,
                           const std::string& account, const std::string& conversation,
                           std::optional<nlohmann::json>& document) const;
  ForwardResult estimate_tokens(const ForwardRequest& request, const std::string& model, std::string_view reason) const;
  void record_outcome(const std::string& provider, const std::string& health_key, TryOutcome& outcome) const;
  std::string conversation_key(const ForwardRequest& request, const std::string& user_id) const;

  const Router& router_;
  HttpTransport& transport_;
  const ClientAuth& auth_;
  const Clock& clock_;
  ProviderStats& stats_;
  ForwarderOptions options_;
};

}  // namespace balancer
