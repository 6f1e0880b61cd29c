// http_routes.h — the endpoints of balancer-server (spec §3) on a cpp-httplib server.
#pragma once

#include <httplib.h>

namespace balancer::server {

class App;

// Registers every endpoint plus the error and exception handlers. `app` must outlive `server`.
void install_routes(httplib::Server& server, App& app);

}  // namespace balancer::server
