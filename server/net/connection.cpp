#include "connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <utility>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace balancer::server {
namespace {

// Maps an OpenSSL result to the socket convention: 0 end of input, -1 with errno.
ssize_t tls_result(SSL* tls, int rc, bool& wants_write) {
  const int error = SSL_get_error(tls, rc);
  wants_write = error == SSL_ERROR_WANT_WRITE;
  switch (error) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: errno = EAGAIN; return -1;
    case SSL_ERROR_ZERO_RETURN: return 0;
    default:
      ERR_clear_error();
      errno = ECONNRESET;
      return -1;
  }
}

constexpr std::size_t kMaxReceive = 64u << 10;

int clamp_int(std::size_t n) { return n > INT_MAX ? INT_MAX : static_cast<int>(n); }

}  // namespace

Connection::Connection(int fd, std::string remote_ip, int remote_port, std::string local_ip, int local_port,
                       ssl_st* tls)
    : fd_(fd),
      remote_ip_(std::move(remote_ip)),
      remote_port_(remote_port),
      local_ip_(std::move(local_ip)),
      local_port_(local_port),
      tls_(tls) {
  if (tls_ != nullptr) {
    phase = Phase::Handshaking;
  }
}

Connection::~Connection() {
  if (tls_ != nullptr) {
    SSL_free(tls_);
  }
  ::close(fd_);
}

void Connection::consume(std::size_t n) {
  start_ += n;
  if (start_ == buffer_.size()) {
    if (buffer_.capacity() > 16u << 10) {
      std::string().swap(buffer_);  // an idle connection keeps no large buffer
    } else {
      buffer_.clear();
    }
    start_ = 0;
  } else if (start_ > 64u << 10 && start_ * 2 > buffer_.size()) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
}

ssize_t Connection::receive(std::size_t max) {
  // Read into scratch space and keep only what came: a connection that sends a byte at a time
  // holds a byte, not a read-sized buffer.
  std::array<char, kMaxReceive> scratch;  // NOLINT(cppcoreguidelines-pro-type-member-init)
  const std::size_t want = std::min(max, scratch.size());
  ssize_t n = 0;
  wants_write_ = false;
  if (tls_ != nullptr) {
    const int rc = SSL_read(tls_, scratch.data(), clamp_int(want));
    n = rc > 0 ? rc : tls_result(tls_, rc, wants_write_);
  } else {
    n = ::recv(fd_, scratch.data(), want, 0);
  }
  if (n > 0) {
    buffer_.append(scratch.data(), static_cast<std::size_t>(n));
  }
  return n;
}

ssize_t Connection::send_some(const char* data, std::size_t size) {
  wants_write_ = false;
  if (tls_ != nullptr) {
    const int rc = SSL_write(tls_, data, clamp_int(size));
    return rc > 0 ? rc : tls_result(tls_, rc, wants_write_);
  }
  return ::send(fd_, data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
}

int Connection::handshake() {
  const int rc = SSL_do_handshake(tls_);
  if (rc == 1) {
    wants_write_ = false;
    return 1;
  }
  return tls_result(tls_, rc, wants_write_) < 0 && errno == EAGAIN ? 0 : -1;
}

void Connection::shutdown_write() {
  if (tls_ != nullptr && phase != Phase::Handshaking) {
    SSL_shutdown(tls_);  // close_notify; the peer's is not waited for
  }
  ::shutdown(fd_, SHUT_WR);
}

std::size_t Connection::pending() const { return tls_ != nullptr ? static_cast<std::size_t>(SSL_pending(tls_)) : 0; }

}  // namespace balancer::server
