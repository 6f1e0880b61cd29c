// paced_stream_server.h — one epoll thread that answers every request with a paced SSE stream.
//
// The many-streams benchmark holds 5,000 streams of one event a second open at once. The
// httplib mock needs a thread per stream for that, and on a virtual machine where a context
// switch is dear, 5,000 threads each waking once a second saturate the mock's CPU before the
// proxy under test is measured. This server keeps every connection in one epoll loop with a
// timer queue instead: it reads a request (head and Content-Length body), answers with chunked
// `text/event-stream` whose events come from `events_for(body)`, the first at once and each next
// one `delay` later, and then reads the connection's next request (keep-alive).
//
// Header-only; used by the mock tools (mock_anthropic --paced-streams), not by the library.
// `serve` runs on the calling thread until `stop` becomes true.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace mock {

class PacedStreamServer {
 public:
  using Clock = std::chrono::steady_clock;
  // The events of one answer, in order, each a complete SSE event ("event: ...\ndata: ...\n\n").
  using EventSource = std::function<std::vector<std::string>(std::string_view body)>;

  PacedStreamServer(EventSource events_for, std::chrono::milliseconds delay)
      : events_for_(std::move(events_for)), delay_(delay) {}

  // Binds to host:port (0 = any) and listens; returns the port, or -1.
  int bind(const std::string& host, int port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = host == "0.0.0.0" ? htonl(INADDR_ANY) : htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 4096) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return -1;
    }
    return ntohs(addr.sin_port);
  }

  void serve(const std::atomic<bool>& stop) {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    watch(listen_fd_, EPOLLIN, EPOLL_CTL_ADD);
    while (!stop.load()) {
      int wait_ms = 200;
      if (!timers_.empty()) {
        const auto until = std::chrono::ceil<std::chrono::milliseconds>(timers_.top().first - Clock::now());
        wait_ms = std::max<int>(0, std::min<int>(wait_ms, static_cast<int>(until.count())));
      }
      epoll_event ready[512];
      const int n = epoll_wait(epoll_fd_, ready, 512, wait_ms);
      for (int i = 0; i < n; ++i) {
        if (ready[i].data.fd == listen_fd_) {
          accept_all();
        } else {
          on_ready(ready[i].data.fd, ready[i].events);
        }
      }
      fire_due_timers();
    }
  }

 private:
  struct Connection {
    std::string in;
    std::string out;
    std::vector<std::string> events;  // the answer being streamed
    std::size_t next = 0;             // index of the next event to send
    unsigned long generation = 0;     // new per answer, so that a stale timer is ignored
  };

  void watch(int fd, uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    epoll_ctl(epoll_fd_, op, fd, &ev);
  }

  void accept_all() {
    for (;;) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));  // not a busy loop on the listener
        }
        return;
      }
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      connections_[fd] = std::make_unique<Connection>();
      watch(fd, EPOLLIN, EPOLL_CTL_ADD);
    }
  }

  void close_connection(int fd) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    connections_.erase(fd);
  }

  void on_ready(int fd, uint32_t events) {
    auto it = connections_.find(fd);
    if (it == connections_.end()) {
      return;
    }
    Connection& c = *it->second;
    if ((events & EPOLLIN) != 0) {
      char buf[65536];
      for (;;) {
        const ssize_t got = ::read(fd, buf, sizeof buf);
        if (got > 0) {
          c.in.append(buf, static_cast<std::size_t>(got));
          continue;
        }
        if (got == 0 || errno != EAGAIN) {
          close_connection(fd);
          return;
        }
        break;
      }
      if (c.events.empty() && !start_answer(fd, c)) {
        close_connection(fd);
        return;
      }
    }
    if (!flush(fd, c)) {
      close_connection(fd);
    }
  }

  // Starts the answer once a whole request has arrived; false on a request it cannot read.
  bool start_answer(int fd, Connection& c) {
    const std::size_t head_end = c.in.find("\r\n\r\n");
    if (head_end == std::string::npos) {
      return c.in.size() < 65536;
    }
    const std::size_t body_size = content_length(std::string_view(c.in).substr(0, head_end));
    if (c.in.size() < head_end + 4 + body_size) {
      return true;
    }
    c.events = events_for_(std::string_view(c.in).substr(head_end + 4, body_size));
    if (c.events.empty()) {
      return false;  // nothing to answer with
    }
    c.in.erase(0, head_end + 4 + body_size);
    c.next = 0;
    c.generation = ++generations_;
    c.out +=
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        "Transfer-Encoding: chunked\r\n\r\n";
    send_next_event(fd, c);
    return true;
  }

  void send_next_event(int fd, Connection& c) {
    const std::string& event = c.events[c.next++];
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", event.size());
    c.out += size;
    c.out += event;
    c.out += "\r\n";
    if (c.next < c.events.size()) {
      timers_.push({Clock::now() + delay_, {fd, c.generation}});
      return;
    }
    c.out += "0\r\n\r\n";
    c.events.clear();
  }

  // Writes what is pending; false when the connection has failed.
  bool flush(int fd, Connection& c) {
    while (!c.out.empty()) {
      const ssize_t sent = ::send(fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
      if (sent < 0) {
        if (errno != EAGAIN) {
          return false;
        }
        watch(fd, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
        return true;
      }
      c.out.erase(0, static_cast<std::size_t>(sent));
    }
    watch(fd, EPOLLIN, EPOLL_CTL_MOD);
    // A pipelined next request may already be buffered.
    return !c.events.empty() || c.in.empty() || start_answer(fd, c);
  }

  void fire_due_timers() {
    const auto now = Clock::now();
    while (!timers_.empty() && timers_.top().first <= now) {
      const auto [fd, generation] = timers_.top().second;
      timers_.pop();
      auto it = connections_.find(fd);
      if (it == connections_.end() || it->second->generation != generation || it->second->events.empty()) {
        continue;
      }
      send_next_event(fd, *it->second);
      if (!flush(fd, *it->second)) {
        close_connection(fd);
      }
    }
  }

  static std::size_t content_length(std::string_view head) {
    constexpr std::string_view kName = "\r\ncontent-length:";
    for (std::size_t i = 0; i + kName.size() <= head.size(); ++i) {
      std::size_t k = 0;
      while (k < kName.size() && std::tolower(static_cast<unsigned char>(head[i + k])) == kName[k]) {
        ++k;
      }
      if (k == kName.size()) {
        return std::strtoul(std::string(head.substr(i + k, 24)).c_str(), nullptr, 10);
      }
    }
    return 0;
  }

  using Timer = std::pair<Clock::time_point, std::pair<int, unsigned long>>;
  struct Later {
    bool operator()(const Timer& a, const Timer& b) const { return a.first > b.first; }
  };

  EventSource events_for_;
  std::chrono::milliseconds delay_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  unsigned long generations_ = 0;
  std::map<int, std::unique_ptr<Connection>> connections_;
  std::priority_queue<Timer, std::vector<Timer>, Later> timers_;
};

}  // namespace mock
