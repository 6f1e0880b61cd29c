#include "http_routes.h"

#include <array>
#include <charconv>

#include <algorithm>

#include <fmt/format.h>

#include <balancer/anthropic_error.h>
#include <balancer/metrics_report.h>
#include <balancer/status_report.h>

#include "app.h"
#include "oauth_routes.h"
#include "route_helpers.h"

namespace balancer::server {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr std::array<std::string_view, 6> kKnownPaths = {
    "/v1/messages", "/v1/messages/count_tokens", "/health",
    "/providers",   "/providers/reload",         "/metrics"};

std::optional<std::size_t> content_length(const httplib::Request& req) {
  if (!req.has_header("Content-Length")) {
    return std::nullopt;
  }
  const std::string value = req.get_header_value("Content-Length");
  std::size_t n = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || ptr != value.data() + value.size()) {
    return std::nullopt;
  }
  return n;
}

// Reads the request body, keeping at most `limit` bytes. A larger body is read to the end (so
// the connection stays usable) but not kept; past 4x the limit reading stops. Returns false
// when the body was too large.
bool read_body(const httplib::ContentReader& reader, std::size_t limit, std::string& body) {
  std::size_t total = 0;
  bool too_large = false;
  reader([&](const char* data, std::size_t len) {
    total += len;
    if (total > limit) {
      too_large = true;
      body.clear();
      body.shrink_to_fit();
      return total <= 4 * limit;
    }
    body.append(data, len);
    return true;
  });
  return !too_large;
}

