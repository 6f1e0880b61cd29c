#include "forward/forwarder.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <balancer/anthropic_error.h>
#include "json/client_request.h"
#include "json/json_dom.h"
#include "tokens/token_estimator.h"

#include "core/retry_after.h"
#include "forward/anthropic_upstream.h"
#include "forward/header_rules.h"
#include "forward/openai_upstream.h"
#include "forward/upstream_response.h"
#include "health/response_classifier.h"
#include "stream/message_stream.h"
#include "stream/openai_stream_relay.h"
#include "stream/sse_relay.h"

namespace balancer {

// What trying one candidate gave: a committed result, or a failure to record and move past.
struct Forwarder::TryOutcome {
  std::optional<ForwardResult> result;
  Attempt attempt;
  std::optional<std::chrono::seconds> retry_after;  // from a failed 429/503/529
  FailureClass error_class = FailureClass::None;    // failures: what kind (see response_classifier.h)
  std::string upstream_error_type;                  // failures: the error type the upstream named
  bool penalize = false;                            // failures: counts against the provider's health
  bool endpoint_unsupported = false;                // count_tokens answered 404/405/501: not a failure
};

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr std::size_t kErrorBodyPeek = 64 * 1024;

using detail::is_event_stream;
using detail::read_body;
using detail::summarize_error_body;

ForwardResult balancer_error(int status, std::string_view type, std::string_view message) {
  ForwardResult r;
  r.status = status;
  r.headers = {{"content-type", "application/json"}};
  r.body = anthropic_error_body(type, message);
  return r;
}

bool is_count_tokens(const ForwardRequest& request) { return request.path.ends_with("/count_tokens"); }

bool client_gone(const ForwardRequest& request) { return request.cancelled && request.cancelled(); }

// The client-gone check as an upstream call sees it: live only while the attempt that started
// the call runs (a committed stream outlives it, and may be pumped by a coalesced follower once
// the client's connection is gone and its descriptor reused). Closed on destruction.
class CancelScope {
 public:
  explicit CancelScope(const ForwardRequest& request)
      : state_(request.cancelled ? std::make_shared<State>(request.cancelled) : nullptr) {}
  ~CancelScope() {
    if (state_) {
      state_->open.store(false);
    }
  }
  CancelScope(const CancelScope&) = delete;
  CancelScope& operator=(const CancelScope&) = delete;

  std::function<bool()> check() const {
    if (!state_) {
      return {};
    }
    return [state = state_] { return state->open.load() && state->gone(); };
  }

 private:
  struct State {
    explicit State(std::function<bool()> g) : gone(std::move(g)) {}
    std::function<bool()> gone;
    std::atomic<bool> open{true};
  };
  std::shared_ptr<State> state_;
};

// count_tokens keeps a health record of its own: its failures never touch messages health.
std::string attempt_health_key(const std::string& key, bool count_tokens) {
  return count_tokens ? key + "#count_tokens" : key;
}

std::string describe(const Error& error) { return fmt::format("{}: {}", to_string(error.code), error.message); }

// The request body as a DOM, parsed on first use (a validated body always parses).
const nlohmann::json& parsed_document(std::string_view body, std::optional<nlohmann::json>& document) {
  if (!document) {
    document = detail::parse_json_dom(body);
  }
  return *document;
}

}  // namespace

Forwarder::Forwarder(const Router& router, HttpTransport& transport, const ClientAuth& auth, const Clock& clock,
                     ProviderStats& stats, ForwarderOptions options)
    : router_(router), transport_(transport), auth_(auth), clock_(clock), stats_(stats), options_(options) {}

