#include "test_balancer.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <fmt/format.h>

#include "test_client.h"

namespace balancer::test {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "balancer-it-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

TestBalancer::TestBalancer(const std::string& yaml, std::map<std::string, std::string> env, HttpTransport* transport)
    : TestBalancer(yaml, TestBalancerOptions{.env = std::move(env), .transport = transport}) {}

TestBalancer::TestBalancer(const std::string& yaml, TestBalancerOptions test_options)
    : config_path_(dir_.file("config.yaml")) {
  std::signal(SIGPIPE, SIG_IGN);  // as balancer-server's main() does
  rewrite_config(yaml);
  auto values = std::make_shared<const std::map<std::string, std::string>>(std::move(test_options.env));
  EnvLookup lookup = [values](const std::string& name) -> std::optional<std::string> {
    auto it = values->find(name);
    return it == values->end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  auto config = load_config(config_path_, lookup);
  if (!config) {
    throw std::runtime_error("test config rejected: " + config.error().message);
  }
  server::AppOptions options;
  options.config_path = config_path_;
  options.env = lookup;
  options.config = std::make_shared<const BalancerConfig>(std::move(*config));
  options.transport = test_options.transport;
  options.clock = test_options.clock;
  options.log = std::move(test_options.log);
  options.worker_idle_retire = test_options.worker_idle_retire;
  options.max_pending = test_options.max_pending;
  auto app = server::App::create(std::move(options));
  if (!app) {
    throw std::runtime_error("App::create failed: " + app.error().message);
  }
  app_ = std::move(*app);
  auto bound = app_->bind("127.0.0.1", 0);
  if (!bound) {
    throw std::runtime_error("App::bind failed: " + bound.error().message);
  }
  port_ = *bound;
  // The socket listens already: clients may connect before run() starts accepting, and a stop()
  // that comes before run() makes it return at once.
  thread_ = std::thread([this] { app_->run(); });
}

TestBalancer::~TestBalancer() {
  app_->stop();
  thread_.join();
  app_.reset();
}

std::string TestBalancer::url(std::string_view path) const { return fmt::format("http://127.0.0.1:{}{}", port_, path); }

void TestBalancer::rewrite_config(const std::string& yaml) const {
  // Write to a new file and rename, so a reload never reads a half-written file.
  const std::string temp = config_path_ + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << yaml;
    if (!out) {
      throw std::runtime_error("cannot write " + temp);
    }
  }
  std::filesystem::rename(temp, config_path_);
}

std::string provider_yaml(std::string_view name, std::string_view base_url, std::string_view auth_type,
                          std::string_view auth_value) {
  const std::string value = auth_value.empty() ? fmt::format("key-{}", name) : std::string(auth_value);
  return fmt::format(
      "  - name: \"{}\"\n"
      "    type: \"anthropic\"\n"
      "    base_url: \"{}\"\n"
      "    auth_type: \"{}\"\n"
      "    auth_value: \"{}\"\n",
      name, base_url, auth_type, value);
}

std::string test_settings_yaml(std::string_view extra) {
  return fmt::format(
      "settings:\n"
      "  log_file_path: \"\"\n"
      "  log_level: \"CRITICAL\"\n"
      "{}",
      extra);
}

std::string anthropic_error_type(const std::string& body) {
  const auto json = nlohmann::json::parse(body, nullptr, false);
  if (!json.is_object() || json.value("type", "") != "error") {
    return {};
  }
  const auto error = json.find("error");
  if (error == json.end() || !error->is_object() || !error->contains("message") || !(*error)["message"].is_string() ||
      (*error)["message"].get<std::string>().empty()) {
    return {};
  }
  return error->value("type", "");
}

std::string anthropic_error_message(const std::string& body) {
  if (anthropic_error_type(body).empty()) {
    return {};
  }
  return nlohmann::json::parse(body)["error"]["message"].get<std::string>();
}

void raise_fd_limit(unsigned long wanted) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= wanted) {
    return;
  }
  limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? wanted : std::min<rlim_t>(wanted, limit.rlim_max);
  ::setrlimit(RLIMIT_NOFILE, &limit);
}

}  // namespace balancer::test
