// fake_upstream.cpp — the fake Anthropic upstreams of the integration tests. Every pacing
// sleep of the suite (delays between SSE events, slow headers) is here, in the fake servers'
// handlers; the tests themselves only wait on recorded state with a deadline.
#include "fake_upstream.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdint>

#include <csignal>
#include <cstring>
#include <stdexcept>
#include <tuple>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "growing_task_queue.h"

namespace balancer::test {
namespace {

// cpp-httplib (as built by Debian) writes without MSG_NOSIGNAL: a write to a peer that hung up
// must not kill the test process.
const bool kSigpipeIgnored = [] {
  std::signal(SIGPIPE, SIG_IGN);
  return true;
}();

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

bool is_pseudo_header(std::string_view name) {
  return name == "REMOTE_ADDR" || name == "REMOTE_PORT" || name == "LOCAL_ADDR" || name == "LOCAL_PORT";
}

// Served without being recorded: the constructor's proof that the accept loop runs.
constexpr const char* kReadyPath = "/__fake_upstream_ready";

}  // namespace

std::optional<std::string> find_header_value(const HeaderList& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (iequal(key, name)) {
      return value;
    }
  }
  return std::nullopt;
}

std::size_t count_header(const HeaderList& headers, std::string_view name) {
  std::size_t n = 0;
  for (const auto& header : headers) {
    n += iequal(header.first, name) ? 1 : 0;
  }
  return n;
}

Reply Reply::json(std::string body, int status) {
  Reply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Reply Reply::sse(std::vector<std::string> events, Millis interval) {
  Reply r;
  r.content_type = "text/event-stream";
  r.stream = true;
  r.events = std::move(events);
  r.interval = interval;
  return r;
}

Reply Reply::error(int status, std::string_view type, std::string_view message) {
  return json(nlohmann::json{{"type", "error"}, {"error", {{"type", type}, {"message", message}}}}.dump(), status);
}

// ---------------------------------------------------------------------------------------------
// FakeUpstream

FakeUpstream::FakeUpstream()
    : FakeUpstream([](const RecordedRequest&) { return Reply::json(message_json("hello from the fake")); }) {}

FakeUpstream::FakeUpstream(Behaviour behaviour)
    : server_(std::make_unique<httplib::Server>()), behaviour_(std::move(behaviour)) {
  (void)kSigpipeIgnored;
  server_->new_task_queue = [] { return new balancer::server::GrowingTaskQueue(8, 2048); };
  server_->set_keep_alive_max_count(100000);
  server_->set_keep_alive_timeout(30);
  server_->set_tcp_nodelay(true);
  server_->set_read_timeout(std::chrono::seconds(30));
  server_->set_write_timeout(std::chrono::seconds(30));
  int listen_fd = -1;
  server_->set_socket_options([&listen_fd](socket_t fd) {
    int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    listen_fd = fd;
  });
  auto handler = [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); };
  const char* const any = ".*";
  server_->Get(any, handler);
  server_->Post(any, handler);
  server_->Put(any, handler);
  server_->Delete(any, handler);
  server_->Patch(any, handler);
  server_->Options(any, handler);
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) {
    throw std::runtime_error("fake upstream: cannot bind 127.0.0.1:0");
  }
  if (listen_fd >= 0) {
    ::listen(listen_fd, 1024);  // httplib's backlog of 5 would drop bursts of connections
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // Server::stop() does nothing before the accept loop has started; one answered request
  // proves it has, so the destructor's stop() always takes effect.
  httplib::Client probe("127.0.0.1", port_);
  if (!probe.Get(kReadyPath)) {
    // The state is unknown: leak the server rather than join a thread that may never return.
    thread_.detach();
    (void)server_.release();
    throw std::runtime_error("fake upstream: no answer to the readiness probe");
  }
}

FakeUpstream::~FakeUpstream() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  server_->stop();
  thread_.join();
}

std::string FakeUpstream::url() const { return fmt::format("http://127.0.0.1:{}", port_); }

void FakeUpstream::set_behaviour(Behaviour behaviour) {
  std::lock_guard lock(mutex_);
  behaviour_ = std::move(behaviour);
}

std::vector<RecordedRequest> FakeUpstream::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::size_t FakeUpstream::request_count() const {
  std::lock_guard lock(mutex_);
  return requests_.size();
}

std::vector<StreamRecord> FakeUpstream::streams() const {
  std::lock_guard lock(mutex_);
  return streams_;
}