Forwarder::TryOutcome Forwarder::try_candidate(const Candidate& candidate, const ForwardRequest& request,
                                               const MessageRequestInfo& info, const std::string& account,
                                               const std::string& conversation,
                                               std::optional<nlohmann::json>& document) const {
  const std::string& client_model = info.model;
  const bool remove_provider = info.pinned_provider.has_value();
  const bool client_streams = info.stream;
  const ProviderConfig& provider = *candidate.provider;
  const Settings& settings = router_.config().settings;
  TryOutcome outcome;
  outcome.attempt.provider = provider.name;
  const SteadyTime started = clock_.now();
  auto fail = [&](detail::Classification c, std::string error) {
    if (c.error_class != FailureClass::Cancelled && client_gone(request)) {
      // The client left while this attempt ran: whatever went wrong, it says nothing sure
      // about the provider, and nobody is left to fail over for.
      c = {detail::Classification::Verdict::Failure, FailureClass::Cancelled, false};
      error = "cancelled: the client went away (" + error + ")";
    }
    outcome.error_class = c.error_class;
    outcome.attempt.error_class = std::string(to_string(c.error_class));
    outcome.penalize = c.penalize;
    outcome.attempt.error = std::move(error);
    outcome.attempt.elapsed = duration_cast<milliseconds>(clock_.now() - started);
    return std::move(outcome);
  };
  auto transport_failure = [&](const Error& error) {
    return fail(detail::classify_transport_error(error.code, settings), describe(error));
  };
  const bool openai = provider.type == ProviderType::OpenAI;
  const bool oauth = provider.auth_type == AuthType::OAuth && !provider.passthrough();
  outcome.attempt.account = account;
  // An OAuth provider needs its account's access token first; not having one says nothing
  // about the provider's health.
  auto oauth_failure = [&](const std::string& message) {
    return fail(
        {detail::Classification::Verdict::Failure, FailureClass::OAuthLogin, false},
        account.empty() ? "oauth_error: " + message : fmt::format("oauth_error: account {}: {}", account, message));
  };
  std::string token;
  if (oauth) {
    if (options_.oauth == nullptr) {
      return oauth_failure("this balancer has no OAuth accounts configured");
    }
    if (account.empty()) {
      return oauth_failure("no logged-in Claude account; log in with GET /oauth/authorize");
    }
    auto got = options_.oauth->access_token(account);
    if (!got) {
      const bool login = got.error().code == ErrorCode::NotFound || got.error().code == ErrorCode::Unauthorized;
      return oauth_failure(login ? fmt::format("{}; log in with GET /oauth/generate-url?account_email={} "
                                               "and POST /oauth/exchange-code",
                                               got.error().message, account)
                                 : got.error().message);
    }
    token = std::move(*got);
  }
  const CancelScope cancel_scope(request);  // closed when this attempt returns
  std::unique_ptr<UpstreamCall> call;
  bool counted = false;
  bool unconvertible = false;  // the request could not be built for this provider
  auto start = [&]() -> Result<HttpResponseHead> {
    auto upstream =
        openai ? detail::openai_upstream_request(provider, parsed_document(request.body, document),
                                                 candidate.rewrite_model ? candidate.upstream_model : client_model,
                                                 request.headers, auth_, outcome.attempt.notes)
               : Result<HttpRequest>(detail::anthropic_upstream_request(candidate, request, info.members,
                                                                        remove_provider, auth_, token));
    if (!upstream) {
      unconvertible = true;
      return tl::unexpected(upstream.error());
    }
    upstream->connect_timeout = settings.timeouts.connect_timeout;
    if (is_count_tokens(request)) {  // a count is quick or not worth waiting for: estimate
      upstream->header_timeout = settings.timeouts.count_tokens_timeout;
      upstream->idle_timeout = settings.timeouts.count_tokens_timeout;
    } else {
      upstream->header_timeout = settings.header_timeout;
      upstream->idle_timeout = settings.timeouts.read_timeout;
    }
    upstream->proxy = provider.proxy;
    upstream->cancelled = cancel_scope.check();
    if (!counted) {  // a retry after a 401 is part of the same attempt
      stats_.record_attempt(provider.name);
      counted = true;
    }
    call = transport_.start(std::move(*upstream));
    return call->head();
  };

  auto head = start();
  if (unconvertible) {
    return fail({detail::Classification::Verdict::Failure, FailureClass::InvalidRequest, false},
                describe(head.error()));
  }
  if (head && head->status == 401 && oauth) {
    // The access token was refused (revoked, or expired early): refresh once — or take the
    // token another request already refreshed — and try again.
    call.reset();
    auto renewed = options_.oauth->refresh_after_rejection(account, token);
    if (!renewed) {
      // The account cannot serve now: count it against this provider and account so that its
      // conversations move to another account while the token endpoint recovers.
      outcome.attempt.status = 401;
      return fail({detail::Classification::Verdict::Failure, FailureClass::OAuthRefresh, true},
                  fmt::format("oauth_error: account {}: the provider refused the access token (HTTP 401) "
                              "and it could not be refreshed: {}",
                              account, renewed.error().message));
    }
    token = std::move(*renewed);
    head = start();
  }
  if (!head) {
    return transport_failure(head.error());
  }
  const int status = head->status;
  outcome.attempt.status = status;
  if (is_count_tokens(request) && (status == 404 || status == 405 || status == 501)) {
    outcome.endpoint_unsupported = true;
    return fail({detail::Classification::Verdict::Failure, FailureClass::UnsupportedEndpoint, false},
                fmt::format("HTTP {}: count_tokens not supported", status));
  }
  detail::ResponseEvidence evidence;
  evidence.status = status;
  evidence.client_credentials = provider.passthrough();
  evidence.event_stream = is_event_stream(head->headers) && status >= 200 && status < 300;
  evidence.content_type = find_header(head->headers, "content-type").value_or("");

  std::unique_ptr<detail::PrimedStream> relay;
  std::string full_body;
  std::optional<std::string> streamed_from_json;
  if (evidence.event_stream) {
    // The stream may outlive this Forwarder (a reload frees its snapshot while the stream runs):
    // capture only the shared, server-lifetime objects.
    // After a committed stream failed, the conversation's retry must land elsewhere at once,
    // below the failure threshold too: the failed provider/account is avoided for it.
    const Duration avoid_for = settings.sticky_provider_duration > Duration::zero() ? settings.sticky_provider_duration
                                                                                    : settings.failure_cooldown;
    auto on_failure = [stats = &stats_, health = options_.health, affinity = options_.affinity, clock = &clock_,
                       name = provider.name, key = health_key(provider, account), conversation,
                       avoid_for](const detail::StreamFailure& failure) {
      // An error event that blames the request (invalid_request_error, not_found_error,
      // request_too_large) is relayed and ends the stream unfinished, but is not the provider's
      // failure: the same request would fail anywhere.
      const std::string_view type = failure.upstream_error_type;
      if (failure.error_class == FailureClass::UpstreamError &&
          (type == "invalid_request_error" || type == "not_found_error" || type == "request_too_large")) {
        return;
      }
      stats->record_failure(name, "stream: " + failure.message);
      const std::string error_class(to_string(failure.error_class));
      if (health != nullptr) {
        health->record(key, Outcome::failure(error_class, 0, std::nullopt,
                                             cooldown_class_of(error_class, 0, failure.upstream_error_type)));
      }
      if (affinity != nullptr && !conversation.empty()) {
        affinity->avoid(conversation, key, clock->now() + avoid_for);
      }
    };
    if (openai) {
      relay = std::make_unique<detail::OpenAiStreamRelay>(std::move(call), client_model, std::move(on_failure));
    } else {
      relay = std::make_unique<detail::SseRelay>(std::move(call), provider.name, std::move(on_failure));
    }
    if (auto failure = relay->prime(clock_, settings.timeouts.first_event_timeout)) {
      if (failure->error_class == FailureClass::TimeoutError) {
        return fail(detail::classify_transport_error(ErrorCode::UpstreamTimeout, settings), failure->message);
      }
      return fail({detail::Classification::Verdict::Failure, failure->error_class, true}, failure->message);
    }
    evidence.first_event = relay->first_event_type();
    evidence.body = relay->first_event_data();
  } else {
    auto read = read_body(*call, status >= 400 ? kErrorBodyPeek : options_.max_buffered_body);
    if (!read) {
      return transport_failure(read.error());
    }
    full_body = std::move(*read);
    if (openai && status >= 200 && status < 300) {
      auto message = detail::anthropic_message_from_openai(full_body, client_model, provider);
      if (!message) {
        return fail({detail::Classification::Verdict::Failure, FailureClass::InvalidResponse, true},
                    fmt::format("invalid_response (HTTP {}): {}", status, message.error().message));
      }
      full_body = message->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      if (client_streams) {  // the provider ignored `stream: true`: render the message as a stream
        streamed_from_json = detail::anthropic_stream_from_message(*message);
      }
    }
    evidence.body = full_body;
  }

  const auto verdict = detail::classify_response(evidence, settings);
  if (verdict.failure()) {
    if (status == 429 || status == 503 || status == 529) {
      if (auto value = find_header(head->headers, "retry-after")) {
        outcome.retry_after = detail::parse_retry_after(*value, clock_.wall_now());
      }
    }
    outcome.upstream_error_type = detail::error_type_of(evidence.body);
    const std::string summary = summarize_error_body(evidence.body);
    const std::string what = verdict.error_class == FailureClass::HttpStatus
                                 ? fmt::format("HTTP {}", status)
                                 : fmt::format("{} (HTTP {})", to_string(verdict.error_class), status);
    return fail(verdict, summary.empty() ? what : what + ": " + summary);
  }

  ForwardResult result;
  result.status = status;
  result.provider = provider.name;
  if (openai) {
    // The upstream's headers describe an OpenAI response; the client gets an Anthropic one.
    result.headers.emplace_back("content-type", relay || streamed_from_json ? "text/event-stream" : "application/json");
    if (streamed_from_json) {
      full_body = std::move(*streamed_from_json);
    }
    if (!relay && status >= 300) {
      full_body = detail::anthropic_error_from_openai(status, full_body);
    }
  } else {
    for (auto& [name, value] : head->headers) {
      if (detail::is_forwardable_response_header(name)) {
        result.headers.emplace_back(std::move(name), std::move(value));
      }
    }
  }
  if (relay) {
    result.stream = std::move(relay);
  } else {
    result.body = std::move(full_body);
  }
  outcome.attempt.elapsed = duration_cast<milliseconds>(clock_.now() - started);
  outcome.result = std::move(result);
  return outcome;
}

