// mock_common.h — what the standalone fake upstreams (mock_anthropic, mock_openai) share:
// argument parsing helpers, credential extraction and redaction, request recording, and the
// bind / print-port / serve-until-SIGTERM loop. Header-only; used by tools, not by the library.
#pragma once

#include <pthread.h>
#include <sys/socket.h>

#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <functional>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace mock {

inline std::optional<long> parse_number(const char* text, long min, long max) {
  if (text == nullptr || *text == '\0') {
    return std::nullopt;
  }
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (*end != '\0' || value < min || value > max) {
    return std::nullopt;
  }
  return value;
}

inline bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// A credential, shortened to its first 4 and last 4 characters.
inline std::string redact(const std::string& value) {
  if (value.size() <= 12) {
    return "<" + std::to_string(value.size()) + " chars>";
  }
  return value.substr(0, 4) + "..." + value.substr(value.size() - 4);
}

// The credentials of the request: x-api-key values and Authorization (its Bearer token).
inline std::vector<std::string> client_keys(const httplib::Request& req) {
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < req.get_header_value_count("x-api-key"); ++i) {
    keys.push_back(req.get_header_value("x-api-key", i));
  }
  for (std::size_t i = 0; i < req.get_header_value_count("authorization"); ++i) {
    const std::string value = req.get_header_value("authorization", i);
    constexpr std::string_view kBearer = "Bearer ";
    const bool bearer = value.size() >= kBearer.size() && value.compare(0, kBearer.size(), kBearer) == 0;
    keys.push_back(bearer ? value.substr(kBearer.size()) : value);
  }
  return keys;
}

// "ok" when every credential the request carries equals `required`, "missing" when it carries
// none, "bad" otherwise. Stricter than real APIs on purpose: a client key forwarded next to the
// right one is caught.
inline std::string check_keys(const httplib::Request& req, const std::string& required) {
  const auto keys = client_keys(req);
  if (keys.empty()) {
    return "missing";
  }
  for (const auto& key : keys) {
    if (key != required) {
      return "bad";
    }
  }
  return "ok";
}

// The request headers as indented log lines, credentials redacted.
inline std::string header_lines(const httplib::Request& req) {
  std::string lines;
  for (const auto& [name, value] : req.headers) {
    if (name == "REMOTE_ADDR" || name == "REMOTE_PORT" || name == "LOCAL_ADDR" || name == "LOCAL_PORT") {
      continue;
    }
    const bool secret = iequal(name, "x-api-key") || iequal(name, "authorization");
    lines += "    " + name + ": " + (secret ? redact(value) : value) + "\n";
  }
  return lines;
}

// Writes `body` to DIR/NNNN.json when `dir` is set (request recording for fixtures).
inline void record_body(const std::string& dir, unsigned long long number, const std::string& body) {
  if (dir.empty()) {
    return;
  }
  char name[32];
  std::snprintf(name, sizeof name, "/%04llu.json", number);
  std::ofstream(dir + name, std::ios::binary) << body;
}

// The options every mock takes (see their --help).
struct CommonOptions {
  std::string host = "127.0.0.1";
  int port = 0;
  long delay_ms = 0;
  std::string require_key;
  bool log_headers = false;
  std::string record_dir;
  std::string tool;
  nlohmann::ordered_json tool_input = nlohmann::ordered_json::object();
};

// Parses `arg` when it is one of the common options (`take` yields its value, or null when
// missing). nullopt: not a common option; "": parsed; otherwise the usage error.
inline std::optional<std::string> parse_common_option(const std::string& arg, const std::function<const char*()>& take,
                                                      CommonOptions& o) {
  const char* value = nullptr;
  if (arg == "--host") {
    if ((value = take()) == nullptr) return "--host needs a value";
    o.host = value;
  } else if (arg == "--port") {
    const auto n = parse_number(take(), 0, 65535);
    if (!n) return "--port needs a number 0-65535";
    o.port = static_cast<int>(*n);
  } else if (arg == "--delay-ms") {
    const auto n = parse_number(take(), 0, 3'600'000);
    if (!n) return "--delay-ms needs a number >= 0";
    o.delay_ms = *n;
  } else if (arg == "--require-key") {
    if ((value = take()) == nullptr) return "--require-key needs a value";
    o.require_key = value;
  } else if (arg == "--log-headers") {
    o.log_headers = true;
  } else if (arg == "--record") {
    if ((value = take()) == nullptr) return "--record needs a directory";
    o.record_dir = value;
  } else if (arg == "--tool") {
    if ((value = take()) == nullptr) return "--tool needs a name";
    o.tool = value;
  } else if (arg == "--tool-input") {
    if ((value = take()) == nullptr) return "--tool-input needs JSON";
    o.tool_input = nlohmann::ordered_json::parse(value, nullptr, false);
    if (!o.tool_input.is_object()) return "--tool-input needs a JSON object";
  } else {
    return std::nullopt;
  }
  return "";
}

// Binds (port 0 = any), prints "listening on HOST:PORT" on stdout, serves until SIGTERM/SIGINT.
// Call before starting any other thread. Returns the process exit status.
inline int serve(httplib::Server& server, const std::string& host, int port, const char* name) {
  std::signal(SIGPIPE, SIG_IGN);  // Debian's cpp-httplib writes without MSG_NOSIGNAL
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // Debian's cpp-httplib listens with a backlog of 5 and has no setter: keep the listening
  // socket and listen again with a real backlog, so a burst of clients is not left to SYN retries.
  int listen_fd = -1;
  server.set_socket_options([&listen_fd](socket_t fd) {
    const int yes = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_fd = fd;
  });
  if (port == 0) {
    port = server.bind_to_any_port(host);
    if (port < 0) {
      std::fprintf(stderr, "%s: cannot bind %s:0\n", name, host.c_str());
      return 1;
    }
  } else if (!server.bind_to_port(host, port)) {
    std::fprintf(stderr, "%s: cannot bind %s:%d\n", name, host.c_str(), port);
    return 1;
  }
  if (listen_fd >= 0) {
    ::listen(listen_fd, 4096);  // the kernel caps it at net.core.somaxconn
  }
  std::printf("listening on %s:%d\n", host.c_str(), port);
  std::fflush(stdout);
  std::thread signal_thread([&server, signals, name] {
    int sig = 0;
    sigwait(&signals, &sig);
    std::fprintf(stderr, "%s: signal %d, stopping\n", name, sig);
    server.stop();
  });
  const bool ok = server.listen_after_bind();
  if (!ok) {
    pthread_kill(signal_thread.native_handle(), SIGTERM);
  }
  signal_thread.join();
  return ok ? 0 : 1;
}

}  // namespace mock
