// oauth_routes.h — the /oauth/* endpoints of balancer-server (spec §9): login flows, code
// exchange, account status, refresh and token removal. Every one needs admin client auth.
#pragma once

#include <string>
#include <string_view>

#include <httplib.h>

#include <balancer/clock.h>

namespace balancer::server {

class App;

// Registers the /oauth/* endpoints. `app` must outlive `server`.
void install_oauth_routes(httplib::Server& server, App& app);

// True when `path` is one of the /oauth/* endpoints (whatever the method), so that a wrong
// method gets 405 rather than 404.
bool is_oauth_path(std::string_view path);

// "2025-01-31T12:00:00Z" (UTC, whole seconds).
std::string iso8601_utc(WallTime time);

}  // namespace balancer::server
