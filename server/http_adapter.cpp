#include "http_adapter.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include <balancer/anthropic_error.h>
#include <balancer/gateway.h>
#include <balancer/http.h>

#include "app.h"
#include "net/request_head.h"

namespace balancer::server {
namespace {

// Past this multiple of the limit an over-long body is no longer read (the connection closes).
constexpr std::size_t kDrainFactor = 4;

void send_error(httplib::Response& res, int status, std::string_view type, std::string_view message) {
  res.status = status;
  res.set_content(anthropic_error_body(type, message), "application/json");
}

// Why the request's framing is refused (net/request_head.h has the rules): empty when sound.
// Plain HTTP heads were judged from raw bytes already; this is the same check behind TLS.
std::string framing_error(const httplib::Request& req) {
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  headers.reserve(req.headers.size());
  for (const auto& [name, value] : req.headers) {
    headers.emplace_back(name, value);
  }
  return server::framing_error(req.method, req.version, headers);
}

// Whether a body follows the head: a request with neither Content-Length nor Transfer-Encoding
// has none (RFC 9112 §6.3), so nothing is waited for.
bool has_body(const httplib::Request& req) {
  return req.has_header("Content-Length") || req.has_header("Transfer-Encoding");
}

// The request line and headers (no body yet) as the Gateway sees them.
ClientRequest head_of(const httplib::Request& req) {
  ClientRequest out;
  out.method = req.method;
  out.path = req.path;
  const auto q = req.target.find('?');
  out.query = q == std::string::npos ? std::string() : req.target.substr(q + 1);
  out.headers.reserve(req.headers.size());
  for (const auto& [name, value] : req.headers) {
    out.headers.emplace_back(name, value);
  }
  return out;
}

// Reads the body, keeping at most `limit` + 1 bytes (so that the Gateway sees it is over the
// limit). Past that it stops, unless `drain` asks for the rest to be read on, unkept, up to
// kDrainFactor times the limit (a connection that is not closed after a refusal must stay in
// step). False when the body ended before its declared end (the client went away mid-upload).
bool read_body(const httplib::ContentReader& reader, std::size_t limit, bool drain, std::string& body) {
  const std::size_t stop_at = drain ? kDrainFactor * limit : limit;
  std::size_t total = 0;
  const bool whole = reader([&](const char* data, std::size_t len) {
    total += len;
    if (body.size() <= limit) {
      body.append(data, std::min(len, limit + 1 - body.size()));
    }
    return total <= stop_at;
  });
  return whole || total > stop_at;  // stopping an over-long body is not a truncation
}

// Reads past the body of a refused request without keeping it (up to kDrainFactor times the
// limit), for a connection that is not closed after a refusal.
void discard_body(const httplib::ContentReader& reader, std::size_t limit) {
  std::size_t total = 0;
  reader([&](const char* /*data*/, std::size_t len) {
    total += len;
    return total <= kDrainFactor * limit;
  });
}

// Writes `answer` into `res`: status, headers (content-type goes with the body), then the whole
// body or a chunked provider that pulls the stream from this worker thread as the client reads.
// The answer's on_finish runs once the response is over (success false: the client went away).
void send(httplib::Response& res, Response answer) {
  res.status = answer.status;
  std::string content_type = "application/json";
  for (const auto& [name, value] : answer.headers) {
    if (iequals(name, "content-type")) {
      content_type = value;
    } else {
      res.set_header(name, value);
    }
  }
  if (!answer.stream) {
    // What set_content does, without copying a body of up to 64 MiB (0.11.4 has no && overload).
    res.body = std::move(answer.body);
    res.set_header("Content-Type", content_type);
    if (answer.on_finish) {
      answer.on_finish(true);
    }
    return;
  }
  auto stream = std::shared_ptr<BodySource>(std::move(answer.stream));
  res.set_chunked_content_provider(
      content_type,
      [stream, buffer = std::string()](std::size_t /*offset*/, httplib::DataSink& sink) mutable {
        if (!stream->next(buffer)) {
          sink.done();
          return true;
        }
        return sink.write(buffer.data(), buffer.size());
      },
      [stream, finish = std::move(answer.on_finish)](bool success) {
        if (finish) {
          finish(success);
        }
      });
}

// Every request: the Gateway's admission check before the body is read, then the body (within
// the endpoint's limit), then the Gateway's answer.
void serve(App& app, const httplib::Request& req, httplib::Response& res, const httplib::ContentReader* reader) {
  Gateway& gateway = app.gateway();
  ClientRequest request = head_of(req);
  if (reader == nullptr) {
    request.body = req.body;
  } else {
    const std::size_t limit = gateway.body_limit(request.path);
    const bool drain = !app.closes_refused_connections();
    if (auto refused = gateway.admit(request)) {
      // Refused on its head: the body is never read (the connection layer closes the
      // connection after the answer), or, behind TLS, read past unkept to stay in step.
      if (drain && has_body(req)) {
        discard_body(*reader, limit);
      } else if (has_body(req)) {
        res.set_header("Connection", "close");
      }
      send(res, std::move(*refused));
      return;
    }
    if (has_body(req) && req.is_multipart_form_data()) {
      // httplib would parse the body as form parts instead of handing it over as it is.
      res.set_header("Connection", "close");
      send_error(res, 415, "invalid_request_error", "multipart/form-data request bodies are not supported");
      return;
    }
    if (has_body(req) && !read_body(*reader, limit, drain, request.body)) {
      // A truncated upload is never forwarded as if it were the whole request.
      res.set_header("Connection", "close");
      send_error(res, 400, "invalid_request_error", "the request body ended before its declared length");
      return;
    }
  }
  send(res, gateway.handle(std::move(request)));
}

// The checks of the request head alone (header limits, framing): true when `res` now holds the
// refusal (431 or 400, with Connection: close).
bool refuse_head(const BalancerConfig& config, const httplib::Request& req, httplib::Response& res) {
  const Settings& settings = config.settings;
  std::size_t header_bytes = 0;
  for (const auto& [name, value] : req.headers) {
    header_bytes += name.size() + value.size();
  }
  // (httplib adds REMOTE_ADDR, REMOTE_PORT, LOCAL_ADDR and LOCAL_PORT to the client's headers.)
  if (req.headers.size() > settings.max_header_count + 4 || header_bytes > settings.max_header_bytes) {
    res.set_header("Connection", "close");
    send_error(res, 431, "invalid_request_error",
               fmt::format("request headers exceed the limit of {} headers or {} bytes", settings.max_header_count,
                           settings.max_header_bytes));
    return true;
  }
  if (const std::string error = framing_error(req); !error.empty()) {
    res.set_header("Connection", "close");
    send_error(res, 400, "invalid_request_error", "malformed request: " + error);
    return true;
  }
  return false;
}

}  // namespace

void install_routes(httplib::Server& server, App& app) {
  server.set_pre_routing_handler([&app](const httplib::Request& req, httplib::Response& res) {
    const auto config = app.gateway().config();  // kept alive: a reload may swap it meanwhile
    if (refuse_head(*config, req, res)) {
      return httplib::Server::HandlerResponse::Handled;
    }
    const std::size_t max = config->settings.max_connections;
    if (app.busy_connections() > max) {
      res.set_header("Connection", "close");
      send_error(res, 503, "overloaded_error",
                 fmt::format("the balancer is serving its maximum of {} connections", max));
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // A body announced with Expect: 100-continue is refused before it is sent when the Gateway
  // would refuse it anyway (over the limit, no key, unknown endpoint).
  server.set_expect_100_continue_handler([&app](const httplib::Request& req, httplib::Response& res) {
    if (refuse_head(*app.gateway().config(), req, res)) {  // the same head checks, before the "100"
      return res.status;
    }
    if (auto refused = app.gateway().admit(head_of(req))) {
      // The client was told not to send the body; should it send it anyway, it must not be read
      // as a next request.
      res.set_header("Connection", "close");
      const int status = refused->status;
      send(res, std::move(*refused));
      return status;
    }
    return 100;
  });
  const auto plain = [&app](const httplib::Request& req, httplib::Response& res) { serve(app, req, res, nullptr); };
  const auto with_body = [&app](const httplib::Request& req, httplib::Response& res,
                                const httplib::ContentReader& reader) { serve(app, req, res, &reader); };
  server.Get(".*", plain);
  server.Delete(".*", with_body);
  server.Options(".*", plain);
  server.Post(".*", with_body);
  server.Put(".*", with_body);
  server.Patch(".*", with_body);
  server.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request& /*req*/, httplib::Response& res) {
        if (!res.body.empty() || res.content_provider_) {
          // An answer was already set. Still "Handled": only then does httplib add the
          // Content-Length on paths that bypass routing (an Expect: 100-continue refusal),
          // without which the client waits for the connection to close.
          return httplib::Server::HandlerResponse::Handled;
        }
        if (res.status == 413) {
          send_error(res, 413, "request_too_large", "request body too large");
        } else {
          send_error(res, res.status, res.status < 500 ? "invalid_request_error" : "api_error",
                     "request could not be served (HTTP " + std::to_string(res.status) + ")");
        }
        return httplib::Server::HandlerResponse::Handled;
      }));
  server.set_exception_handler([&app](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
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
