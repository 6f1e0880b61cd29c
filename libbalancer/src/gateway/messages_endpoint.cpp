// messages_endpoint.cpp — POST /v1/messages and /v1/messages/count_tokens (spec §4–§8): the
// deduplication policy (who the caller is, cache bypass), the Forwarder, and the request log
// line and answer counters written when the front end reports the response over.
#include <algorithm>
#include <memory>

#include <fmt/format.h>

#include "gateway/exchange.h"
#include "gateway/gateway_impl.h"

namespace balancer {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

// A coalesced streamed response as a BodySource. Driven by the one thread writing to the client.
class SubscriptionBody final : public BodySource {
 public:
  explicit SubscriptionBody(std::unique_ptr<DedupSubscription> subscription) : subscription_(std::move(subscription)) {}
  bool next(std::string& out) override {
    if (subscription_->next(out)) {
      return true;
    }
    completed_ = subscription_->completed();
    failure_ = completed_ ? std::string() : subscription_->failure();
    return false;
  }
  bool completed() const override { return completed_; }
  const std::string& failure() const override { return failure_; }

 private:
  std::unique_ptr<DedupSubscription> subscription_;
  bool completed_ = false;
  std::string failure_;
};

// `cache-control: no-cache` (or no-store) on the request bypasses the response cache.
bool bypasses_cache(const ClientRequest& request) {
  const std::string value = detail::header_value(request, "cache-control");
  return value.find("no-cache") != std::string::npos || value.find("no-store") != std::string::npos;
}

// A streamed answer as it goes to the client, with every error event redacted: an upstream's
// mid-stream error may quote a credential as its error body would. Every other event passes
// byte for byte, even in the same chunk (the relays hand out whole events). Driven by the
// thread writing to the client, like the stream it wraps.
class RedactedErrorEvents final : public BodySource {
 public:
  RedactedErrorEvents(std::unique_ptr<BodySource> inner, std::shared_ptr<const Runtime> runtime)
      : inner_(std::move(inner)), runtime_(std::move(runtime)) {}
  bool next(std::string& out) override {
    if (!inner_->next(out)) {
      return false;
    }
    if (out.find("error") != std::string::npos) {  // else no event in the chunk can be one
      out = runtime_->redactor.apply_to_error_events(out);
    }
    return true;
  }
  bool completed() const override { return inner_->completed(); }
  const std::string& failure() const override { return inner_->failure(); }

 private:
  std::unique_ptr<BodySource> inner_;
  std::shared_ptr<const Runtime> runtime_;
};

Response from_subscription(std::unique_ptr<DedupSubscription> subscription) {
  Response out;
  out.status = subscription->status();
  out.headers = subscription->headers();
  const Response& meta = subscription->meta();
  out.attempts = meta.attempts;
  out.provider = meta.provider;
  out.model = meta.model;
  out.headers.emplace_back("x-balancer-dedup", std::string(to_string(subscription->role())));
  if (subscription->streaming()) {
    out.stream = std::make_unique<SubscriptionBody>(std::move(subscription));
  } else {
    for (std::string chunk; subscription->next(chunk);) {
      out.body += chunk;
    }
  }
  return out;
}

void log_request(Gateway::Impl& gateway, const std::string& id, const std::string& path, const Response& result,
                 SteadyTime started, std::string_view outcome, std::string_view dedup) {
  gateway.counters().record(result.status, outcome);
  // The balancer's own failure to set an upstream request up is an ERROR whatever the answer
  // (it failed over): it is never the provider's fault and must not stay silent.
  const bool internal = std::any_of(result.attempts.begin(), result.attempts.end(),
                                    [](const Attempt& a) { return a.error_class == "internal_error"; });
  const LogLevel level = internal ? LogLevel::Error : result.status < 500 ? LogLevel::Info : LogLevel::Warning;
  LogSink& log = gateway.log();
  if (!log.enabled(level)) {
    return;
  }
  nlohmann::json attempts = nlohmann::json::array();
  for (const Attempt& a : result.attempts) {
    nlohmann::json attempt = {{"provider", a.provider},
                              {"status", a.status},
                              {"error", a.error},
                              {"error_class", a.error_class.empty() ? nlohmann::json() : nlohmann::json(a.error_class)},
                              {"health", a.health},
                              {"ms", a.elapsed.count()}};
    if (!a.account.empty()) {
      attempt["account"] = a.account;
    }
    if (!a.notes.empty()) {
      attempt["conversion_notes"] = a.notes;
    }
    attempts.push_back(std::move(attempt));
  }
  log.write(level, "request",
            {{"request_id", id},
             {"path", path},
             {"model", result.model},
             {"provider", result.provider},
             {"status", result.status},
             {"attempts", std::move(attempts)},
             {"outcome", outcome},
             {"dedup", dedup.empty() ? nlohmann::json() : nlohmann::json(dedup)},
             {"duration_ms", duration_cast<milliseconds>(gateway.clock().now() - started).count()}});
}

}  // namespace