void log_request(App& app, const std::string& id, const httplib::Request& req,
                 const ForwardResult& result, SteadyTime started, std::string_view outcome,
                 std::string_view dedup = "") {
  app.counters().record(result.status, outcome);
  // The balancer's own failure to set an upstream request up is an ERROR whatever the answer
  // (it failed over): it is never the provider's fault and must not stay silent.
  const bool internal = std::any_of(result.attempts.begin(), result.attempts.end(),
                                    [](const Attempt& a) { return a.error_class == "internal_error"; });
  const LogLevel level = internal ? LogLevel::Error
                                  : result.status < 500 ? LogLevel::Info : LogLevel::Warning;
  if (!app.log().enabled(level)) {
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
  app.log().write(level, "request",
                  {{"request_id", id},
                   {"path", req.path},
                   {"model", result.model},
                   {"provider", result.provider},
                   {"status", result.status},
                   {"attempts", std::move(attempts)},
                   {"outcome", outcome},
                   {"dedup", dedup.empty() ? nlohmann::json() : nlohmann::json(dedup)},
                   {"duration_ms", duration_cast<milliseconds>(app.clock().now() - started).count()}});
}

// Copies response headers onto `res`, except content-type, which httplib sets with the body:
// returned instead (application/json when absent).
std::string set_headers(httplib::Response& res, const Headers& headers) {
  std::string content_type = "application/json";
  for (const auto& [name, value] : headers) {
    if (iequals(name, "content-type")) {
      content_type = value;
    } else {
      res.set_header(name, value);
    }
  }
  return content_type;
}

// Relays `source` (a ResponseStream or a DedupSubscription: next() until false) as the chunked
// body, pulled from this worker thread as the client reads; `done(success)` runs when the
// response is over (success false: the client went away).
template <class Source, class Done>
void relay_chunked(httplib::Response& res, const std::string& content_type, std::shared_ptr<Source> source,
                   Done done) {
  res.set_chunked_content_provider(
      content_type,
      [source = std::move(source), buffer = std::string()](std::size_t /*offset*/, httplib::DataSink& sink) mutable {
        if (!source->next(buffer)) {
          sink.done();
          return true;
        }
        return sink.write(buffer.data(), buffer.size());
      },
      std::move(done));
}

// The log outcome of a relayed stream.
template <class Source>
std::string_view stream_outcome(bool success, Source& source) {
  return !success ? "client_disconnected" : source.completed() ? "complete" : "stream_error";
}

// Moves a ForwardResult into the httplib response: a buffered body, or a chunked provider that
// pulls the SSE relay from this worker thread as the client reads.
void send_result(App& app, const std::string& id, const httplib::Request& req,
                 httplib::Response& res, ForwardResult result, SteadyTime started) {
  res.status = result.status;
  const std::string content_type = set_headers(res, result.headers);
  res.set_header("x-balancer-request-id", id);
  if (!result.stream) {
    res.set_content(std::move(result.body), content_type);
    log_request(app, id, req, result, started, "complete");
    return;
  }
  auto stream = std::shared_ptr<ResponseStream>(std::move(result.stream));
  auto summary = std::make_shared<ForwardResult>(std::move(result));
  relay_chunked(res, content_type, stream, [&app, id, req_path = req.path, stream, summary, started](bool success) {
    httplib::Request path_only;
    path_only.path = req_path;
    if (!stream->failure().empty()) {
      summary->attempts.back().error = "stream: " + stream->failure();
    }
    log_request(app, id, path_only, *summary, started, stream_outcome(success, *stream));
  });
}

// Sends a coalesced response (spec §8): the flight's status, headers and bytes, plus this
// request's own id and its role (x-balancer-dedup: leader|follower|cache). A streamed flight is
// relayed by a chunked provider that pulls the subscription as the client reads.
void send_subscription(App& app, const std::string& id, const httplib::Request& req,
                       httplib::Response& res, std::unique_ptr<DedupSubscription> subscription,
                       SteadyTime started) {
  auto sub = std::shared_ptr<DedupSubscription>(std::move(subscription));
  res.status = sub->status();
  const std::string content_type = set_headers(res, sub->headers());
  const std::string role(to_string(sub->role()));
  res.set_header("x-balancer-request-id", id);
  res.set_header("x-balancer-dedup", role);
  if (!sub->streaming()) {
    std::string body;
    for (std::string chunk; sub->next(chunk);) {
      body += chunk;
    }
    res.set_content(std::move(body), content_type);
    log_request(app, id, req, sub->meta(), started, "complete", role);
    return;
  }
  relay_chunked(res, content_type, sub, [&app, id, req_path = req.path, sub, started, role](bool success) {
    httplib::Request path_only;
    path_only.path = req_path;
    log_request(app, id, path_only, sub->meta(), started, stream_outcome(success, *sub), role);
  });
}

// `cache-control: no-cache` on the request bypasses the response cache.
bool bypasses_cache(const httplib::Request& req) {
  const std::string value = req.get_header_value("cache-control");
  return value.find("no-cache") != std::string::npos || value.find("no-store") != std::string::npos;
}

void handle_messages(App& app, const httplib::Request& req, httplib::Response& res,
                     const httplib::ContentReader& reader) {
  const SteadyTime started = app.clock().now();
  const std::string id = app.next_request_id();
  auto runtime = app.runtime();  // this request's snapshot, whatever reloads happen meanwhile
  const std::size_t limit = runtime->config->settings.max_request_body_bytes;
  ForwardRequest forward;
  const bool fits = read_body(reader, limit, forward.body) &&
                    content_length(req).value_or(0) <= limit;
  if (!authorize(app, req, res, ClientAuth::Access::Client)) {
    return;
  }
  if (!fits) {
    send_error(res, 413, "request_too_large",
               fmt::format("request body exceeds the {} byte limit", limit));
    return;
  }
  forward.path = req.path;
  const auto q = req.target.find('?');
  forward.query = q == std::string::npos ? std::string() : req.target.substr(q + 1);
  forward.headers = to_headers(req.headers);
  if (req.path != "/v1/messages" || !runtime->config->settings.deduplication.enabled) {
    send_result(app, id, req, res, runtime->forwarder.forward(forward), started);
    return;
  }
  // Identical requests of the same caller share one upstream call. The caller is every
  // credential the request carries (its balancer key, and for passthrough providers its own key
  // or token, which may ride in Authorization next to a balancer x-api-key).
  const std::string caller = req.get_header_value("x-api-key") + '\n' + req.get_header_value("authorization");
  const std::string key = dedup_key(forward.path + (forward.query.empty() ? "" : "?" + forward.query),
                                    forward.body, forward.headers, caller);
  auto subscription = app.dedup().subscribe(
      key, [&] { return runtime->forwarder.forward(forward); }, bypasses_cache(req));
  send_subscription(app, id, req, res, std::move(subscription), started);
}

void handle_metrics(App& app, const httplib::Request& req, httplib::Response& res) {
  if (!authorize(app, req, res, ClientAuth::Access::Client)) {
    return;
  }
  const auto runtime = app.runtime();
  std::vector<MetricSample> server = app.counters().samples();
  server.push_back({"connections_busy", "Client connections being served.",
                    static_cast<double>(app.busy_connections()), false, "", ""});
  res.status = 200;
  res.set_content(prometheus_metrics({*runtime->config, app.health(), app.stats(), app.dedup().stats(),
                                      app.oauth().status(), std::move(server)}),
                  "text/plain; version=0.0.4; charset=utf-8");
}

void handle_providers(App& app, const httplib::Request& req, httplib::Response& res) {
  if (!authorize(app, req, res, ClientAuth::Access::Client)) {
    return;
  }
  const auto runtime = app.runtime();
  nlohmann::json report = providers_report(*runtime->config, app.health(), app.stats(), &app.oauth());
  const DedupStats dedup = app.dedup().stats();
  report["deduplication"] = {{"enabled", runtime->config->settings.deduplication.enabled},
                             {"leaders", dedup.leaders},
                             {"followers", dedup.followers},
                             {"cache_hits", dedup.cache_hits},
                             {"uncoalesced", dedup.uncoalesced},
                             {"flights_in_progress", dedup.flights_in_progress},
                             {"cache_entries", dedup.cache_entries},
                             {"recorded_bytes_held", dedup.recorded_bytes_held}};
  for (auto& provider : report["providers"]) {
    if (auto b = app.balance().snapshot(provider["name"].get<std::string>())) {
      provider["balance"] = {{"balance", b->balance ? nlohmann::json(*b->balance) : nlohmann::json()},
                             {"low", b->low},
                             {"checked_ago_s", b->checked_ago_s ? nlohmann::json(*b->checked_ago_s) : nlohmann::json()},
                             {"last_error", b->last_error.empty() ? nlohmann::json() : nlohmann::json(b->last_error)}};
    }
  }
  send_json(res, 200, report);
}

void handle_reload(App& app, const httplib::Request& req, httplib::Response& res) {
  if (!authorize(app, req, res, ClientAuth::Access::Admin)) {
    return;
  }
  auto reloaded = app.reload();
  if (!reloaded) {
    send_error(res, 400, "invalid_request_error",
               "config reload failed, the previous config keeps serving: " + reloaded.error().message);
    return;
  }
  const auto& config = *(*reloaded)->config;
  send_json(res, 200, {{"status", "success"},
                       {"message", "configuration reloaded"},
                       {"providers_count", config.providers.size()},
                       {"routes_count", config.model_routes.size()},
                       {"warnings", config.warnings}});
}

void handle_health(App& app, httplib::Response& res) {
  auto [ok, body] = health_report(*app.runtime()->config, app.health(), &app.oauth());
  send_json(res, ok ? 200 : 503, body);
}

}  // namespace

