// connection_server.h — balancer-server's connection layer (plain HTTP or TLS): accepts, reads and
// judges every request head on one poller thread (epoll), so a connection that is idle or slow
// to send its head holds no worker; only a complete, well-formed head is handed to a worker,
// which lets cpp-httplib parse and route it (through `process`) and serves pipelined requests
// in order. TLS handshakes run on the poller too, within the head deadline. Deadlines: the whole head, idle keep-alive,
// body pauses, writes. When every worker is busy a new request is answered 503 overloaded_error at once. Refused
// requests get their answer and a lingering close, so an unread body is never read as a next request.
//
// Threads: run() is the poller (the caller's thread); workers are a GrowingTaskQueue whose idle
// threads retire; stop(), busy() and threads() may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <httplib.h>

#include <balancer/error.h>

#include "connection.h"
#include "growing_task_queue.h"
#include "request_head.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace balancer::server {

// The tunables, read again for every head (a reload may change them).
struct ConnectionPolicy {
  HeadLimits head;
  std::size_t max_busy = 1024;  // requests served at once; more get 503
  std::chrono::milliseconds head_timeout{10000};
  std::chrono::milliseconds body_idle_timeout{30000};
  std::chrono::milliseconds keep_alive_timeout{30000};
  std::chrono::milliseconds write_timeout{121000};
};

// A request's header fields exactly as the client sent them (httplib percent-decodes values).
using RawHeaders = std::vector<std::pair<std::string, std::string>>;

struct ConnectionServerOptions {
  std::function<ConnectionPolicy()> policy;
  // TLS: the server context every connection's session is made from (must outlive the
  // server); nullptr: plain HTTP.
  ssl_ctx_st* tls = nullptr;
  // Serves one request from `stream` (cpp-httplib's Server::process_request): false when the
  // connection cannot go on; `close` asks for Connection: close; `closed` is set when the
  // request asked for it; `headers` are the head's fields as sent, to be used instead of
  // httplib's decoded ones.
  std::function<bool(httplib::Stream& stream, bool close, bool& closed, const RawHeaders& headers)> process;
  std::shared_ptr<std::atomic<std::size_t>> busy_gauge;  // optional, mirrors busy()
  // Connections the poller holds (idle, mid-head, draining); when full, the oldest idle one is
  // closed for a new one. Keep it below the open-file limit.
  std::size_t max_pending = 4096;
  // Bytes of unfinished heads the poller holds in all; past it the connection that read more
  // gets 503 (a crowd of large, slow heads cannot take the memory).
  std::size_t max_buffered_head_bytes = 64u << 20;
  std::chrono::milliseconds worker_idle_retire{30000};
  std::chrono::milliseconds linger{2000};  // how long a refused connection's input is drained
};

class ConnectionServer {
 public:
  explicit ConnectionServer(ConnectionServerOptions options);
  ~ConnectionServer();
  ConnectionServer(const ConnectionServer&) = delete;
  ConnectionServer& operator=(const ConnectionServer&) = delete;

  // Binds and listens (port 0: ephemeral); returns the bound port.
  Result<int> listen(const std::string& host, int port);
  // The poller loop, until stop(); returns once the workers have finished their requests.
  void run();
  void stop();

  std::size_t busy() const { return workers_.busy(); }
  std::size_t threads() const { return workers_.threads(); }
  // Tests: waits until `holds(busy, threads)` or `timeout` passes.
  bool wait_until(const std::function<bool(std::size_t busy, std::size_t threads)>& holds,
                  std::chrono::milliseconds timeout) const {
    return workers_.wait_until(holds, timeout);
  }

 private:
  using ConnectionPtr = std::shared_ptr<Connection>;

  // Poller thread only.
  void accept_all(const ConnectionPolicy& policy);
  void on_ready(const ConnectionPtr& connection, const ConnectionPolicy& policy);  // readable or writable
  void continue_handshake(const ConnectionPtr& connection, const ConnectionPolicy& policy);
  void read_head(const ConnectionPtr& connection, const ConnectionPolicy& policy);
  void set_interest(const ConnectionPtr& connection, bool writable);
  bool evict_idle();  // closes the oldest connection that has not started a request
  // Keeps idle_ in step with the connection's state; called wherever that state changes.
  void track_idle(const ConnectionPtr& connection, Connection::TimePoint now);
  void judge(const ConnectionPtr& connection, const ConnectionPolicy& policy);
  void expire(Connection::TimePoint now);
  void adopt_returned(const ConnectionPolicy& policy);
  void watch(const ConnectionPtr& connection);
  void forget(const ConnectionPtr& connection);
  void set_deadline(const ConnectionPtr& connection, Connection::TimePoint deadline);
  // Answers `status` with `message`, then drains the connection until it closes or lingers out.
  void refuse(const ConnectionPtr& connection, int status, std::string_view message);
  int next_timeout_ms(Connection::TimePoint now) const;

  // Worker threads.
  void serve(ConnectionPtr connection);
  void give_back(ConnectionPtr connection);  // to the poller: keep-alive or draining
  void linger(ConnectionPtr connection);

  ConnectionServerOptions options_;
  GrowingTaskQueue workers_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;   // eventfd: returned connections, stop
  int spare_fd_ = -1;  // given up to accept (and refuse) a connection when descriptors run out
  std::atomic<bool> stopping_{false};

  // Poller state.
  std::unordered_map<int, ConnectionPtr> watched_;
  std::set<std::pair<Connection::TimePoint, int>> deadlines_;
  // Connections with no request under way (handshaking, or waiting for a first byte), by when
  // they became so: the eviction order.
  std::set<std::pair<Connection::TimePoint, int>> idle_;
  std::size_t buffered_ = 0;  // sum of the unread bytes of watched_ connections

  std::mutex returned_mutex_;
  std::vector<ConnectionPtr> returned_;  // from workers, adopted by the poller
};

}  // namespace balancer::server
