// transport_test_servers.h — small upstream servers on 127.0.0.1:<ephemeral> and request
// helpers for the libcurl transport tests: a cpp-httplib server (plain or TLS with an in-memory
// self-signed identity) and a raw TCP server for byte-exact answers. Each server serves from its
// own background thread from construction to destruction; the test thread only reads results.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <balancer/curl_transport.h>
#include <balancer/http.h>

namespace balancer::test {

using namespace std::chrono_literals;

// A self-signed certificate and key for 127.0.0.1, made in memory. Owns both.
// Reads from `client` until the end of the request head (or the peer stops sending).
inline std::string read_request_head(int client) {
  std::string request;
  char buf[4096];
  while (request.find("\r\n\r\n") == std::string::npos) {
    const ssize_t n = ::recv(client, buf, sizeof(buf), 0);
    if (n <= 0) {
      break;
    }
    request.append(buf, static_cast<std::size_t>(n));
  }
  return request;
}

class TlsIdentity {
 public:
  TlsIdentity() {
    key_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    cert_ = X509_new();
    if (key_ == nullptr || cert_ == nullptr) {
      return;
    }
    X509_set_version(cert_, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert_), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert_), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert_), 3600);
    X509_set_pubkey(cert_, key_);
    X509_NAME* name = X509_get_subject_name(cert_);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1,
                               0);
    X509_set_issuer_name(cert_, name);
    ok_ = X509_sign(cert_, key_, EVP_sha256()) > 0;
  }
  TlsIdentity(const TlsIdentity&) = delete;
  TlsIdentity& operator=(const TlsIdentity&) = delete;
  ~TlsIdentity() {
    X509_free(cert_);
    EVP_PKEY_free(key_);
  }
  bool ok() const { return ok_; }
  X509* cert() const { return cert_; }
  EVP_PKEY* key() const { return key_; }

 private:
  EVP_PKEY* key_ = nullptr;
  X509* cert_ = nullptr;
  bool ok_ = false;
};

// A cpp-httplib server (plain, or TLS with a TlsIdentity) on 127.0.0.1:<ephemeral>, listening
// from construction on and serving from a background thread until destruction. Large worker
// pool and listen backlog, keep-alive for 1000 requests. Destroy the client transport first so
// that idle keep-alive connections close and stop() does not wait for them.
class TestServer {
 public:
  explicit TestServer(const std::function<void(httplib::Server&)>& routes, const TlsIdentity* tls = nullptr) {
    if (tls != nullptr) {
      server_ = std::make_unique<httplib::SSLServer>(tls->cert(), tls->key());
      scheme_ = "https";
    } else {
      server_ = std::make_unique<httplib::Server>();
    }
    httplib::Server& s = *server_;
    s.new_task_queue = [] { return new httplib::ThreadPool(48); };
    s.set_keep_alive_max_count(1000);
    s.set_keep_alive_timeout(2);
    s.set_tcp_nodelay(true);
    s.set_socket_options([this](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
      listen_fd_ = sock;
    });
    routes(s);
    port_ = s.bind_to_any_port("127.0.0.1");
    if (listen_fd_ >= 0) {
      ::listen(listen_fd_, 1024);  // httplib's backlog of 5 drops SYNs under a burst
    }
    thread_ = std::thread([this] { server_->listen_after_bind(); });
  }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;
  ~TestServer() {
    for (auto& hook : before_stop_) {
      hook();
    }
    server_->stop();
    thread_.join();
  }

  int port() const { return port_; }
  std::string url(const std::string& path) const { return scheme_ + "://127.0.0.1:" + std::to_string(port_) + path; }
  // Runs before the server stops, e.g. to release handlers blocked on a Gate.
  void before_stop(std::function<void()> hook) { before_stop_.push_back(std::move(hook)); }

 private:
  std::unique_ptr<httplib::Server> server_;
  std::string scheme_ = "http";
  int listen_fd_ = -1;
  int port_ = -1;
  std::thread thread_;
  std::vector<std::function<void()>> before_stop_;
};

// A raw TCP server for byte-exact responses httplib cannot produce: answers every connection
// with `response` after reading the request head, then closes. One background thread.
class RawServer {
 public:
  explicit RawServer(std::string response) : response_(std::move(response)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(fd_, 16);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  RawServer(const RawServer&) = delete;
  RawServer& operator=(const RawServer&) = delete;
  ~RawServer() {
    ::shutdown(fd_, SHUT_RDWR);  // wakes accept()
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }
  // The head of the last request received, byte for byte.
  std::string last_request() {
    std::lock_guard lock(mutex_);
    return last_request_;
  }

 private:
  void serve() {
    for (;;) {
      const int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) {
        return;
      }
      const std::string request = read_request_head(client);
      {
        std::lock_guard lock(mutex_);
        last_request_ = request;
      }
      (void)::send(client, response_.data(), response_.size(), MSG_NOSIGNAL);
      ::shutdown(client, SHUT_WR);
      char drain[4096];
      while (::recv(client, drain, sizeof(drain), 0) > 0) {
      }
      ::close(client);
    }
  }

  std::string response_;
  std::mutex mutex_;
  std::string last_request_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

inline std::unique_ptr<HttpTransport> make_transport(bool verify_tls = false) {
  CurlTransportOptions options;
  options.verify_tls = verify_tls;
  return make_curl_transport(options);
}

inline HttpRequest request_to(const std::string& url, std::string method = "GET", std::string body = {}) {
  HttpRequest request;
  request.method = std::move(method);
  request.url = url;
  request.body = std::move(body);
  request.connect_timeout = 2s;
  request.header_timeout = 5s;
  request.idle_timeout = 5s;
  return request;
}

// Reads the rest of the body; returns the error code if the transfer failed.
struct Drained {
  std::string body;
  std::size_t chunks = 0;
  std::size_t largest_chunk = 0;
  std::optional<Error> error;
};

inline Drained drain(UpstreamCall& call) {
  Drained out;
  std::string chunk;
  for (;;) {
    auto more = call.read(chunk);
    if (!more) {
      out.error = more.error();
      return out;
    }
    if (!*more) {
      return out;
    }
    ++out.chunks;
    out.largest_chunk = std::max(out.largest_chunk, chunk.size());
    out.body += chunk;
  }
}

}  // namespace balancer::test
