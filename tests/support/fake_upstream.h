// fake_upstream.h — fake Anthropic upstreams for the integration tests, on 127.0.0.1:<ephemeral>.
//
// FakeUpstream is a cpp-httplib server whose answer to each request is scripted by a
// Behaviour (a std::function from the recorded request to a Reply): a JSON/any body, an SSE
// stream paced by a delay between events, a stream that drops the connection after N events,
// slow headers, error statuses with Retry-After. It records every request and every stream it
// served, and lets tests wait (with a deadline) for recorded state instead of sleeping.
//
// ClosingUpstream is a raw TCP listener that reads each request and closes the socket without
// answering: a provider whose connection drops before the first byte.
//
// All pacing sleeps of the integration suite live in fake_upstream.cpp; tests never sleep.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <httplib.h>

namespace balancer::test {

using SteadyClock = std::chrono::steady_clock;
using Millis = std::chrono::milliseconds;
using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive lookup in a header list: the first value of `name`, if any.
std::optional<std::string> find_header_value(const HeaderList& headers, std::string_view name);
// How many headers named `name` (case-insensitive) the list holds.
std::size_t count_header(const HeaderList& headers, std::string_view name);

// One request as the fake upstream received it. Value type.
struct RecordedRequest {
  std::string method;
  std::string path;    // without the query
  std::string target;  // path and query, as sent
  HeaderList headers;  // as received (httplib's REMOTE_ADDR & co. left out)
  std::string body;
  SteadyClock::time_point received_at;

  std::optional<std::string> header(std::string_view name) const { return find_header_value(headers, name); }
  bool has_header(std::string_view name) const { return count_header(headers, name) > 0; }
};

// What the fake answers to one request. Value type; build with the static helpers.
struct Reply {
  int status = 200;
  HeaderList headers;  // extra response headers (not content-type)
  std::string content_type = "application/json";
  std::string body;  // the whole body (when !stream)

  bool stream = false;                    // chunked SSE: one chunk per entry of `events`
  std::vector<std::string> events;        // complete event texts ("event: x\ndata: {...}\n\n")
  Millis interval{0};                     // pause before every event but the first
  std::optional<std::size_t> drop_after;  // close the connection after this many events
  Millis header_delay{0};                 // pause before answering at all (slow headers)

  static Reply json(std::string body, int status = 200);
  static Reply sse(std::vector<std::string> events, Millis interval = Millis(0));
  // An Anthropic error body {"type":"error","error":{"type":..,"message":..}}.
  static Reply error(int status, std::string_view type, std::string_view message);

  Reply& with_header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

// How one streamed reply ended (as seen by the fake).
enum class StreamOutcome {
  Running,
  Completed,   // every event written and the stream closed properly
  Dropped,     // the scripted drop_after happened
  ClientGone,  // a write failed: the balancer (the fake's client) went away
};

struct StreamRecord {
  std::size_t request_index = 0;  // into requests()
  SteadyClock::time_point started_at;
  SteadyClock::time_point finished_at;  // when the outcome was reached
  std::size_t events_written = 0;
  StreamOutcome outcome = StreamOutcome::Running;
};

// A cpp-httplib fake upstream. Listens from construction on (bind_to_any_port already listens,
// so no readiness wait is needed) and serves every path and method through the behaviour.
// Thread-safe. Its thread pool grows on demand, so concurrent streams are never serialised.
class FakeUpstream {
 public:
  using Behaviour = std::function<Reply(const RecordedRequest&)>;

  // The default behaviour answers every request with a small Anthropic message (200 JSON).
  FakeUpstream();
  explicit FakeUpstream(Behaviour behaviour);
  ~FakeUpstream();
  FakeUpstream(const FakeUpstream&) = delete;
  FakeUpstream& operator=(const FakeUpstream&) = delete;

  int port() const { return port_; }
  std::string url() const;  // "http://127.0.0.1:<port>"

  void set_behaviour(Behaviour behaviour);

  std::vector<RecordedRequest> requests() const;
  std::size_t request_count() const;
  std::vector<StreamRecord> streams() const;

