#include "http_adapter.h"

#include <poll.h>

#include <algorithm>
#include <charconv>
#include <memory>
#include <string>
#include <utility>

#include <fmt/format.h>

#include <balancer/anthropic_error.h>
#include <balancer/gateway.h>
#include <balancer/http.h>

#include "app.h"

namespace balancer::server {
namespace {

void send_error(httplib::Response& res, int status, std::string_view type, std::string_view message) {
  res.status = status;
  res.set_content(anthropic_error_body(type, message), "application/json");
}

// Whether a body follows the head: a request with neither Content-Length nor Transfer-Encoding
// has none (RFC 9112 §6.3), so nothing is waited for.
bool has_body(const httplib::Request& req) {
  return req.has_header("Content-Length") || req.has_header("Transfer-Encoding");
}

// Whether the peer of `fd` has closed its side (or the connection broke): POLLRDHUP is set on
// a FIN whatever bytes are still unread (a pipelined request, a TLS close_notify). A client
// that only shuts down its sending side counts as gone, as with nginx.
bool peer_closed(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

// The request line and headers (no body yet) as the Gateway sees them, and a check of whether
// the client went away (valid while the handler runs: the connection is the handler's).
ClientRequest head_of(const httplib::Request& req) {
  ClientRequest out;
  out.method = req.method;
  out.path = req.path;
  const auto q = req.target.find('?');
  out.query = q == std::string::npos ? std::string() : req.target.substr(q + 1);
  out.headers.reserve(req.headers.size());
  for (const auto& [name, value] : req.headers) {
    if (name == kClientSocketHeader) {
      int fd = -1;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), fd);
      if (ec == std::errc() && end == value.data() + value.size() && fd >= 0) {
        out.client_gone = [fd] { return peer_closed(fd); };
      }
      continue;
    }
    out.headers.emplace_back(name, value);
  }
  return out;
}

// Reads the body, keeping at most `limit` + 1 bytes (so that the Gateway sees it is over the
// limit); past that it stops reading (the connection layer closes the connection, as the rest of
// the body is unread). False when the body ended before its declared end (the client went away
// mid-upload).
bool read_body(const httplib::ContentReader& reader, std::size_t declared, std::size_t limit, std::string& body) {
  // Room for the declared length up front: a 200 KB body would otherwise be copied by every
  // doubling of the string as httplib hands it over 4 KB at a time. (An over-limit length is
  // refused with its head; the body is only read up to the limit anyway.) At most 1 MiB ahead of
  // the bytes: a slow client declaring 32 MiB does not get it before sending it.
  if (declared <= limit) {
    body.reserve(std::min<std::size_t>(declared, std::size_t{1} << 20));
  }
  bool over = false;
  const bool whole = reader([&](const char* data, std::size_t len) {
    body.append(data, std::min(len, limit + 1 - body.size()));
    over = body.size() > limit;
    return !over;
  });
  return whole || over;  // stopping an over-long body is not a truncation
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
    if (auto refused = gateway.admit(request)) {
      // Refused on its head: the body is never read, and the connection layer closes the
      // connection after the answer, so the body cannot be taken for a next request.
      if (has_body(req)) {
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
    const std::size_t declared = req.get_header_value<std::uint64_t>("Content-Length");
    if (has_body(req) && !read_body(*reader, declared, limit, request.body)) {
      // A truncated upload is never forwarded as if it were the whole request.
      res.set_header("Connection", "close");
      send_error(res, 400, "invalid_request_error", "the request body ended before its declared length");
      return;
    }
  }
  send(res, gateway.handle(std::move(request)));
}

}  // namespace

void install_routes(httplib::Server& server, App& app) {
  // A body announced with Expect: 100-continue is refused before it is sent when the Gateway
  // would refuse it anyway (over the limit, no key, unknown endpoint).
  // (Head syntax, limits and framing were judged before httplib saw the head: net/request_head.h.)
  server.set_expect_100_continue_handler([&app](const httplib::Request& req, httplib::Response& res) {
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
