#include "connection_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>

#include <fmt/format.h>
#include <openssl/ssl.h>

#include "connection_stream.h"
#include "refusal.h"

namespace balancer::server {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadChunk = 16u << 10;
constexpr std::size_t kInitialWorkers = 8;
// A burst of new connections (a team's agents starting at once) waits in the accept queue, not
// in SYN retransmissions; the kernel caps it at net.core.somaxconn (4096 by default).
constexpr int kListenBacklog = 4096;

// The most bytes a head may take before it is refused whatever its shape (431): the header
// bytes the limits allow plus line overhead.
std::size_t head_budget(const HeadLimits& limits) {
  return limits.max_header_bytes + 2 * limits.max_line_bytes + 8 * limits.max_header_count;
}

// Address and port of a socket address, for REMOTE_ADDR / LOCAL_ADDR.
std::pair<std::string, int> describe(const sockaddr_storage& address) {
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (address.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(address);
    ::inet_ntop(AF_INET6, &in6.sin6_addr, text.data(), text.size());
    return {text.data(), ntohs(in6.sin6_port)};
  }
  const auto& in4 = reinterpret_cast<const sockaddr_in&>(address);
  ::inet_ntop(AF_INET, &in4.sin_addr, text.data(), text.size());
  return {text.data(), ntohs(in4.sin_port)};
}

}  // namespace

ConnectionServer::ConnectionServer(ConnectionServerOptions options)
    : options_(std::move(options)),
      workers_(kInitialWorkers, options_.policy().max_busy, options_.busy_gauge, options_.worker_idle_retire),
      epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)),
      wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      spare_fd_(::open("/dev/null", O_RDONLY | O_CLOEXEC)) {}

ConnectionServer::~ConnectionServer() {
  stop();
  workers_.shutdown();
  watched_.clear();
  for (const int fd : {listen_fd_, epoll_fd_, wake_fd_, spare_fd_}) {
    if (fd >= 0) {
      ::close(fd);
    }
  }
}

Result<int> ConnectionServer::listen(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (::getaddrinfo(host.c_str(), service.c_str(), &hints, &found) != 0 || found == nullptr) {
    return make_error(ErrorCode::InvalidConfig, fmt::format("cannot resolve the listen address {}", host));
  }
  int fd = -1;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      continue;
    }
    int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, kListenBacklog) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (fd < 0) {
    return make_error(ErrorCode::InvalidConfig, fmt::format("cannot listen on {}:{}", host, port));
  }
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  listen_fd_ = fd;
  return describe(bound).second;
}

void ConnectionServer::run() {
  if (listen_fd_ < 0 || epoll_fd_ < 0 || wake_fd_ < 0) {
    return;
  }
  for (const int fd : {listen_fd_, wake_fd_}) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
  }
  std::array<epoll_event, 256> events{};
  while (!stopping_.load()) {
    const int n =
        ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), next_timeout_ms(Clock::now()));
    const ConnectionPolicy policy = options_.policy();
    for (int i = 0; i < n; ++i) {
      const int fd = events[static_cast<std::size_t>(i)].data.fd;
      if (fd == listen_fd_) {
        accept_all(policy);
      } else if (fd == wake_fd_) {
        std::uint64_t count = 0;
        (void)::read(wake_fd_, &count, sizeof(count));
        adopt_returned(policy);
      } else if (const auto it = watched_.find(fd); it != watched_.end()) {
        const ConnectionPtr connection = it->second;  // on_ready may forget it
        on_ready(connection, policy);
      }
    }
    expire(Clock::now());
  }
  ::close(listen_fd_);
  listen_fd_ = -1;
  watched_.clear();  // idle and half-read connections are closed
  deadlines_.clear();
  idle_.clear();
  workers_.shutdown();  // requests being served finish first
  std::lock_guard lock(returned_mutex_);
  returned_.clear();
}

void ConnectionServer::stop() {
  stopping_.store(true);
  const std::uint64_t one = 1;
  (void)::write(wake_fd_, &one, sizeof(one));
}

