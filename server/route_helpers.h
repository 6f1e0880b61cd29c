// route_helpers.h — small helpers shared by the endpoint files (http_routes.cpp,
// oauth_routes.cpp): Anthropic-shaped error and JSON replies, header conversion and the client
// auth check.
#pragma once

#include <string>
#include <string_view>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <balancer/anthropic_error.h>
#include <balancer/client_auth.h>
#include <balancer/http.h>

#include "app.h"

namespace balancer::server {

inline void send_error(httplib::Response& res, int status, std::string_view type, std::string_view message) {
  res.status = status;
  res.set_content(anthropic_error_body(type, message), "application/json");
}

inline void send_json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

inline Headers to_headers(const httplib::Headers& in) {
  Headers out;
  out.reserve(in.size());
  for (const auto& [name, value] : in) {
    out.emplace_back(name, value);
  }
  return out;
}

// Checks the client's key for `access`; on failure answers 401 authentication_error and
// returns false.
inline bool authorize(App& app, const httplib::Request& req, httplib::Response& res,
                      ClientAuth::Access access) {
  auto ok = app.runtime()->auth.check(req.path, to_headers(req.headers), access);
  if (!ok) {
    send_error(res, 401, "authentication_error", ok.error().message);
  }
  return ok.has_value();
}

}  // namespace balancer::server
