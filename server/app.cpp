#include "app.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "descriptor_budget.h"
#include "http_adapter.h"

namespace balancer::server {
namespace {

constexpr std::chrono::seconds kTickInterval{1};

template <typename D>
std::chrono::milliseconds ms(D d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d);
}

}  // namespace

bool RequestProcessor::process(httplib::Stream& stream, bool close, bool& closed, const RawHeaders& headers) {
  return process_request(stream, close, closed, [&](httplib::Request& req) {
    httplib::Headers raw;
    for (const auto& [name, value] : headers) {
      raw.emplace(name, value);
    }
    for (const char* name : {"REMOTE_ADDR", "REMOTE_PORT", "LOCAL_ADDR", "LOCAL_PORT", kClientSocketHeader}) {
      raw.erase(name);
    }
    raw.emplace(kClientSocketHeader, std::to_string(stream.socket()));
    std::string ip;
    int port = 0;
    stream.get_remote_ip_and_port(ip, port);
    raw.emplace("REMOTE_ADDR", ip);
    raw.emplace("REMOTE_PORT", std::to_string(port));
    stream.get_local_ip_and_port(ip, port);
    raw.emplace("LOCAL_ADDR", ip);
    raw.emplace("LOCAL_PORT", std::to_string(port));
    req.headers = std::move(raw);
    req.ranges.clear();  // parsed from the decoded value; an API answer is never sent in parts
  });
}

void free_tls_context(ssl_ctx_st* context) { SSL_CTX_free(context); }

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
  if (const std::size_t busy = busy_limit(settings.max_connections, open_file_limit());
      busy < settings.max_connections) {
    app->gateway_->log().write(
        LogLevel::Warning, "open-file limit caps the requests served at once",
        {{"max_connections", settings.max_connections},
         {"open_file_limit", open_file_limit()},
         {"serving_at_most", busy},
         {"hint",
          fmt::format("each request in flight holds {} descriptors; raise the limit (ulimit -n, systemd "
                      "LimitNOFILE=) to at least {} to serve max_connections",
                      kDescriptorsPerRequest, kDescriptorsPerRequest * settings.max_connections + kSpareDescriptors)}});
  }
  if (auto configured = app->configure_server(settings, options.worker_idle_retire, options.max_pending); !configured) {
    return tl::unexpected(configured.error());
  }
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
  policy.max_busy = busy_limit(s.max_connections, open_file_limit());
  policy.head_timeout = ms(s.request_head_timeout);
  policy.body_idle_timeout = ms(s.request_body_idle_timeout);
  policy.keep_alive_timeout = ms(s.keep_alive_timeout);
  // A client that stops reading a stream for longer than the idle budget is given up on.
  policy.write_timeout = ms(s.timeouts.read_timeout + std::chrono::seconds(1));
  return policy;
}

Result<void> App::configure_server(const Settings& settings, std::chrono::milliseconds worker_idle_retire,
                                   std::size_t max_pending) {
  if (!settings.tls_cert_file.empty()) {
    tls_.reset(SSL_CTX_new(TLS_server_method()));
    if (!tls_ || SSL_CTX_set_min_proto_version(tls_.get(), TLS1_2_VERSION) != 1 ||
        SSL_CTX_use_certificate_chain_file(tls_.get(), settings.tls_cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(tls_.get(), settings.tls_key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(tls_.get()) != 1) {
      ERR_clear_error();
      return make_error(ErrorCode::InvalidConfig,
                        "settings.tls_cert_file/tls_key_file: cannot load the TLS certificate or key");
    }
    SSL_CTX_set_mode(tls_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  }
  processor_ = std::make_unique<RequestProcessor>();
  processor_->set_keep_alive_max_count(100000);  // only shown in the Keep-Alive header
  processor_->set_keep_alive_timeout(
      std::chrono::duration_cast<std::chrono::seconds>(settings.keep_alive_timeout).count());
  ConnectionServerOptions options;
  options.policy = [this] { return connection_policy(); };
  options.tls = tls_.get();
  options.process = [raw = processor_.get()](httplib::Stream& stream, bool close, bool& closed,
                                             const RawHeaders& headers) {
    return raw->process(stream, close, closed, headers);
  };
  options.busy_gauge = busy_connections_;
  options.max_pending = max_pending != 0 ? max_pending : pending_limit(settings.max_connections, open_file_limit());
  options.worker_idle_retire = worker_idle_retire;
  connections_ = std::make_unique<ConnectionServer>(std::move(options));
  install_routes(*processor_, *this);
  return {};
}

Result<int> App::bind(const std::string& host, int port) {
  if (auto safe = check_listen_safety(*gateway_->config(), host); !safe) {
    return tl::unexpected(safe.error());
  }
  auto bound = connections_->listen(host, port);
  if (!bound) {
    return bound;
  }
  gateway_->set_listen_host(host);  // a reload must keep it safe too
  gateway_->log().write(LogLevel::Info, "listening", {{"host", host}, {"port", *bound}});
  return bound;
}

void App::run() { connections_->run(); }

void App::stop() {
  if (connections_) {
    connections_->stop();
  }
}

}  // namespace balancer::server