bool FakeUpstream::wait_until(
    const std::function<bool(const std::vector<RecordedRequest>&, const std::vector<StreamRecord>&)>& predicate,
    Millis timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return predicate(requests_, streams_); });
}

bool FakeUpstream::wait_for_requests(std::size_t n, Millis timeout) const {
  return wait_until([n](const auto& requests, const auto&) { return requests.size() >= n; }, timeout);
}

bool FakeUpstream::wait_for_streams(StreamOutcome outcome, std::size_t n, Millis timeout) const {
  return wait_until(
      [outcome, n](const auto&, const std::vector<StreamRecord>& streams) {
        std::size_t count = 0;
        for (const StreamRecord& s : streams) {
          count += s.outcome == outcome ? 1 : 0;
        }
        return count >= n;
      },
      timeout);
}

std::size_t FakeUpstream::record(RecordedRequest request) {
  std::size_t index = 0;
  {
    std::lock_guard lock(mutex_);
    index = requests_.size();
    requests_.push_back(std::move(request));
  }
  changed_.notify_all();
  return index;
}

std::size_t FakeUpstream::add_stream(std::size_t request_index) {
  std::size_t index = 0;
  {
    std::lock_guard lock(mutex_);
    index = streams_.size();
    StreamRecord record;
    record.request_index = request_index;
    record.started_at = SteadyClock::now();
    streams_.push_back(record);
  }
  changed_.notify_all();
  return index;
}

void FakeUpstream::update_stream(std::size_t stream, std::size_t events_written, StreamOutcome outcome) {
  {
    std::lock_guard lock(mutex_);
    StreamRecord& record = streams_[stream];
    record.events_written = events_written;
    record.outcome = outcome;
    if (outcome != StreamOutcome::Running) {
      record.finished_at = SteadyClock::now();
    }
  }
  changed_.notify_all();
}

bool FakeUpstream::pace(Millis delay) const {
  if (delay <= Millis(0)) {
    return true;
  }
  std::unique_lock lock(mutex_);
  return !changed_.wait_for(lock, delay, [this] { return stopping_; });
}

void FakeUpstream::handle(const httplib::Request& req, httplib::Response& res) {
  if (req.path == kReadyPath) {
    res.status = 204;
    return;
  }
  RecordedRequest recorded;
  recorded.method = req.method;
  recorded.path = req.path;
  recorded.target = req.target;
  recorded.body = req.body;
  recorded.received_at = SteadyClock::now();
  for (const auto& [name, value] : req.headers) {
    if (!is_pseudo_header(name)) {
      recorded.headers.emplace_back(name, value);
    }
  }
  Behaviour behaviour;
  {
    std::lock_guard lock(mutex_);
    behaviour = behaviour_;
  }
  const Reply reply = behaviour(recorded);
  const std::size_t request_index = record(std::move(recorded));

  if (!pace(reply.header_delay)) {
    res.status = 503;
    return;
  }
  res.status = reply.status;
  for (const auto& [name, value] : reply.headers) {
    res.set_header(name, value);
  }
  if (!reply.stream) {
    res.set_content(reply.body, reply.content_type);
    return;
  }
  const std::size_t stream = add_stream(request_index);
  auto script = std::make_shared<const Reply>(reply);
  res.set_chunked_content_provider(reply.content_type, [this, script, stream, written = std::size_t{0}](
                                                           std::size_t /*offset*/, httplib::DataSink& sink) mutable {
    if (script->drop_after && written >= *script->drop_after) {
      update_stream(stream, written, StreamOutcome::Dropped);
      return false;  // httplib closes the connection without the final chunk
    }
    if (written == script->events.size()) {
      sink.done();
      update_stream(stream, written, StreamOutcome::Completed);
      return true;
    }
    if (written > 0 && !pace(script->interval)) {
      update_stream(stream, written, StreamOutcome::Dropped);  // the fake is shutting down
      return false;
    }
    const std::string& event = script->events[written];
    if (!sink.write(event.data(), event.size())) {
      update_stream(stream, written, StreamOutcome::ClientGone);
      return false;
    }
    ++written;
    update_stream(stream, written, StreamOutcome::Running);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------
// ClosingUpstream

namespace {

// A socket listening on 127.0.0.1:<ephemeral>; returns {fd, port}. Throws naming `who`.
std::pair<int, int> listen_on_loopback(const char* who) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw std::runtime_error(fmt::format("{}: socket() failed", who));
  }
  int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd, 128) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error(fmt::format("{}: cannot listen on 127.0.0.1:0", who));
  }
  return {fd, ntohs(addr.sin_port)};
}