void Forwarder::record_outcome(const std::string& provider, const std::string& health_key, TryOutcome& outcome) const {
  if (outcome.endpoint_unsupported || outcome.error_class == FailureClass::InvalidRequest ||
      outcome.error_class == FailureClass::OAuthLogin || outcome.error_class == FailureClass::Cancelled) {
    // The provider answered but cannot count tokens, or it was never contacted (the request
    // could not be converted for it, or its account has no usable login), or the client left:
    // none of this says anything about its health.
    if (options_.health != nullptr) {
      options_.health->release_probe(health_key);
    }
    return;
  }
  if (outcome.result) {
    stats_.record_success(provider, outcome.attempt.elapsed);
  } else {
    stats_.record_failure(provider, outcome.attempt.status != 0 ? fmt::format("HTTP {}", outcome.attempt.status)
                                                                : std::string(to_string(outcome.error_class)));
  }
  if (options_.health == nullptr) {
    return;
  }
  // Client errors (passed through) are successes as far as the provider's health goes: the
  // provider answered. Failures the settings do not count only release a probe.
  if (outcome.result) {
    options_.health->record(health_key, Outcome::ok());
  } else if (outcome.penalize) {
    std::optional<Duration> retry_after;
    if (outcome.retry_after) {
      retry_after = std::chrono::duration_cast<Duration>(*outcome.retry_after);
    }
    const std::string error_class(to_string(outcome.error_class));
    options_.health->record(health_key, Outcome::failure(error_class, outcome.attempt.status, retry_after,
                                                         cooldown_class_of(error_class, outcome.attempt.status,
                                                                           outcome.upstream_error_type)));
  } else {
    options_.health->release_probe(health_key);
  }
  const HealthSnapshot h = options_.health->snapshot(health_key);
  outcome.attempt.health =
      h.healthy || h.status == "probing"
          ? fmt::format("count={}/{}", h.failure_count, h.threshold)
          : fmt::format("count={}/{} {} for {:.0f} s", h.failure_count, h.threshold, h.status, h.cooldown_remaining_s);
}

