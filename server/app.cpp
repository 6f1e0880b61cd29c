#include "app.h"

#include <sys/socket.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include <fmt/format.h>

#include "http_adapter.h"

namespace balancer::server {
namespace {

constexpr std::chrono::seconds kTickInterval{1};

// httplib's request parser, router and response writer, driven by the ConnectionServer one
// request at a time (process_request is protected in httplib::Server).
class RequestProcessor final : public httplib::Server {
 public:
  // httplib ends streamed (content provider) responses as soon as it believes its own listening
  // socket closed; here there is none, so it is marked open.
  RequestProcessor() { svr_sock_ = 0; }
  using httplib::Server::process_request;
};

template <typename D>
std::chrono::milliseconds ms(D d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d);
}

}  // namespace

Result<std::unique_ptr<App>> App::create(AppOptions options) {
  if (!options.config) {
    return make_error(ErrorCode::InvalidConfig, "no configuration given");
  }
  const Settings settings = options.config->settings;
  std::unique_ptr<App> app(new App());
  GatewayOptions gateway;
  gateway.config = std::move(options.config);
  gateway.config_path = std::move(options.config_path);
  gateway.env = std::move(options.env);
  gateway.transport = options.transport;
  gateway.clock = options.clock;
  gateway.log = std::move(options.log);
  gateway.gauges = [raw = app.get()] {
    return std::vector<GaugeSample>{
        {"connections_busy", "Client connections being served.", static_cast<double>(raw->busy_connections())}};
  };
  auto created = Gateway::create(std::move(gateway));
  if (!created) {
    return tl::unexpected(created.error());
  }
  app->gateway_ = std::move(*created);
  app->configure_server(settings, options.worker_idle_retire);
  app->ticker_ = std::jthread([raw = app.get()](std::stop_token stop) { raw->tick(std::move(stop)); });
  return app;
}

App::~App() {
  stop();
  ticker_ = {};  // joins before the gateway goes
}

void App::tick(std::stop_token stop) {
  std::mutex mutex;
  std::condition_variable_any wake;  // only the stop request wakes it early
  std::unique_lock lock(mutex);
  while (!stop.stop_requested()) {
    gateway_->tick(gateway_->clock().now());
    wake.wait_for(lock, stop, kTickInterval, [] { return false; });
  }
}

ConnectionPolicy App::connection_policy() const {
  const auto config = gateway_->config();
  const Settings& s = config->settings;
  ConnectionPolicy policy;
  policy.head.max_header_count = s.max_header_count;
  policy.head.max_header_bytes = s.max_header_bytes;
  policy.max_busy = s.max_connections;
  policy.head_timeout = ms(s.request_head_timeout);
  policy.body_idle_timeout = ms(s.request_body_idle_timeout);
  policy.keep_alive_timeout = ms(s.keep_alive_timeout);
  // A client that stops reading a stream for longer than the idle budget is given up on.
  policy.write_timeout = ms(s.timeouts.read_timeout + std::chrono::seconds(1));
  return policy;
}

void App::configure_server(const Settings& settings, std::chrono::milliseconds worker_idle_retire) {
  if (!settings.tls_cert_file.empty()) {
    server_ = std::make_unique<httplib::SSLServer>(settings.tls_cert_file.c_str(), settings.tls_key_file.c_str());
  } else {
    auto processor = std::make_unique<RequestProcessor>();
    ConnectionServerOptions options;
    options.policy = [this] { return connection_policy(); };
    options.process = [raw = processor.get()](httplib::Stream& stream, bool close, bool& closed) {
      return raw->process_request(stream, close, closed, nullptr);
    };
    options.busy_gauge = busy_connections_;
    options.max_pending = std::max<std::size_t>(4096, 4 * settings.max_connections);
    options.worker_idle_retire = worker_idle_retire;
    connections_ = std::make_unique<ConnectionServer>(std::move(options));
    server_ = std::move(processor);
  }
  const std::size_t max_connections = settings.max_connections;
  server_->new_task_queue = [this, max_connections] {
    // Headroom above max_connections so that excess connections are answered with 503
    // overloaded_error instead of waiting unseen in the queue.
    return new GrowingTaskQueue(8, max_connections + 64, busy_connections_);
  };
  server_->set_tcp_nodelay(true);
  server_->set_keep_alive_max_count(100000);
  server_->set_keep_alive_timeout(std::chrono::duration_cast<std::chrono::seconds>(settings.keep_alive_timeout).count());
  server_->set_read_timeout(std::chrono::seconds(60));
  // A client that stops reading a stream for longer than the idle budget is given up on.
  server_->set_write_timeout(
      std::chrono::duration_cast<std::chrono::seconds>(settings.timeouts.read_timeout + std::chrono::seconds(1)));
  server_->set_socket_options([this](int fd) {
    int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    listen_fd_ = fd;
  });
  install_routes(*server_, *this);
}

Result<int> App::bind(const std::string& host, int port) {
  if (auto safe = check_listen_safety(*gateway_->config(), host); !safe) {
    return tl::unexpected(safe.error());
  }
  if (!server_->is_valid()) {
    return make_error(ErrorCode::InvalidConfig,
                      "settings.tls_cert_file/tls_key_file: cannot load the TLS certificate or key");
  }
  if (connections_) {
    auto bound = connections_->listen(host, port);
    if (!bound) {
      return bound;
    }
    gateway_->set_listen_host(host);  // a reload must keep it safe too
    gateway_->log().write(LogLevel::Info, "listening", {{"host", host}, {"port", *bound}});
    return bound;
  }
  int bound = port;
  if (port == 0) {
    bound = server_->bind_to_any_port(host);
  } else if (!server_->bind_to_port(host, port)) {
    bound = -1;
  }
  if (bound < 0) {
    return make_error(ErrorCode::InvalidConfig, fmt::format("cannot listen on {}:{}", host, port));
  }
  // httplib listens with a backlog of 5; a burst of Claude Code sessions needs more.
  if (listen_fd_ >= 0) {
    ::listen(listen_fd_, 1024);
  }
  gateway_->set_listen_host(host);  // a reload must keep it safe too
  gateway_->log().write(LogLevel::Info, "listening", {{"host", host}, {"port", bound}});
  return bound;
}

void App::run() {
  if (connections_) {
    connections_->run();
  } else {
    server_->listen_after_bind();
  }
}

void App::stop() {
  if (connections_) {
    connections_->stop();
  } else if (server_ && server_->is_running()) {
    server_->stop();
  }
}

}  // namespace balancer::server
