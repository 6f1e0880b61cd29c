// stream_load — hold N streamed Messages API requests open at once and check every answer.
//
// The many-streams run of bench/run.sh uses it instead of wrk: wrk reissues a request as soon as
// one ends and cannot tell a complete SSE answer from a cut one or an error event, so its counts
// say little about whether 5,000 streams *completed*. stream_load sends each stream exactly once
// (libcurl multi, one connection per stream, all started together), and counts a stream as ok only
// when the status is 200 and the answer ends with `message_stop` after the expected number of
// events. It also times every event's arrival, so that it can say how many inter-event gaps the
// path collapsed (two events that the upstream sent `--pace-ms` apart arriving less than half that
// apart: a proxy that buffers a stream collapses them).
//
//   stream_load --url http://127.0.0.1:PORT --body FILE [--model M] [--streams N]
//               [--events E] [--pace-ms P] [--ramp-ms R] [--timeout-s T] [--api-key K]
//
// FILE is a request body with `"stream": false` and the marker BENCH_REQ_ID (bench/request-body.json);
// each stream gets `"stream": true` and its own number in place of the marker. Prints one line:
//   streams=N ok=N failed=N statuses=200:N,... curl_errors=N events=N gaps=N collapsed=N
//   ttfb_p50_ms=X ttfb_p99_ms=X total_p50_ms=X total_p99_ms=X first_failure="..."
// and exits 0 when every stream was ok, 1 otherwise. Single-threaded: one curl multi loop.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <curl/curl.h>
#include <sys/epoll.h>
#include <sys/resource.h>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string url;
  std::string body_file;
  std::string model;
  std::string api_key = "sk-ant-bench-client-key";
  long streams = 100;
  long events = 0;   // expected SSE events per answer; 0 = do not check the count
  long pace_ms = 0;  // the upstream's pause between events; 0 = do not judge gaps
  long timeout_s = 120;
  long ramp_ms = 2000;  // streams start evenly over this time: 5,000 SYNs in one instant only
                        // measure the accept queues (the kernel drops what overflows them)
};

// One stream: its request, what arrived and when.
struct Stream {
  std::string body;
  std::string received;
  std::size_t scanned = 0;  // bytes of `received` already searched for event ends
  std::vector<Clock::time_point> event_times;
  Clock::time_point started;
  Clock::time_point first_byte;
  bool got_byte = false;
  long status = 0;
  CURLcode result = CURLE_OK;
};

size_t on_data(char* data, size_t size, size_t count, void* user) {
  auto* s = static_cast<Stream*>(user);
  const std::size_t n = size * count;
  const auto now = Clock::now();
  if (!s->got_byte) {
    s->got_byte = true;
    s->first_byte = now;
  }
  s->received.append(data, n);
  // An SSE event ends at a blank line; look for ends from just before the new bytes.
  std::size_t from = s->scanned > 1 ? s->scanned - 1 : 0;
  for (;;) {
    const std::size_t end = s->received.find("\n\n", from);
    if (end == std::string::npos) {
      break;
    }
    s->event_times.push_back(now);
    from = end + 2;
  }
  s->scanned = s->received.size();
  // Keep only what the verdict needs: the tail (for message_stop) and the head (for errors).
  if (s->received.size() > 64 * 1024) {
    s->received.erase(4096, s->received.size() - 8192);
    s->scanned = s->received.size();
  }
  return n;
}

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// The epoll set and timer that libcurl's socket interface asks for.
struct SocketLoop {
  int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  long timeout_ms = -1;  // libcurl's latest timer request; -1 = none
  Clock::time_point timer_set = Clock::now();

  bool timer_due() const {
    return timeout_ms >= 0 && ms_between(timer_set, Clock::now()) >= static_cast<double>(timeout_ms);
  }

  static int on_socket(CURL* /*easy*/, curl_socket_t fd, int what, void* user, void* /*socketp*/) {
    auto* loop = static_cast<SocketLoop*>(user);
    if (what == CURL_POLL_REMOVE) {
      epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
      return 0;
    }
    epoll_event ev{};
    ev.events = ((what & CURL_POLL_IN) != 0 ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) != 0 ? EPOLLOUT : 0u);
    ev.data.fd = fd;
    if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_MOD, fd, &ev) != 0) {
      epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, fd, &ev);
    }
    return 0;
  }
  static int on_timer(CURLM* /*multi*/, long timeout_ms, void* user) {
    auto* loop = static_cast<SocketLoop*>(user);
    loop->timeout_ms = timeout_ms;
    loop->timer_set = Clock::now();
    return 0;
  }
};

