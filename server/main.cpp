// balancer-server: command line, config loading, signals. Everything else is in App.
#include <malloc.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <thread>

#include <fmt/format.h>

#include <balancer/config.h>
#include <balancer/version.h>

#include "app.h"

extern char** environ;

namespace {

constexpr const char* kUsage = R"(balancer-server — a load balancer for Claude Code and other Anthropic API clients

Usage: balancer-server [options]
  --config PATH     configuration file (default: config.yaml, else config.example.yaml)
  --host HOST       listen address (overrides settings.host)
  --port PORT       listen port (overrides settings.port; 0 = any free port)
  --check-config    validate the configuration, print a summary and exit
  --version         print the version and exit
  --help            print this help and exit

Point Claude Code at it:  ANTHROPIC_BASE_URL=http://127.0.0.1:9090 claude
)";

struct Options {
  std::string config_path;
  std::string host;
  int port = -1;
  bool check_only = false;
};

// The environment, read once at start-up (the library never calls getenv).
std::map<std::string, std::string> snapshot_environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const auto eq = entry.find('=');
    if (eq != std::string::npos) {
      env.emplace(entry.substr(0, eq), entry.substr(eq + 1));
    }
  }
  return env;
}

int fail_usage(const std::string& message) {
  fmt::print(stderr, "balancer-server: {}\n\n{}", message, kUsage);
  return 2;
}

// Claude Code request bodies are 50–300 KB and each request allocates a few buffers of that size
// (the body read from the client, the spliced upstream body). glibc serves allocations above
// 128 KB with a fresh mmap, so every such buffer cost a page fault per 4 KB page and an munmap
// — a third of the CPU on 200 KB bodies. Below 4 MiB they now come from the heap and are reused;
// the heap gives memory back above 32 MiB of free space at its top.
void tune_allocator() {
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  mallopt(M_TRIM_THRESHOLD, 32 << 20);
}

}  // namespace

int main(int argc, char** argv) {
  tune_allocator();
  Options opts;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (arg == "--help" || arg == "-h") {
      fmt::print("{}", kUsage);
      return 0;
    } else if (arg == "--version") {
      fmt::print("balancer-server {}\n", balancer::kVersion);
      return 0;
    } else if (arg == "--check-config") {
      opts.check_only = true;
    } else if (arg == "--config" || arg == "-c") {
      const char* v = value();
      if (v == nullptr) return fail_usage("--config needs a path");
      opts.config_path = v;
    } else if (arg == "--host") {
      const char* v = value();
      if (v == nullptr) return fail_usage("--host needs a value");
      opts.host = v;
    } else if (arg == "--port") {
      const char* v = value();
      char* end = nullptr;
      const long port = v == nullptr ? -1 : std::strtol(v, &end, 10);
      if (v == nullptr || *end != '\0' || port < 0 || port > 65535) return fail_usage("--port needs a number 0-65535");
      opts.port = static_cast<int>(port);
    } else {
      return fail_usage("unknown option " + arg);
    }
  }
  if (opts.config_path.empty()) {
    opts.config_path = std::filesystem::exists("config.yaml") ? "config.yaml" : "config.example.yaml";
  }

  auto env_values = std::make_shared<const std::map<std::string, std::string>>(snapshot_environment());
  balancer::EnvLookup env = [env_values](const std::string& name) -> std::optional<std::string> {
    auto it = env_values->find(name);
    return it == env_values->end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  auto config = balancer::load_config(opts.config_path, env);
  if (!config) {
    fmt::print(stderr, "balancer-server: invalid config: {}\n", config.error().message);
    return 1;
  }
  for (const auto& warning : config->warnings) {
    fmt::print(stderr, "balancer-server: warning: {}\n", warning);
  }
  if (opts.check_only) {
    fmt::print("{}: OK — {} provider(s), {} route(s), strategy {}\n", opts.config_path, config->providers.size(),
               config->model_routes.size(), balancer::to_string(config->settings.selection_strategy));
    return 0;
  }
  const std::string host = opts.host.empty() ? config->settings.host : opts.host;
  const int port = opts.port >= 0 ? opts.port : config->settings.port;
  const auto grace = config->settings.shutdown_grace;

  // Signals are taken by one thread through sigwait, never by async handlers.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  // Idle and half-read client connections cost a descriptor each: take all the system allows.
  if (rlimit files{}; ::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }

  balancer::server::AppOptions app_options;
  app_options.config_path = opts.config_path;
  app_options.env = env;
  app_options.config = std::make_shared<const balancer::BalancerConfig>(std::move(*config));
  auto app = balancer::server::App::create(std::move(app_options));
  if (!app) {
    fmt::print(stderr, "balancer-server: {}\n", app.error().message);
    return 1;
  }
  auto bound = (*app)->bind(host, port);
  if (!bound) {
    fmt::print(stderr, "balancer-server: {}\n", bound.error().message);
    return 1;
  }
  fmt::print(stderr, "balancer-server {} listening on http://{}:{} (config {})\n", balancer::kVersion, host, *bound,
             opts.config_path);

  std::thread signal_thread([&app, signals, grace] {
    int sig = 0;
    sigwait(&signals, &sig);
    fmt::print(stderr, "balancer-server: signal {}, finishing in-flight requests (up to {} s)\n", sig,
               std::chrono::duration_cast<std::chrono::seconds>(grace).count());
    std::thread([grace] {
      std::this_thread::sleep_for(grace);
      fmt::print(stderr, "balancer-server: shutdown grace period over, exiting\n");
      std::_Exit(0);
    }).detach();
    (*app)->stop();
  });
  (*app)->run();
  (*app)->stop();
  if (signal_thread.joinable()) {
    pthread_kill(signal_thread.native_handle(), SIGTERM);  // wakes sigwait if run() ended otherwise
    signal_thread.join();
  }
  return 0;
}
