#include <balancer/forwarder.h>

#include <algorithm>
#include <charconv>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <balancer/anthropic_error.h>
#include <balancer/client_request.h>

#include "header_rules.h"
#include "json_splice.h"
#include "sse_relay.h"

namespace balancer {

// What trying one candidate gave: a committed result, or a failure to record and move past.
struct Forwarder::TryOutcome {
  std::optional<ForwardResult> result;
  Attempt attempt;
  std::optional<long> retry_after_s;  // from a failed 429/503/529
};

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr std::size_t kErrorBodyPeek = 64 * 1024;

ForwardResult balancer_error(int status, std::string_view type, std::string_view message) {
  ForwardResult r;
  r.status = status;
  r.headers = {{"content-type", "application/json"}};
  r.body = anthropic_error_body(type, message);
  return r;
}

bool is_event_stream(const Headers& headers) {
  auto type = find_header(headers, "content-type");
  return type && type->size() >= 17 && iequals(type->substr(0, 17), "text/event-stream");
}

std::optional<long> parse_retry_after(const Headers& headers) {
  auto value = find_header(headers, "retry-after");
  if (!value) {
    return std::nullopt;
  }
  long seconds = 0;
  auto [ptr, ec] = std::from_chars(value->data(), value->data() + value->size(), seconds);
  if (ec != std::errc() || ptr != value->data() + value->size() || seconds < 0) {
    return std::nullopt;
  }
  return seconds;
}

// A short description of an upstream error body: its Anthropic/OpenAI error type and message.
std::string summarize_error_body(std::string_view body) {
  auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_object()) {
    auto err = json.find("error");
    if (err != json.end() && err->is_object()) {
      std::string out = err->value("type", "");
      const std::string message = err->value("message", "");
      if (!message.empty()) {
        out += (out.empty() ? "" : ": ") + message.substr(0, 200);
      }
      return out;
    }
  }
  return {};
}

// Reads the rest of a body, up to `limit` bytes.
Result<std::string> read_body(UpstreamCall& call, std::size_t limit) {
  std::string body;
  std::string chunk;
  for (;;) {
    auto more = call.read(chunk);
    if (!more) {
      return tl::unexpected(more.error());
    }
    if (!*more) {
      return body;
    }
    if (body.size() + chunk.size() > limit) {
      return make_error(ErrorCode::UpstreamProtocol, "response body larger than the limit");
    }
    body += chunk;
  }
}

std::string describe(const Error& error) {
  return fmt::format("{}: {}", to_string(error.code), error.message);
}

}  // namespace

Forwarder::Forwarder(const Router& router, HttpTransport& transport, const ClientAuth& auth,
                     const Clock& clock, ProviderStats& stats, ForwarderOptions options)
    : router_(router),
      transport_(transport),
      auth_(auth),
      clock_(clock),
      stats_(stats),
      options_(options) {}

Headers Forwarder::upstream_headers(const Headers& client_headers,
                                    const ProviderConfig& provider) const {
  Headers headers = detail::forwardable_request_headers(client_headers);
  if (provider.passthrough()) {
    // The client's own credential, but never one of the balancer's client keys.
    if (auto key = find_header(client_headers, "x-api-key"); key && !auth_.is_balancer_key(*key)) {
      headers.emplace_back("x-api-key", std::string(*key));
    }
    if (auto authz = find_header(client_headers, "authorization")) {
      const Headers only_authz{{"authorization", std::string(*authz)}};
      if (!auth_.is_balancer_key(presented_credential(only_authz))) {
        headers.emplace_back("authorization", std::string(*authz));
      }
    }
  } else if (provider.auth_type == AuthType::ApiKey) {
    headers.emplace_back("x-api-key", provider.auth_value);
  } else if (provider.auth_type == AuthType::AuthToken) {
    headers.emplace_back("authorization", "Bearer " + provider.auth_value);
  }
  for (const auto& [name, value] : provider.headers) {
    std::erase_if(headers, [&](const auto& h) { return iequals(h.first, name); });
    headers.emplace_back(name, value);
  }
  if (!find_header(headers, "content-type")) {
    headers.emplace_back("content-type", "application/json");
  }
  if (!find_header(headers, "anthropic-version")) {
    headers.emplace_back("anthropic-version", "2023-06-01");
  }
  return headers;
}