bool stream_ok(const Stream& s, const Options& o) {
  if (s.result != CURLE_OK || s.status != 200) {
    return false;
  }
  if (s.received.find("event: message_stop") == std::string::npos ||
      s.received.find("event: error") != std::string::npos) {
    return false;
  }
  return o.events == 0 || static_cast<long>(s.event_times.size()) == o.events;
}

double percentile_ms(std::vector<double> values, double p) {
  if (values.empty()) {
    return 0;
  }
  std::sort(values.begin(), values.end());
  const auto index = static_cast<std::size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

bool parse_options(int argc, char** argv, Options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    const char* value = argv[i + 1];
    if (flag == "--url") {
      o.url = value;
    } else if (flag == "--body") {
      o.body_file = value;
    } else if (flag == "--model") {
      o.model = value;
    } else if (flag == "--api-key") {
      o.api_key = value;
    } else if (flag == "--streams") {
      o.streams = std::strtol(value, nullptr, 10);
    } else if (flag == "--events") {
      o.events = std::strtol(value, nullptr, 10);
    } else if (flag == "--pace-ms") {
      o.pace_ms = std::strtol(value, nullptr, 10);
    } else if (flag == "--ramp-ms") {
      o.ramp_ms = std::strtol(value, nullptr, 10);
    } else if (flag == "--timeout-s") {
      o.timeout_s = std::strtol(value, nullptr, 10);
    } else {
      return false;
    }
  }
  return argc % 2 == 1 && !o.url.empty() && !o.body_file.empty() && o.streams > 0;
}

