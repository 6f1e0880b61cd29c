// curl_transport.h — the production HttpTransport on libcurl. libcurl itself stays private.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <balancer/http.h>

namespace balancer {

// Fixed name resolutions for upstream hosts, like curl's --resolve: a request to host:port
// connects to `address` without a DNS lookup. For pinning an upstream to an address, and for
// tests that make a host name resolvable (or not) without a DNS server. Thread-safe: set() and
// erase() may be called from any thread at any time and apply to requests started afterwards.
class ResolveOverrides {
 public:
  void set(const std::string& host, int port, const std::string& address);
  void erase(const std::string& host, int port);
  // As curl --resolve lines: "host:port:address" for every entry and "-host:port" for every
  // entry erased since (so the transport's shared DNS cache forgets it too).
  std::vector<std::string> curl_resolve_lines() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::string> entries_;  // "host:port" -> address; guarded by mutex_
  std::set<std::string> erased_;                // "host:port"; guarded by mutex_
};

struct CurlTransportOptions {
  // Idle sessions (each keeping its warm upstream connections) kept for reuse.
  std::size_t max_idle_sessions = 256;
  // Verify TLS peers (never turn off outside tests).
  bool verify_tls = true;
  // Optional fixed resolutions, consulted at the start of every request.
  std::shared_ptr<const ResolveOverrides> resolve;
};

// Thread-safe. Keeps a LIFO pool of libcurl sessions so that a request reuses a warm
// keep-alive connection (and TLS session) when one exists. A session whose transfer did not
// finish cleanly (any transport error, a cancelled transfer) keeps its connection cache but gets
// a new easy handle, so no state of a failed transfer reaches the next request. Calls
// curl_global_init once.
std::unique_ptr<HttpTransport> make_curl_transport(const CurlTransportOptions& options = {});

}  // namespace balancer
