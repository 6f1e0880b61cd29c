// curl_transport.h — the production HttpTransport on libcurl. libcurl itself stays private.
#pragma once

#include <cstddef>
#include <memory>

#include <balancer/http.h>

namespace balancer {

struct CurlTransportOptions {
  // Idle sessions (each keeping its warm upstream connections) kept for reuse.
  std::size_t max_idle_sessions = 256;
  // Verify TLS peers (never turn off outside tests).
  bool verify_tls = true;
};

// Thread-safe. Keeps a LIFO pool of libcurl sessions so that a request reuses a warm
// keep-alive connection (and TLS session) when one exists. Calls curl_global_init once.
std::unique_ptr<HttpTransport> make_curl_transport(const CurlTransportOptions& options = {});

}  // namespace balancer