Forwarder::TryOutcome Forwarder::try_candidate(const Candidate& candidate,
                                               const ForwardRequest& request,
                                               bool remove_provider) const {
  const ProviderConfig& provider = *candidate.provider;
  const Settings& settings = router_.config().settings;
  TryOutcome outcome;
  outcome.attempt.provider = provider.name;
  const SteadyTime started = clock_.now();
  auto fail = [&](std::string error) {
    outcome.attempt.error = std::move(error);
    outcome.attempt.elapsed = duration_cast<milliseconds>(clock_.now() - started);
    stats_.record_failure(provider.name, outcome.attempt.status != 0
                                             ? fmt::format("HTTP {}", outcome.attempt.status)
                                             : outcome.attempt.error.substr(0, 80));
    return std::move(outcome);
  };
  if (provider.type == ProviderType::OpenAI) {
    return fail("unsupported: OpenAI-format providers are not wired yet");
  }
  auto body = detail::splice_request_body(
      request.body,
      candidate.rewrite_model ? std::optional<std::string>(candidate.upstream_model) : std::nullopt,
      remove_provider);
  if (!body) {
    return fail(describe(body.error()));
  }
  HttpRequest upstream;
  upstream.url = provider.base_url + request.path + (request.query.empty() ? "" : "?" + request.query);
  upstream.headers = upstream_headers(request.headers, provider);
  upstream.body = std::move(*body);
  upstream.connect_timeout = settings.timeouts.connect_timeout;
  upstream.header_timeout = settings.timeout_seconds;
  upstream.idle_timeout = settings.timeouts.read_timeout;
  upstream.proxy = provider.proxy;

  stats_.record_attempt(provider.name);
  auto call = transport_.start(std::move(upstream));
  auto head = call->head();
  if (!head) {
    return fail(describe(head.error()));
  }
  const int status = head->status;
  outcome.attempt.status = status;
  const bool unhealthy_status =
      std::find(settings.unhealthy_http_codes.begin(), settings.unhealthy_http_codes.end(),
                status) != settings.unhealthy_http_codes.end();
  // With passthrough the credential is the client's: a 401/403 is theirs to see, not an outage.
  const bool client_credential_error = provider.passthrough() && (status == 401 || status == 403);
  if (unhealthy_status && !client_credential_error) {
    auto error_body = read_body(*call, kErrorBodyPeek);
    if (status == 429 || status == 503 || status == 529) {
      outcome.retry_after_s = parse_retry_after(head->headers);
    }
    const std::string summary = error_body ? summarize_error_body(*error_body) : std::string();
    return fail(fmt::format("HTTP {}{}{}", status, summary.empty() ? "" : " ", summary));
  }

  ForwardResult result;
  result.status = status;
  result.provider = provider.name;
  for (auto& [name, value] : head->headers) {
    if (detail::is_forwardable_response_header(name)) {
      result.headers.emplace_back(std::move(name), std::move(value));
    }
  }
  if (is_event_stream(result.headers)) {
    auto relay = std::make_unique<detail::SseRelay>(std::move(call), provider.name, stats_);
    if (std::string failure = relay->prime(); !failure.empty()) {
      return fail(failure);
    }
    result.stream = std::move(relay);
  } else {
    auto full = read_body(*call, options_.max_buffered_body);
    if (!full) {
      return fail(describe(full.error()));
    }
    result.body = std::move(*full);
  }
  outcome.attempt.elapsed = duration_cast<milliseconds>(clock_.now() - started);
  stats_.record_success(provider.name, outcome.attempt.elapsed);
  outcome.result = std::move(result);
  return outcome;
}

ForwardResult Forwarder::forward(const ForwardRequest& request) const {
  auto info = inspect_request_body(request.body);
  if (!info) {
    return balancer_error(400, "invalid_request_error", info.error().message);
  }
  RouteRequest route_request{info->model, std::nullopt};
  if (info->pinned_provider) {
    route_request.pinned_provider = *info->pinned_provider;
  }
  auto decision = router_.route(route_request);
  if (!decision) {
    auto r = balancer_error(404, "not_found_error", decision.error().message);
    r.model = info->model;
    return r;
  }

  std::vector<Attempt> attempts;
  std::optional<long> min_retry_after;
  bool all_rate_limited = true;
  for (const Candidate& candidate : decision->candidates) {
    TryOutcome outcome = try_candidate(candidate, request, info->pinned_provider.has_value());
    if (outcome.result) {
      ForwardResult result = std::move(*outcome.result);
      attempts.push_back(std::move(outcome.attempt));
      result.headers.emplace_back("x-balancer-provider", result.provider);
      result.headers.emplace_back("x-balancer-attempts", std::to_string(attempts.size()));
      result.attempts = std::move(attempts);
      result.model = info->model;
      return result;
    }
    all_rate_limited = all_rate_limited && outcome.attempt.status == 429;
    if (outcome.retry_after_s && outcome.attempt.status == 429) {
      min_retry_after = std::min(min_retry_after.value_or(*outcome.retry_after_s), *outcome.retry_after_s);
    }
    attempts.push_back(std::move(outcome.attempt));
  }

  std::string listing;
  for (const Attempt& a : attempts) {
    listing += fmt::format("{}{}: {}", listing.empty() ? "" : "; ", a.provider, a.error);
  }
  const std::string message = fmt::format("all {} provider(s) for model '{}' failed: {}",
                                          attempts.size(), info->model, listing);
  ForwardResult r;
  if (all_rate_limited && !attempts.empty()) {
    r = balancer_error(429, "rate_limit_error", message);
    if (min_retry_after) {
      r.headers.emplace_back("retry-after", std::to_string(*min_retry_after));
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
