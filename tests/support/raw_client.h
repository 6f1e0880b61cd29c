// raw_client.h — a client connection over a plain socket for the integration tests that need
// bytes no HTTP library would send (bad framing, partial heads, pipelining, uploads that do not
// stop) and to see exactly what the server answers and when it closes. Waits are bounded by a
// receive timeout that is only a failure guard. One thread per RawConnection.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

namespace balancer::test {

struct RawResponse {
  int status = 0;
  std::string head;  // status line and headers
  std::string body;
  bool has_header(const std::string& line) const;  // e.g. "Connection: close"
};

class RawConnection {
 public:
  // Connects to 127.0.0.1:`port`; every read waits at most `wait`.
  explicit RawConnection(int port, std::chrono::milliseconds wait = std::chrono::milliseconds(5000));
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // False once the server has closed or reset the connection.
  bool send(const std::string& bytes);
  // Sends `total` bytes of filler in 64 KiB pieces until done or the server stops taking them;
  // returns how many were sent.
  std::size_t send_filler(std::size_t total);
  void shutdown_write();
  // The next whole response (Content-Length or chunked body); nullopt when the connection
  // closed or the wait passed first.
  std::optional<RawResponse> read_response();
  // True when the server closes the connection (end of input or reset) within the wait, with
  // no further response bytes.
  bool closed_by_server();
  // Everything until the server closes or the wait passes.
  std::string read_all();

 private:
  bool fill();  // one recv into buffer_; false on close, reset or timeout

  int fd_ = -1;
  std::string buffer_;
};

// The status of the first response in raw bytes ("HTTP/1.1 404 ..."), 0 if none.
int status_of(const std::string& response);

// Resident memory of this process (VmRSS in /proc/self/status), in bytes.
std::size_t resident_bytes();

}  // namespace balancer::test
