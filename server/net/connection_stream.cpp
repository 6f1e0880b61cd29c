#include "connection_stream.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace balancer::server {
namespace {

constexpr std::size_t kReadChunk = 64u << 10;

// Waits until `fd` is ready for `events` or `timeout` passes.
bool wait_ready(int fd, short events, std::chrono::milliseconds timeout) {
  pollfd p{fd, events, 0};
  int rc = 0;
  do {
    rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
  } while (rc < 0 && errno == EINTR);
  return rc > 0;
}

}  // namespace

ConnectionStream::ConnectionStream(Connection& connection, std::chrono::milliseconds read_idle,
                                   std::chrono::milliseconds write_timeout)
    : connection_(connection), read_idle_(read_idle), write_timeout_(write_timeout) {}

bool ConnectionStream::is_readable() const {
  return !connection_.unread().empty() || connection_.pending() > 0 || wait_ready(connection_.fd(), POLLIN, read_idle_);
}

bool ConnectionStream::is_writable() const { return !broken_ && wait_ready(connection_.fd(), POLLOUT, write_timeout_); }

ssize_t ConnectionStream::read(char* ptr, size_t size) {
  while (connection_.unread().empty()) {
    const ssize_t n = connection_.receive(std::max(size, kReadChunk));
    if (n > 0) {
      break;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n == 0 || errno != EAGAIN ||
        !wait_ready(connection_.fd(), connection_.wants_write() ? POLLOUT : POLLIN, read_idle_)) {
      broken_ = true;  // end of input, an error, or the body paused past the idle timeout
      return n == 0 ? 0 : -1;
    }
  }
  const std::string_view unread = connection_.unread();
  const std::size_t n = std::min(size, unread.size());
  std::memcpy(ptr, unread.data(), n);
  connection_.consume(n);
  consumed_ += n;
  return static_cast<ssize_t>(n);
}

ssize_t ConnectionStream::write(const char* ptr, size_t size) {
  std::size_t written = 0;
  while (written < size && !broken_) {
    const ssize_t n = connection_.send_some(ptr + written, size - written);
    if (n > 0) {
      written += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN &&
               wait_ready(connection_.fd(), connection_.wants_write() || !connection_.tls() ? POLLOUT : POLLIN,
                          write_timeout_)) {
      continue;
    } else {
      broken_ = true;  // the client went away or stopped reading for longer than the timeout
    }
  }
  return broken_ ? -1 : static_cast<ssize_t>(written);
}

void ConnectionStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  ip = connection_.remote_ip();
  port = connection_.remote_port();
}

void ConnectionStream::get_local_ip_and_port(std::string& ip, int& port) const {
  ip = connection_.local_ip();
  port = connection_.local_port();
}

}  // namespace balancer::server