int make_stop_fd(int listen_fd, const char* who) {
  const int fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) {
    ::close(listen_fd);
    throw std::runtime_error(fmt::format("{}: eventfd() failed", who));
  }
  return fd;
}

void signal_stop(int stop_fd) {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(stop_fd, &one, sizeof one);  // wakes serve()'s poll
}

// The whole length of the request whose first bytes are `received` (head and Content-Length
// body); npos while the head is incomplete.
std::size_t request_length(const std::string& received) {
  const auto header_end = received.find("\r\n\r\n");
  if (header_end == std::string::npos) {
    return std::string::npos;
  }
  std::string lower = received.substr(0, header_end);
  for (char& c : lower) {
    c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  std::size_t length = 0;
  const auto at = lower.find("\r\ncontent-length:");
  if (at != std::string::npos) {
    length = std::strtoul(lower.c_str() + at + 17, nullptr, 10);
  }
  return header_end + 4 + length;
}

}  // namespace

ClosingUpstream::ClosingUpstream() {
  std::tie(listen_fd_, port_) = listen_on_loopback("closing upstream");
  stop_fd_ = make_stop_fd(listen_fd_, "closing upstream");
  thread_ = std::thread([this] { serve(); });
}

ClosingUpstream::~ClosingUpstream() {
  stopping_ = true;
  signal_stop(stop_fd_);
  thread_.join();
  ::close(stop_fd_);
  ::close(listen_fd_);
}

std::string ClosingUpstream::url() const { return fmt::format("http://127.0.0.1:{}", port_); }

void ClosingUpstream::serve() {
  // Every wait is on the socket and on stop_fd_ together: woken by a connection, by bytes, or by
  // the destructor, never by a timer.
  while (!stopping_) {
    pollfd listening[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(listening, 2, -1) <= 0 || (listening[0].revents & POLLIN) == 0) {
      continue;
    }
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    // Read the request (headers, then a Content-Length body) so that the client has sent it all,
    // then close without answering: the client sees the connection end before any byte.
    std::string received;
    const auto deadline = SteadyClock::now() + std::chrono::seconds(5);
    while (SteadyClock::now() < deadline && !stopping_) {
      const std::size_t wanted = request_length(received);
      if (wanted != std::string::npos && received.size() >= wanted) {
        break;
      }
      // The 5 s deadline only bounds a client that never finishes its request.
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
      pollfd conn[2] = {{fd, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
      if (::poll(conn, 2, static_cast<int>(std::clamp<long long>(left, 0, INT_MAX))) <= 0 ||
          (conn[0].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
        continue;
      }
      char buffer[16384];
      const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
      if (n <= 0) {
        break;
      }
      received.append(buffer, static_cast<std::size_t>(n));
    }
    ++dropped_;  // counted before the close, so a client that saw the close sees the count
    ::close(fd);
  }
}

// ---------------------------------------------------------------------------------------------
// SilentUpstream

SilentUpstream::SilentUpstream(std::string reply_head) : reply_head_(std::move(reply_head)) {
  std::tie(listen_fd_, port_) = listen_on_loopback("silent upstream");
  stop_fd_ = make_stop_fd(listen_fd_, "silent upstream");
  thread_ = std::thread([this] { serve(); });
}

SilentUpstream::~SilentUpstream() {
  signal_stop(stop_fd_);
  thread_.join();
  ::close(stop_fd_);
  ::close(listen_fd_);
}

std::string SilentUpstream::url() const { return fmt::format("http://127.0.0.1:{}", port_); }

std::size_t SilentUpstream::requests_read() const {
  std::lock_guard lock(mutex_);
  return requests_at_.size();
}

std::vector<SteadyClock::time_point> SilentUpstream::requests_at() const {
  std::lock_guard lock(mutex_);
  return requests_at_;
}

std::vector<SteadyClock::time_point> SilentUpstream::peers_gone_at() const {
  std::lock_guard lock(mutex_);
  return gone_at_;
}

bool SilentUpstream::wait_for_requests(std::size_t n, Millis timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return requests_at_.size() >= n; });
}

bool SilentUpstream::wait_for_peers_gone(std::size_t n, Millis timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return gone_at_.size() >= n; });
}

