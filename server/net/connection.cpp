#include "connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <utility>

namespace balancer::server {

Connection::Connection(int fd, std::string remote_ip, int remote_port, std::string local_ip, int local_port)
    : fd_(fd),
      remote_ip_(std::move(remote_ip)),
      remote_port_(remote_port),
      local_ip_(std::move(local_ip)),
      local_port_(local_port) {}

Connection::~Connection() { ::close(fd_); }

void Connection::consume(std::size_t n) {
  start_ += n;
  if (start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  } else if (start_ > 64u << 10 && start_ * 2 > buffer_.size()) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
}

ssize_t Connection::receive(std::size_t max) {
  const std::size_t old = buffer_.size();
  buffer_.resize(old + max);
  const ssize_t n = ::recv(fd_, buffer_.data() + old, max, 0);
  buffer_.resize(old + (n > 0 ? static_cast<std::size_t>(n) : 0));
  return n;
}

}  // namespace balancer::server