std::string Forwarder::conversation_key(const ForwardRequest& request, const std::string& user_id) const {
  if (!user_id.empty()) {
    return "user:" + user_id;
  }
  if (auto session = find_header(request.headers, "x-claude-code-session-id"); session && !session->empty()) {
    return "session:" + std::string(*session);
  }
  return {};
}

ForwardResult Forwarder::estimate_tokens(const ForwardRequest& request, const std::string& model,
                                         std::string_view reason) const {
  const auto body = nlohmann::json::parse(request.body, nullptr, false);
  ForwardResult r;
  r.status = 200;
  r.model = model;
  r.headers = {{"content-type", "application/json"},
               {"x-balancer-token-count", fmt::format("estimate; reason={}", reason)}};
  r.body = nlohmann::json{{"input_tokens", estimate_input_tokens(body)}}.dump();
  return r;
}

ForwardResult Forwarder::forward(const ForwardRequest& request) const {
  auto info = inspect_request_body(request.body);
  if (!info) {
    return balancer_error(400, "invalid_request_error", info.error().message);
  }
  const Settings& settings = router_.config().settings;
  // Unbound OAuth providers pick the conversation's account even when provider stickiness is off.
  const std::string account_conversation = conversation_key(request, info->user_id);
  const std::string conversation = options_.affinity != nullptr && settings.sticky_provider_duration.count() > 0
                                       ? account_conversation
                                       : std::string();
  std::optional<std::string> preferred;
  if (!conversation.empty()) {
    preferred = options_.affinity->get(conversation, clock_.now());
  }
  RouteRequest route_request{info->model, std::nullopt, std::nullopt};
  if (info->pinned_provider) {
    route_request.pinned_provider = *info->pinned_provider;
  }
  if (preferred) {
    route_request.preferred_provider = *preferred;
  }
  // A conversation whose committed stream just failed (Claude Code retries it with the same
  // key) avoids that provider/account.
  std::optional<std::string> avoided;
  if (options_.affinity != nullptr && !account_conversation.empty()) {
    avoided = options_.affinity->avoided(account_conversation, clock_.now());
  }
  if (avoided) {
    route_request.avoided = *avoided;
  }
  // OAuth providers that bind no account take the conversation's account among these.
  const bool any_oauth = std::any_of(router_.config().providers.begin(), router_.config().providers.end(),
                                     [](const ProviderConfig& p) { return p.auth_type == AuthType::OAuth; });
  const std::vector<std::string> oauth_accounts =
      options_.oauth != nullptr && any_oauth ? options_.oauth->usable_accounts() : std::vector<std::string>();
  route_request.oauth_accounts = oauth_accounts;
  route_request.conversation = account_conversation;
  auto decision = router_.route(route_request);
  if (!decision) {
    auto r = balancer_error(404, "not_found_error", decision.error().message);
    r.model = info->model;
    return r;
  }

  std::vector<Attempt> attempts;
  std::optional<nlohmann::json> document;  // parsed by the first OpenAI-format attempt
  std::vector<std::string> skipped;
  std::optional<std::chrono::seconds> min_retry_after;
  bool all_rate_limited = true;
  bool all_invalid = true;  // every attempt refused the request as unconvertible
  // Providers in cooldown are contacted only when every candidate is in cooldown (or pinned).
  const bool force =
      info->pinned_provider.has_value() || std::none_of(decision->candidates.begin(), decision->candidates.end(),
                                                        [](const Candidate& c) { return c.healthy(); });
  const bool count_tokens = is_count_tokens(request);
  for (const Candidate& candidate : decision->candidates) {
    const std::string& name = candidate.provider->name;
    if (count_tokens && candidate.provider->type == ProviderType::OpenAI) {
      return estimate_tokens(request, info->model, "openai_provider");
    }
    if (count_tokens && options_.endpoint_support != nullptr &&
        options_.endpoint_support->unsupported(name, clock_.now())) {
      return estimate_tokens(request, info->model, "unsupported_by_provider");
    }
    const std::string& account = candidate.account_email;
    const std::string key = attempt_health_key(health_key(*candidate.provider, account), count_tokens);
    if (options_.health != nullptr && options_.health->acquire(key, force) == HealthPermit::Skip) {
      skipped.push_back(key);
      continue;
    }
    TryOutcome outcome;
    try {
      outcome = try_candidate(candidate, request, *info, account, account_conversation, document);
    } catch (const std::exception& e) {  // a bug must cost one attempt, not the request or a probe
      outcome = TryOutcome{};
      outcome.attempt.provider = name;
      outcome.attempt.account = account;
      outcome.attempt.error = std::string("internal_error: ") + e.what();
      outcome.error_class = FailureClass::InternalError;
      outcome.attempt.error_class = std::string(to_string(outcome.error_class));
    }
    record_outcome(name, key, outcome);
    if (outcome.error_class == FailureClass::Cancelled) {
      attempts.push_back(std::move(outcome.attempt));
      auto r = balancer_error(503, "api_error", "the client went away before the answer");
      r.attempts = std::move(attempts);
      r.model = info->model;
      return r;
    }
    if (outcome.endpoint_unsupported) {
      if (options_.endpoint_support != nullptr) {
        options_.endpoint_support->mark_unsupported(name, clock_.now());
      }
      return estimate_tokens(request, info->model, "unsupported_by_provider");
    }
    if (outcome.result) {
      ForwardResult result = std::move(*outcome.result);
      attempts.push_back(std::move(outcome.attempt));
      result.headers.emplace_back("x-balancer-provider", result.provider);
      result.headers.emplace_back("x-balancer-attempts", std::to_string(attempts.size()));
      result.attempts = std::move(attempts);
      result.model = info->model;
      if (!conversation.empty()) {
        options_.affinity->put(conversation, result.provider, clock_.now() + settings.sticky_provider_duration);
      }
      return result;
    }
    all_rate_limited = all_rate_limited && outcome.attempt.status == 429;
    all_invalid = all_invalid && outcome.error_class == FailureClass::InvalidRequest;
    if (outcome.retry_after && outcome.attempt.status == 429) {
      min_retry_after = std::min(min_retry_after.value_or(*outcome.retry_after), *outcome.retry_after);
    }
    attempts.push_back(std::move(outcome.attempt));
  }

  std::string listing;
  for (const Attempt& a : attempts) {
    listing += fmt::format("{}{}: {}", listing.empty() ? "" : "; ", a.provider, a.error);
  }
  for (const std::string& name : skipped) {
    listing += fmt::format("{}{}: skipped (cooling down, or another request is probing it)",
                           listing.empty() ? "" : "; ", name);
  }
  const std::string message = fmt::format("all {} provider(s) for model '{}' failed: {}",
                                          attempts.size() + skipped.size(), info->model, listing);
  if (count_tokens) {  // an estimate serves Claude Code better than an error
    return estimate_tokens(request, info->model, "providers_failed");
  }
  ForwardResult r;
  if (all_invalid && !attempts.empty()) {
    r = balancer_error(400, "invalid_request_error", message);
  } else if (all_rate_limited && !attempts.empty()) {
    r = balancer_error(429, "rate_limit_error", message);
    if (min_retry_after) {
      r.headers.emplace_back("retry-after", std::to_string(min_retry_after->count()));
    }
  } else if (!attempts.empty() && attempts.back().status == 529) {
    r = balancer_error(529, "overloaded_error", message);
  } else {
    r = balancer_error(503, "api_error", message);
  }
  r.headers.emplace_back("x-balancer-attempts", std::to_string(attempts.size()));
  r.attempts = std::move(attempts);
  r.model = info->model;
  return r;
}

}  // namespace balancer