namespace endpoints {

Response messages(Gateway::Impl& gateway, ClientRequest& request) {
  const SteadyTime started = gateway.clock().now();
  const std::string id = gateway.next_request_id();
  auto runtime = gateway.runtime();  // this request's snapshot, whatever reloads happen meanwhile
  ForwardRequest forward{request.path, request.query, request.headers, std::move(request.body), request.client_gone};
  Response out;
  std::string role;
  if (request.path != "/v1/messages" || !runtime->config->settings.deduplication.enabled) {
    out = runtime->forwarder.forward(forward);
  } else {
    // Identical requests of the same caller share one upstream call. The caller is every
    // credential the request carries (its balancer key, and for passthrough providers its own
    // key or token, which may ride in Authorization next to a balancer x-api-key).
    const std::string caller =
        detail::header_value(request, "x-api-key") + '\n' + detail::header_value(request, "authorization");
    const std::string key = dedup_key(forward.path + (forward.query.empty() ? "" : "?" + forward.query), forward.body,
                                      forward.headers, caller);
    if (request.client_gone) {
      // A leader whose client left goes on while identical requests still wait for its answer.
      forward.cancelled = [&gateway, &key, gone = request.client_gone] {
        return gone() && gateway.dedup().listeners(key) <= 1;
      };
    }
    out = from_subscription(gateway.dedup().subscribe(
        key, [&] { return runtime->forwarder.forward(forward); }, bypasses_cache(request)));
    role = find_header(out.headers, "x-balancer-dedup").value_or("");
  }
  // An upstream error may echo a credential (e.g. "invalid x-api-key sk-…"): no configured secret
  // leaves in an error body or reaches the log, whoever wrote the text.
  if (!out.stream && out.status >= 400) {
    out.body = runtime->redactor.apply(out.body);
  }
  if (out.stream) {
    out.stream = std::make_unique<RedactedErrorEvents>(std::move(out.stream), runtime);
  }
  for (Attempt& attempt : out.attempts) {
    attempt.error = runtime->redactor.apply(attempt.error);
  }
  out.headers.emplace_back("x-balancer-request-id", id);
  // What the log line needs, kept apart from the response the front end consumes.
  auto summary = std::make_shared<Response>();
  summary->status = out.status;
  summary->attempts = out.attempts;
  summary->provider = out.provider;
  summary->model = out.model;
  BodySource* stream = out.stream.get();
  out.on_finish = [&gateway, runtime, id, path = request.path, summary, stream, started, role](bool delivered) {
    std::string_view outcome = "complete";
    if (stream != nullptr) {
      if (!stream->failure().empty() && !summary->attempts.empty()) {
        summary->attempts.back().error = runtime->redactor.apply("stream: " + stream->failure());
      }
      outcome = !delivered                                        ? "client_disconnected"
                : stream->completed()                             ? "complete"
                : stream->failure().starts_with("upstream_error") ? "upstream_error"
                                                                  : "stream_error";
    }
    log_request(gateway, id, path, *summary, started, outcome, role);
  };
  return out;
}

}  // namespace endpoints
}  // namespace balancer
