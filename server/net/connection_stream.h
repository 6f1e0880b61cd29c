// connection_stream.h — the httplib::Stream a worker hands to cpp-httplib for one request: reads
// come from the Connection's unread bytes first, then from the socket, each read waiting at most
// the body idle timeout; writes wait at most the write timeout for the client to take them.
// Reads never go past what httplib asks for, so pipelined requests stay in the Connection. Used
// by one worker thread, for one request.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include <httplib.h>

#include "connection.h"

namespace balancer::server {

class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(Connection& connection, std::chrono::milliseconds read_idle,
                   std::chrono::milliseconds write_timeout);

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return connection_.fd(); }

  // Bytes handed to httplib so far.
  std::size_t consumed() const { return consumed_; }
  // A read or write failed (timeout, reset, end of input): the connection cannot be reused.
  bool broken() const { return broken_; }

 private:
  Connection& connection_;
  const std::chrono::milliseconds read_idle_;
  const std::chrono::milliseconds write_timeout_;
  std::size_t consumed_ = 0;
  bool broken_ = false;
};

}  // namespace balancer::server
