// descriptor_budget.h — how many requests and idle connections fit in the open-file limit.
//
// A request in flight holds four descriptors: its client connection, its upstream connection,
// and the wake-up socket pair libcurl 7.88 opens for every multi handle (one per transfer; a
// thread-per-request transport cannot share one). A connection waiting in the poller holds one.
// Past the limit a request would fail for want of a descriptor; sized from it, the extra
// request is refused at once with 503 overloaded_error instead.
//
// Pure functions (the limit is a parameter; `open_file_limit` reads the process's); any thread.
#pragma once

#include <cstddef>

namespace balancer::server {

inline constexpr std::size_t kDescriptorsPerRequest = 4;
// Descriptors kept for everything else (listeners, log file, epoll, balance checks).
inline constexpr std::size_t kSpareDescriptors = 64;

// The soft RLIMIT_NOFILE, or 0 when there is none.
std::size_t open_file_limit();

// Requests served at once: max_connections, unless `files` (0 = unlimited) allows fewer.
std::size_t busy_limit(std::size_t max_connections, std::size_t files);

// Connections the poller may hold: 4 × max_connections (at least 4096), but within `files`,
// keeping for each request that may be in flight the descriptors it holds beyond its client
// connection (a connection is the poller's or a worker's, never both). Both sets full at once
// can still run out: that request then fails as the balancer's internal error, never as a
// provider's failure (the transport tells the shortage from a refused connection). At least 64.
std::size_t pending_limit(std::size_t max_connections, std::size_t files);

}  // namespace balancer::server