void SilentUpstream::serve() {
  struct Peer {
    int fd;
    std::string received;
    bool answered = false;
  };
  std::vector<Peer> peers;
  // One poll over the listener, the stop event and every peer: woken by a connection, by bytes,
  // by a close or by the destructor, never by a timer.
  for (;;) {
    std::vector<pollfd> fds = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    for (const Peer& p : peers) {
      fds.push_back({p.fd, POLLIN, 0});
    }
    if (::poll(fds.data(), fds.size(), -1) <= 0) {
      continue;
    }
    if (fds[1].revents != 0) {
      break;
    }
    for (std::size_t i = peers.size(); i-- > 0;) {
      const short events = fds[i + 2].revents;
      if (events == 0) {
        continue;
      }
      Peer& p = peers[i];
      char buffer[16384];
      const ssize_t n = ::recv(p.fd, buffer, sizeof(buffer), 0);
      if (n > 0) {
        if (!p.answered) {
          p.received.append(buffer, static_cast<std::size_t>(n));
          const std::size_t wanted = request_length(p.received);
          if (wanted != std::string::npos && p.received.size() >= wanted) {
            p.answered = true;
            if (!reply_head_.empty()) {
              [[maybe_unused]] const ssize_t w = ::send(p.fd, reply_head_.data(), reply_head_.size(), MSG_NOSIGNAL);
            }
            {
              std::lock_guard lock(mutex_);
              requests_at_.push_back(SteadyClock::now());
            }
            changed_.notify_all();
          }
        }
        continue;  // bytes after the request are ignored
      }
      const bool had_request = p.answered;
      ::close(p.fd);
      peers.erase(peers.begin() + static_cast<std::ptrdiff_t>(i));
      if (had_request) {
        {
          std::lock_guard lock(mutex_);
          gone_at_.push_back(SteadyClock::now());
        }
        changed_.notify_all();
      }
    }
    if ((fds[0].revents & POLLIN) != 0) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        peers.push_back(Peer{fd, {}, false});
      }
    }
  }
  for (const Peer& p : peers) {
    ::close(p.fd);
  }
}

std::string silent_sse_head() {
  return "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
         "Transfer-Encoding: chunked\r\n\r\n";
}

// ---------------------------------------------------------------------------------------------
// SSE and message helpers

std::string sse_event(std::string_view type, std::string_view data) {
  return fmt::format("event: {}\ndata: {}\n\n", type, data);
}

std::vector<std::string> message_stream(const std::vector<std::string>& deltas, std::string_view model) {
  using nlohmann::json;
  std::vector<std::string> events;
  events.push_back(sse_event("message_start", json{{"type", "message_start"},
                                                   {"message",
                                                    {{"id", "msg_fake_stream"},
                                                     {"type", "message"},
                                                     {"role", "assistant"},
                                                     {"model", model},
                                                     {"content", json::array()},
                                                     {"stop_reason", nullptr},
                                                     {"stop_sequence", nullptr},
                                                     {"usage", {{"input_tokens", 12}, {"output_tokens", 1}}}}}}
                                                  .dump()));
  events.push_back(sse_event(
      "content_block_start",
      json{{"type", "content_block_start"}, {"index", 0}, {"content_block", {{"type", "text"}, {"text", ""}}}}.dump()));
  events.push_back(sse_event("ping", R"({"type": "ping"})"));
  for (const std::string& delta : deltas) {
    events.push_back(sse_event(
        "content_block_delta",
        json{{"type", "content_block_delta"}, {"index", 0}, {"delta", {{"type", "text_delta"}, {"text", delta}}}}
            .dump()));
  }
  events.push_back(sse_event("content_block_stop", R"({"type":"content_block_stop","index":0})"));
  events.push_back(sse_event(
      "message_delta",
      R"({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}})"));
  events.push_back(sse_event("message_stop", R"({"type":"message_stop"})"));
  return events;
}

std::string message_json(std::string_view text, std::string_view model) {
  return nlohmann::json{{"id", "msg_fake"},
                        {"type", "message"},
                        {"role", "assistant"},
                        {"model", model},
                        {"content", {{{"type", "text"}, {"text", text}}}},
                        {"stop_reason", "end_turn"},
                        {"stop_sequence", nullptr},
                        {"usage", {{"input_tokens", 10}, {"output_tokens", 5}}}}
      .dump();
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& part : parts) {
    out += part;
  }
  return out;
}

}  // namespace balancer::test