// The body with `"stream": true`, the model replaced, and the marker left for the stream number.
bool load_template(const Options& o, std::string& prefix, std::string& suffix) {
  std::ifstream in(o.body_file, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string body = buffer.str();
  while (!body.empty() && (body.back() == '\n' || body.back() == ' ')) {
    body.pop_back();
  }
  const auto replace = [&body](std::string_view from, const std::string& to) {
    const std::size_t at = body.find(from);
    if (at == std::string::npos) {
      return false;
    }
    body.replace(at, from.size(), to);
    return true;
  };
  if (!replace("\"stream\": false", "\"stream\": true")) {
    return false;
  }
  if (!o.model.empty()) {
    const std::size_t at = body.find("\"model\":\"");
    const std::size_t end = at == std::string::npos ? at : body.find('"', at + 9);
    if (end == std::string::npos) {
      return false;
    }
    body.replace(at + 9, end - at - 9, o.model);
  }
  const std::size_t marker = body.find("BENCH_REQ_ID");
  if (marker == std::string::npos) {
    return false;
  }
  prefix = body.substr(0, marker);
  suffix = body.substr(marker + 12);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse_options(argc, argv, o)) {
    std::fprintf(stderr,
                 "usage: stream_load --url URL --body FILE [--model M] [--streams N] [--events E] "
                 "[--pace-ms P] [--ramp-ms R] [--timeout-s T] [--api-key K]\n");
    return 2;
  }
  std::string prefix, suffix;
  if (!load_template(o, prefix, suffix)) {
    std::fprintf(stderr, "stream_load: %s needs \"stream\": false, \"model\":\"...\" and BENCH_REQ_ID\n",
                 o.body_file.c_str());
    return 2;
  }
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM* multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 0L);
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, o.streams);

  const std::string url = o.url + "/v1/messages";
  curl_slist* headers = nullptr;
  for (const std::string& h :
       {std::string("Content-Type: application/json"), std::string("anthropic-version: 2023-06-01"),
        "x-api-key: " + o.api_key, std::string("Expect:")}) {
    headers = curl_slist_append(headers, h.c_str());
  }
  std::vector<std::unique_ptr<Stream>> streams;
  std::vector<CURL*> handles;
  std::map<CURL*, Stream*> by_handle;
  for (long i = 0; i < o.streams; ++i) {
    auto s = std::make_unique<Stream>();
    s->body = prefix + "load-" + std::to_string(i) + suffix;
    CURL* easy = curl_easy_init();
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, s->body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(s->body.size()));
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, s.get());
    curl_easy_setopt(easy, CURLOPT_TIMEOUT, o.timeout_s);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_PROXY, "");
    by_handle[easy] = s.get();
    handles.push_back(easy);
    streams.push_back(std::move(s));
  }

  // libcurl's socket interface over epoll: each wake-up touches only the connections that are
  // ready (curl_multi_perform walks every handle, which at 5,000 streams costs more CPU than
  // the proxy under test).
  SocketLoop loop;
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, SocketLoop::on_socket);
  curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, &loop);
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, SocketLoop::on_timer);
  curl_multi_setopt(multi, CURLMOPT_TIMERDATA, &loop);

  const auto begin = Clock::now();
  std::size_t added = 0;
  int running = 0;
  const auto collect = [&] {
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg != CURLMSG_DONE) {
        continue;
      }
      Stream* s = by_handle[msg->easy_handle];
      s->result = msg->data.result;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &s->status);
      if (s->event_times.empty()) {
        s->event_times.push_back(Clock::now());
      }
      curl_multi_remove_handle(multi, msg->easy_handle);
      curl_easy_cleanup(msg->easy_handle);
    }
  };
  while (added < handles.size() || running > 0) {
    // Start every stream whose turn in the ramp has come.
    const double elapsed_ms = ms_between(begin, Clock::now());
    const auto due =
        o.ramp_ms <= 0 ? handles.size()
                       : std::min(handles.size(), static_cast<std::size_t>(elapsed_ms * static_cast<double>(o.streams) /
                                                                           static_cast<double>(o.ramp_ms)) +
                                                      1);
    for (; added < due; ++added) {
      by_handle[handles[added]]->started = Clock::now();
      curl_multi_add_handle(multi, handles[added]);  // its timer fires at once: it connects below
    }
    int wait_ms = 1000;
    if (loop.timeout_ms >= 0) {
      wait_ms = std::max(0, static_cast<int>(std::ceil(static_cast<double>(loop.timeout_ms) -
                                                       ms_between(loop.timer_set, Clock::now()))));
    }
    if (added < handles.size()) {
      wait_ms = std::min(wait_ms, 2);
    }
    epoll_event ready[256];
    const int n = epoll_wait(loop.epoll_fd, ready, 256, wait_ms);
    for (int i = 0; i < n; ++i) {
      const int mask = ((ready[i].events & EPOLLIN) != 0 ? CURL_CSELECT_IN : 0) |
                       ((ready[i].events & EPOLLOUT) != 0 ? CURL_CSELECT_OUT : 0) |
                       ((ready[i].events & (EPOLLERR | EPOLLHUP)) != 0 ? CURL_CSELECT_ERR : 0);
      curl_multi_socket_action(multi, ready[i].data.fd, mask, &running);
    }
    if (n <= 0 || loop.timer_due()) {
      loop.timeout_ms = -1;
      curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    collect();
  }

  long ok = 0, curl_errors = 0, events = 0, gaps = 0, collapsed = 0;
  std::map<long, long> statuses;
  std::vector<double> ttfb, total;
  std::string first_failure;
  for (const auto& s : streams) {
    ++statuses[s->status];
    curl_errors += s->result != CURLE_OK ? 1 : 0;
    events += static_cast<long>(s->event_times.size());
    if (stream_ok(*s, o)) {
      ++ok;
    } else if (first_failure.empty()) {
      first_failure = s->result != CURLE_OK ? curl_easy_strerror(s->result)
                                            : "status " + std::to_string(s->status) + ": " + s->received.substr(0, 200);
    }
    if (s->got_byte) {
      ttfb.push_back(ms_between(s->started, s->first_byte));
    }
    total.push_back(ms_between(s->started, s->event_times.back()));
    for (std::size_t i = 1; o.pace_ms > 0 && i < s->event_times.size(); ++i) {
      ++gaps;
      collapsed += ms_between(s->event_times[i - 1], s->event_times[i]) < static_cast<double>(o.pace_ms) / 2 ? 1 : 0;
    }
  }
  for (char& c : first_failure) {
    c = (c == '\n' || c == '\r' || c == '"') ? ' ' : c;
  }
  std::string status_list;
  for (const auto& [code, count] : statuses) {
    status_list += (status_list.empty() ? "" : ",") + std::to_string(code) + ":" + std::to_string(count);
  }
  std::printf(
      "streams=%ld ok=%ld failed=%ld statuses=%s curl_errors=%ld events=%ld gaps=%ld collapsed=%ld "
      "ttfb_p50_ms=%.2f ttfb_p99_ms=%.2f total_p50_ms=%.2f total_p99_ms=%.2f first_failure=\"%s\"\n",
      o.streams, ok, o.streams - ok, status_list.c_str(), curl_errors, events, gaps, collapsed,
      percentile_ms(ttfb, 0.5), percentile_ms(ttfb, 0.99), percentile_ms(total, 0.5), percentile_ms(total, 0.99),
      first_failure.c_str());
  curl_slist_free_all(headers);
  curl_multi_cleanup(multi);
  curl_global_cleanup();
  return ok == o.streams ? 0 : 1;
}
