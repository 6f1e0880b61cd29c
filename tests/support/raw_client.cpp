#include "raw_client.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <fstream>
#include <stdexcept>
#include <utility>

namespace balancer::test {

bool RawResponse::has_header(const std::string& line) const {
  return head.find("\r\n" + line + "\r\n") != std::string::npos;
}

RawConnection::RawConnection(int port, std::chrono::milliseconds wait) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) {
    throw std::runtime_error("socket() failed");
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd_);
    throw std::runtime_error("connect() failed");
  }
  timeval timeout{};
  timeout.tv_sec = static_cast<time_t>(wait.count() / 1000);
  timeout.tv_usec = static_cast<suseconds_t>((wait.count() % 1000) * 1000);
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
}

RawConnection::~RawConnection() { ::close(fd_); }

bool RawConnection::send(const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      return false;
    }
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

std::size_t RawConnection::send_filler(std::size_t total) {
  const std::string piece(64u << 10, 'x');
  std::size_t sent = 0;
  while (sent < total) {
    const std::size_t n = std::min(piece.size(), total - sent);
    const ssize_t written = ::send(fd_, piece.data(), n, MSG_NOSIGNAL);
    if (written <= 0) {
      break;
    }
    sent += static_cast<std::size_t>(written);
  }
  return sent;
}

void RawConnection::shutdown_write() { ::shutdown(fd_, SHUT_WR); }

bool RawConnection::fill() {
  char buf[16384];
  const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
  if (n <= 0) {
    return false;
  }
  buffer_.append(buf, static_cast<std::size_t>(n));
  return true;
}

std::optional<RawResponse> RawConnection::read_response() {
  std::size_t end = 0;
  while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (!fill()) {
      return std::nullopt;
    }
  }
  RawResponse response;
  response.head = buffer_.substr(0, end + 2);
  response.status = status_of(response.head);
  std::size_t pos = end + 4;
  const auto lower_head = [&] {
    std::string lower = response.head;
    for (char& c : lower)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return lower;
  }();
  const std::size_t length_at = lower_head.find("\r\ncontent-length:");
  if (length_at != std::string::npos) {
    const std::size_t length = std::stoul(response.head.substr(length_at + 17));
    while (buffer_.size() < pos + length) {
      if (!fill()) {
        return std::nullopt;
      }
    }
    response.body = buffer_.substr(pos, length);
    buffer_.erase(0, pos + length);
    return response;
  }
  if (lower_head.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
    for (;;) {
      std::size_t line_end = 0;
      while ((line_end = buffer_.find("\r\n", pos)) == std::string::npos) {
        if (!fill()) return std::nullopt;
      }
      const std::size_t size = std::stoul(buffer_.substr(pos, line_end - pos), nullptr, 16);
      while (buffer_.size() < line_end + 2 + size + 2) {
        if (!fill()) return std::nullopt;
      }
      response.body += buffer_.substr(line_end + 2, size);
      pos = line_end + 2 + size + 2;
      if (size == 0) {
        buffer_.erase(0, pos);
        return response;
      }
    }
  }
  buffer_.erase(0, pos);
  return response;  // no body
}

bool RawConnection::closed_by_server() {
  if (!buffer_.empty()) {
    return false;
  }
  char byte = 0;
  const ssize_t n = ::recv(fd_, &byte, 1, 0);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

std::string RawConnection::read_all() {
  while (fill()) {
  }
  return std::exchange(buffer_, {});
}

int status_of(const std::string& response) {
  return response.rfind("HTTP/1.1 ", 0) == 0 ? std::stoi(response.substr(9, 3)) : 0;
}

std::size_t resident_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::stoul(line.substr(6)) * 1024;  // "VmRSS:   123456 kB"
    }
  }
  return 0;
}

}  // namespace balancer::test