void ConnectionServer::accept_all(const ConnectionPolicy& policy) {
  for (;;) {
    sockaddr_storage remote{};
    socklen_t length = sizeof(remote);
    const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&remote), &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) {
        continue;
      }
      if ((errno == EMFILE || errno == ENFILE) && evict_idle()) {
        continue;  // out of descriptors: an idle connection made room
      }
      if ((errno == EMFILE || errno == ENFILE) && spare_fd_ >= 0) {
        // Out of descriptors and nothing idle: take the connection with the spare one and close
        // it at once, so the listening socket does not stay readable forever.
        ::close(spare_fd_);
        const int refused = ::accept(listen_fd_, nullptr, nullptr);
        if (refused >= 0) {
          ::close(refused);  // no descriptor is left to answer with (and TLS would need a handshake)
        }
        spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      }
      return;  // EAGAIN: nothing more to accept
    }
    int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    if (watched_.size() >= options_.max_pending && !evict_idle()) {
      ::close(fd);  // every held connection is mid-request; an answer would need a TLS handshake
      continue;
    }
    sockaddr_storage local{};
    length = sizeof(local);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &length);
    auto [remote_ip, remote_port] = describe(remote);
    auto [local_ip, local_port] = describe(local);
    SSL* tls = nullptr;
    if (options_.tls != nullptr) {
      tls = SSL_new(options_.tls);
      if (tls == nullptr || SSL_set_fd(tls, fd) != 1) {
        SSL_free(tls);
        ::close(fd);
        continue;
      }
      SSL_set_accept_state(tls);
    }
    auto connection =
        std::make_shared<Connection>(fd, std::move(remote_ip), remote_port, std::move(local_ip), local_port, tls);
    watch(connection);
    // A new connection must bring its head (and its TLS handshake) within the head deadline:
    // connections that never send a byte cannot pile up.
    set_deadline(connection, Clock::now() + policy.head_timeout);
  }
}

bool ConnectionServer::evict_idle() {
  while (!idle_.empty()) {
    const auto found = watched_.find(idle_.begin()->second);
    if (found == watched_.end()) {
      idle_.erase(idle_.begin());  // not reached: forget() untracks
      continue;
    }
    const ConnectionPtr oldest = found->second;
    forget(oldest);
    return true;
  }
  return false;
}

void ConnectionServer::track_idle(const ConnectionPtr& connection, Connection::TimePoint now) {
  const bool idle = connection->phase == Connection::Phase::Handshaking ||
                    (connection->phase == Connection::Phase::AwaitingHead && !connection->head_started &&
                     connection->unread().empty());
  if (idle == connection->idle) {
    return;
  }
  if (idle) {
    connection->idle_since = now;
    idle_.emplace(now, connection->fd());
  } else {
    idle_.erase({connection->idle_since, connection->fd()});
  }
  connection->idle = idle;
}

void ConnectionServer::on_ready(const ConnectionPtr& connection, const ConnectionPolicy& policy) {
  switch (connection->phase) {
    case Connection::Phase::Handshaking: continue_handshake(connection, policy); return;
    case Connection::Phase::AwaitingHead: read_head(connection, policy); return;
    case Connection::Phase::Draining: break;
  }
  const ssize_t n = connection->receive(kReadChunk);
  connection->consume(connection->unread().size());
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    forget(connection);
  }
}

void ConnectionServer::continue_handshake(const ConnectionPtr& connection, const ConnectionPolicy& policy) {
  const int done = connection->handshake();
  if (done < 0) {
    forget(connection);  // not TLS, or a failed handshake
    return;
  }
  if (done == 0) {
    set_interest(connection, connection->wants_write());
    return;
  }
  set_interest(connection, false);
  connection->phase = Connection::Phase::AwaitingHead;  // the first head is still due by the accept deadline
  read_head(connection, policy);  // the first request may have come with the handshake's last flight
}

void ConnectionServer::set_interest(const ConnectionPtr& connection, bool writable) {
  epoll_event event{};
  event.events = EPOLLIN | EPOLLRDHUP | (writable ? EPOLLOUT : 0u);
  event.data.fd = connection->fd();
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, connection->fd(), &event);
}