  // Waits until `predicate(requests, streams)` holds (evaluated under the fake's lock whenever
  // its state changes); false when `timeout` passed first.
  bool wait_until(
      const std::function<bool(const std::vector<RecordedRequest>&, const std::vector<StreamRecord>&)>& predicate,
      Millis timeout) const;
  bool wait_for_requests(std::size_t n, Millis timeout) const;
  // Waits until at least `n` streams reached `outcome`.
  bool wait_for_streams(StreamOutcome outcome, std::size_t n, Millis timeout) const;

 private:
  void handle(const httplib::Request& request, httplib::Response& response);
  std::size_t record(RecordedRequest request);
  std::size_t add_stream(std::size_t request_index);
  void update_stream(std::size_t stream, std::size_t events_written, StreamOutcome outcome);
  // Waits `delay` unless the fake is stopping; returns false when it is.
  bool pace(Millis delay) const;

  std::unique_ptr<httplib::Server> server_;
  int port_ = -1;
  std::thread thread_;

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  Behaviour behaviour_;
  std::vector<RecordedRequest> requests_;
  std::vector<StreamRecord> streams_;
  bool stopping_ = false;
};

// A raw TCP listener on 127.0.0.1:<ephemeral> that reads each request (headers and a
// Content-Length body) and closes the connection without writing a byte.
class ClosingUpstream {
 public:
  ClosingUpstream();
  ~ClosingUpstream();
  ClosingUpstream(const ClosingUpstream&) = delete;
  ClosingUpstream& operator=(const ClosingUpstream&) = delete;

  int port() const { return port_; }
  std::string url() const;
  // Requests read and dropped so far.
  std::size_t dropped_count() const { return dropped_.load(); }

 private:
  void serve();

  int listen_fd_ = -1;
  int stop_fd_ = -1;  // eventfd: readable once the destructor asks serve() to return
  int port_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> dropped_{0};
  std::thread thread_;
};

// A raw TCP listener on 127.0.0.1:<ephemeral> that reads each request (headers and a
// Content-Length body), writes `reply_head` (may be empty: then nothing at all) and then holds
// the connection open, silent, until the peer closes it. It records when each peer went away,
// so a test can see the balancer give up on (or cancel) an upstream call. Serves any number of
// connections at once on one thread. Thread-safe.
class SilentUpstream {
 public:
  explicit SilentUpstream(std::string reply_head = "");
  ~SilentUpstream();
  SilentUpstream(const SilentUpstream&) = delete;
  SilentUpstream& operator=(const SilentUpstream&) = delete;

  int port() const { return port_; }
  std::string url() const;
  std::size_t requests_read() const;
  // When the n-th (from 0) peer that had sent a whole request closed its connection.
  std::vector<SteadyClock::time_point> requests_at() const;
  std::vector<SteadyClock::time_point> peers_gone_at() const;
  bool wait_for_requests(std::size_t n, Millis timeout) const;
  bool wait_for_peers_gone(std::size_t n, Millis timeout) const;

 private:
  void serve();

  std::string reply_head_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;  // eventfd: readable once the destructor asks serve() to return
  int port_ = -1;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::vector<SteadyClock::time_point> requests_at_;
  std::vector<SteadyClock::time_point> gone_at_;
  std::thread thread_;
};

// "HTTP/1.1 200 OK" + SSE headers with chunked framing and no chunk yet: a stream that started
// and then says nothing (for SilentUpstream).
std::string silent_sse_head();

// SSE helpers.
// "event: <type>\ndata: <data>\n\n"
std::string sse_event(std::string_view type, std::string_view data);
// A complete Anthropic message stream: message_start, content_block_start, ping, one
// text_delta per entry of `deltas`, content_block_stop, message_delta, message_stop.
std::vector<std::string> message_stream(const std::vector<std::string>& deltas, std::string_view model = "claude-test");
// A small Anthropic message JSON with `text` as its only text block.
std::string message_json(std::string_view text, std::string_view model = "claude-test");

std::string join(const std::vector<std::string>& parts);

}  // namespace balancer::test
