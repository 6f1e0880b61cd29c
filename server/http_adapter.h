// http_adapter.h — translates between cpp-httplib and the Gateway: every request becomes a
// ClientRequest (checked by Gateway::admit before its body is read), every Response is written
// back, streamed ones through a chunked content provider pulled as the client reads.
#pragma once

#include <httplib.h>

namespace balancer::server {

class App;

// Registers one catch-all route per method plus the overload, Expect: 100-continue, error and
// exception handlers. `app` must outlive `server`.
void install_routes(httplib::Server& server, App& app);

}  // namespace balancer::server