void ConnectionServer::read_head(const ConnectionPtr& connection, const ConnectionPolicy& policy) {
  const std::size_t budget = head_budget(policy.head);
  bool got = false;
  for (;;) {
    const std::size_t unread = connection->unread().size();
    if (unread > budget) {
      break;
    }
    const ssize_t n = connection->receive(std::min(budget + 1 - unread, kReadChunk));
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      forget(connection);  // the client closed (or reset) before its head was complete
      return;
    }
    if (n < 0) {
      break;
    }
    buffered_ += static_cast<std::size_t>(n);
    got = true;
    if (connection->pending() == 0) {
      break;  // plain: one read per wake-up (level-triggered); TLS: until OpenSSL holds nothing
    }
  }
  if (!got) {
    return;
  }
  if (!connection->head_started) {
    connection->head_started = true;
    // A kept-alive connection's next head is due head_timeout after its first byte; a new
    // connection's first head stays due by the deadline counted from its accept.
    const auto due = Clock::now() + policy.head_timeout;
    set_deadline(connection, connection->served ? due : std::min(due, connection->deadline));
  }
  judge(connection, policy);
}

void ConnectionServer::judge(const ConnectionPtr& connection, const ConnectionPolicy& policy) {
  const HeadScan scan = scan_request_head(connection->unread(), policy.head);
  switch (scan.state) {
    case HeadScan::State::Incomplete:
      if (connection->unread().size() > head_budget(policy.head)) {
        refuse(connection, 431, "the request head is too large");
      } else if (buffered_ > options_.max_buffered_head_bytes) {
        // Only a head still unfinished pays for the budget: complete ones are served.
        refuse(connection, 503, "the balancer holds too many unfinished request heads");
      }
      return;
    case HeadScan::State::Refused: refuse(connection, scan.status, scan.message); return;
    case HeadScan::State::Complete: break;
  }
  // (A reload may raise max_connections; the workers started with the old ceiling.)
  const std::size_t max_busy = std::min(policy.max_busy, workers_.max_threads());
  if (workers_.busy() + workers_.queued() >= max_busy) {
    refuse(connection, 503, fmt::format("the balancer is serving its maximum of {} connections", max_busy));
    return;
  }
  forget(connection);
  workers_.enqueue([this, connection] { serve(connection); });
}

void ConnectionServer::refuse(const ConnectionPtr& connection, int status, std::string_view message) {
  send_once(*connection, refusal_response(status, message));
  connection->shutdown_write();
  buffered_ -= connection->unread().size();
  connection->consume(connection->unread().size());
  connection->phase = Connection::Phase::Draining;
  set_deadline(connection, Clock::now() + options_.linger);
}

void ConnectionServer::expire(Connection::TimePoint now) {
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    const auto it = watched_.find(deadlines_.begin()->second);
    if (it == watched_.end()) {
      deadlines_.erase(deadlines_.begin());
      continue;
    }
    const ConnectionPtr connection = it->second;
    if (connection->phase == Connection::Phase::Handshaking) {
      forget(connection);  // no handshake within the head deadline
    } else if (connection->phase == Connection::Phase::AwaitingHead && connection->head_started) {
      const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(options_.policy().head_timeout).count();
      refuse(connection, 408, fmt::format("the request head did not arrive within {} s", seconds));
    } else {
      forget(connection);  // idle past the keep-alive timeout, or drained long enough
    }
  }
}

void ConnectionServer::adopt_returned(const ConnectionPolicy& policy) {
  std::vector<ConnectionPtr> returned;
  {
    std::lock_guard lock(returned_mutex_);
    returned.swap(returned_);
  }
  const auto now = Clock::now();
  for (ConnectionPtr& connection : returned) {
    watch(connection);
    connection->served = true;
    if (connection->phase == Connection::Phase::Draining) {
      set_deadline(connection, now + options_.linger);
    } else if (!connection->unread().empty()) {
      connection->head_started = true;  // part of a pipelined head is already here
      set_deadline(connection, now + policy.head_timeout);
    } else {
      connection->head_started = false;
      set_deadline(connection, now + policy.keep_alive_timeout);
    }
  }
}