void install_routes(httplib::Server& server, App& app) {
  server.set_pre_routing_handler([&app](const httplib::Request& /*req*/, httplib::Response& res) {
    const std::size_t max = app.runtime()->config->settings.max_connections;
    if (app.busy_connections() > max) {
      res.set_header("Connection", "close");
      send_error(res, 503, "overloaded_error",
                 fmt::format("the balancer is serving its maximum of {} connections", max));
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Over-limit bodies announced with Expect: 100-continue are refused before they are sent.
  server.set_expect_100_continue_handler([&app](const httplib::Request& req, httplib::Response& res) {
    const std::size_t limit = app.runtime()->config->settings.max_request_body_bytes;
    if (content_length(req).value_or(0) > limit) {
      send_error(res, 413, "request_too_large",
                 fmt::format("request body exceeds the {} byte limit", limit));
      return 413;
    }
    return 100;
  });
  auto messages = [&app](const httplib::Request& req, httplib::Response& res,
                         const httplib::ContentReader& reader) { handle_messages(app, req, res, reader); };
  server.Post("/v1/messages", messages);
  server.Post("/v1/messages/count_tokens", messages);
  server.Get("/health", [&app](const httplib::Request&, httplib::Response& res) { handle_health(app, res); });
  server.Get("/metrics", [&app](const httplib::Request& req, httplib::Response& res) { handle_metrics(app, req, res); });
  server.Get("/providers", [&app](const httplib::Request& req, httplib::Response& res) {
    handle_providers(app, req, res);
  });
  server.Post("/providers/reload", [&app](const httplib::Request& req, httplib::Response& res) {
    handle_reload(app, req, res);
  });
  install_oauth_routes(server, app);
  server.set_error_handler(httplib::Server::HandlerWithResponse(
      [](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty() || res.content_provider_) {
      // An error body was already set. Still "Handled": only then does httplib add the
      // Content-Length on paths that bypass routing (an Expect: 100-continue refusal), without
      // which the client waits for the connection to close.
      return httplib::Server::HandlerResponse::Handled;
    }
    const bool known = std::find(kKnownPaths.begin(), kKnownPaths.end(), req.path) != kKnownPaths.end() ||
                       is_oauth_path(req.path);
    if (res.status == 404 && known) {
      send_error(res, 405, "invalid_request_error", "method " + req.method + " not allowed on " + req.path);
    } else if (res.status == 404) {
      send_error(res, 404, "not_found_error", "no such endpoint: " + req.path);
    } else if (res.status == 413) {
      send_error(res, 413, "request_too_large", "request body too large");
    } else {
      send_error(res, res.status, res.status < 500 ? "invalid_request_error" : "api_error",
                 "request could not be served (HTTP " + std::to_string(res.status) + ")");
    }
    return httplib::Server::HandlerResponse::Handled;
  }));
  server.set_exception_handler([&app](const httplib::Request& req, httplib::Response& res,
                                      std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    app.log().write(LogLevel::Error, "handler exception", {{"path", req.path}, {"error", what}});
    send_error(res, 500, "api_error", "internal error while serving the request");
  });
}

}  // namespace balancer::server
