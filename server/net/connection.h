// connection.h — one accepted client connection: its socket, the bytes read from it but not yet
// consumed (the rest of a head, a body, pipelined requests), and where it is in its life. Owned
// by exactly one thread at a time: the ConnectionServer's poller while it waits for a head or
// drains, a worker while a request is served; ownership moves with the shared_ptr. With TLS the
// Connection owns the OpenSSL session and every read and write goes through it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

struct ssl_st;  // OpenSSL's SSL

namespace balancer::server {

class Connection {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  enum class Phase {
    Handshaking,   // TLS only: the handshake is under way, driven by the poller
    AwaitingHead,  // idle or part of a head read: the poller reads, up to `deadline`
    Draining,      // answered and shut for writing: the rest of its input is read and dropped
  };

  // `tls` (owned; nullptr for plain HTTP): a server-side session set on `fd`.
  Connection(int fd, std::string remote_ip, int remote_port, std::string local_ip, int local_port,
             ssl_st* tls = nullptr);
  ~Connection();  // closes the socket
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int fd() const { return fd_; }
  const std::string& remote_ip() const { return remote_ip_; }
  int remote_port() const { return remote_port_; }
  const std::string& local_ip() const { return local_ip_; }
  int local_port() const { return local_port_; }

  // Bytes read and not yet consumed.
  std::string_view unread() const { return std::string_view(buffer_).substr(start_); }
  void consume(std::size_t n);
  // One non-blocking read of up to `max` (at most 64 KiB) bytes appended to the unread bytes: > 0 bytes read,
  // 0 end of input, < 0 an error (errno; EAGAIN when nothing is there yet — then
  // wants_write() says whether TLS waits for the socket to be writable rather than readable).
  ssize_t receive(std::size_t max);
  // One non-blocking write: bytes written, or < 0 (errno EAGAIN: wait, as for receive).
  ssize_t send_some(const char* data, std::size_t size);
  // TLS: one step of the handshake: 1 done, 0 wait (see wants_write()), -1 failed.
  int handshake();
  // Ends the sending side (TLS close_notify first).
  void shutdown_write();
  bool tls() const { return tls_ != nullptr; }
  bool wants_write() const { return wants_write_; }
  // Decrypted bytes OpenSSL holds that receive() has not taken yet (0 for plain HTTP).
  std::size_t pending() const;

  Phase phase = Phase::AwaitingHead;
  TimePoint deadline{};
  bool head_started = false;  // a byte of the current head has arrived (its deadline runs)
  bool served = false;        // a request was served: later heads get their own deadline
  // Poller bookkeeping: since when the connection has had no request under way (when idle).
  bool idle = false;
  TimePoint idle_since{};

 private:
  int fd_;
  std::string remote_ip_;
  int remote_port_;
  std::string local_ip_;
  int local_port_;
  ssl_st* tls_;
  bool wants_write_ = false;
  std::string buffer_;
  std::size_t start_ = 0;
};

}  // namespace balancer::server