void ConnectionServer::watch(const ConnectionPtr& connection) {
  epoll_event event{};
  event.events = EPOLLIN | EPOLLRDHUP;
  event.data.fd = connection->fd();
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, connection->fd(), &event);
  watched_[connection->fd()] = connection;
  buffered_ += connection->unread().size();
}

void ConnectionServer::forget(const ConnectionPtr& connection) {
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, connection->fd(), nullptr);
  buffered_ -= connection->unread().size();
  deadlines_.erase({connection->deadline, connection->fd()});
  if (connection->idle) {
    idle_.erase({connection->idle_since, connection->fd()});
    connection->idle = false;
  }
  watched_.erase(connection->fd());
}

void ConnectionServer::set_deadline(const ConnectionPtr& connection, Connection::TimePoint deadline) {
  deadlines_.erase({connection->deadline, connection->fd()});
  connection->deadline = deadline;
  deadlines_.emplace(deadline, connection->fd());
  track_idle(connection, Clock::now());
}

int ConnectionServer::next_timeout_ms(Connection::TimePoint now) const {
  if (deadlines_.empty()) {
    return -1;
  }
  const auto wait = std::chrono::ceil<std::chrono::milliseconds>(deadlines_.begin()->first - now);
  return static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(wait.count(), 0, 60000));
}

void ConnectionServer::serve(ConnectionPtr connection) {
  for (;;) {
    const ConnectionPolicy policy = options_.policy();
    const HeadScan scan = scan_request_head(connection->unread(), policy.head);
    if (scan.state == HeadScan::State::Incomplete) {
      give_back(std::move(connection));  // the poller waits for the rest of a pipelined head
      return;
    }
    if (scan.state == HeadScan::State::Refused) {
      send_once(*connection, refusal_response(scan.status, scan.message));
      linger(std::move(connection));
      return;
    }
    RawHeaders headers;
    headers.reserve(scan.headers.size());
    for (const auto& [name, value] : scan.headers) {
      headers.emplace_back(name, value);
    }
    connection->consume(scan.skipped);  // httplib would take an empty line for a bad request line
    ConnectionStream stream(*connection, policy.body_idle_timeout, policy.write_timeout);
    bool closed = false;
    // A chunked body's end is not tracked here, so its connection closes after the answer — and
    // the answer says so.
    const bool close = scan.close || scan.framing == BodyFraming::Chunked || stopping_.load();
    const bool ok = options_.process(stream, close, closed, headers);
    if (!ok || stream.broken()) {
      return;  // the client went away or stalled: the connection is closed as it is dropped
    }
    const std::size_t body_end =
        scan.head_bytes - scan.skipped +
        (scan.framing == BodyFraming::Length ? static_cast<std::size_t>(scan.content_length) : 0);
    // A body left unread (a refusal answered from the head) must never be taken for the next
    // request (chunked bodies close through `close`).
    const bool body_read = stream.consumed() == body_end;
    if (!body_read || close || closed || stopping_.load()) {
      linger(std::move(connection));
      return;
    }
    while (connection->pending() > 0 && connection->receive(kReadChunk) > 0) {
      // TLS: bytes OpenSSL already decrypted would never wake the poller.
    }
    if (connection->unread().empty()) {
      give_back(std::move(connection));  // idle keep-alive, watched by the poller
      return;
    }
    // Pipelined: the next request is answered in order, on this worker.
  }
}

void ConnectionServer::linger(ConnectionPtr connection) {
  connection->shutdown_write();
  connection->consume(connection->unread().size());
  connection->phase = Connection::Phase::Draining;
  give_back(std::move(connection));
}

void ConnectionServer::give_back(ConnectionPtr connection) {
  if (stopping_.load()) {
    return;  // closed as it is dropped
  }
  {
    std::lock_guard lock(returned_mutex_);
    returned_.push_back(std::move(connection));
  }
  const std::uint64_t one = 1;
  (void)::write(wake_fd_, &one, sizeof(one));
}

}  // namespace balancer::server
