// mock_anthropic — a standalone fake Anthropic Messages API server.
//
// Used to run the real Claude Code CLI against balancer-server (tests/e2e/claude_code_smoke.sh)
// and as the common backend of benchmarks (direct call, nginx, balancer-server). It answers
//   POST /v1/messages               streaming (SSE) or not, with "Hello from the mock upstream."
//   POST /v1/messages/count_tokens  {"input_tokens": len(body)/4 + 1}
// and every other path with a 404 Anthropic error. Each request is logged to stderr as one line:
//   mock_anthropic: METHOD TARGET STATUS [model=M stream=true|false] [key=ok|missing|bad]
// (key= only with --require-key; with --log-headers the request headers follow, indented).
// The first stdout line is "listening on HOST:PORT" (flushed), so --port 0 can be used.
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "mock_common.h"
#include "paced_stream_server.h"

namespace {

// Insertion-ordered, so that every object has its keys in the real API's order ("type" first).
using json = nlohmann::ordered_json;

constexpr const char* kUsage = R"(mock_anthropic — a fake Anthropic Messages API server

Usage: mock_anthropic [options]
  --host HOST          listen address (default 127.0.0.1)
  --port N             listen port (default 0 = any free port; printed on stdout)
  --delay-ms N         delay between SSE events in milliseconds (default 0)
  --events N           number of text deltas per streamed answer (default 3)
  --threads N          worker threads (default 64)
  --fast               benchmark mode: read model and stream by a byte search instead of a
                       JSON parse, and write no log line per request (the mock then costs
                       a proxy benchmark a few microseconds a request, not a parse of the body)
  --paced-streams      benchmark mode for thousands of concurrent streams: one epoll thread
                       answers every request with the streamed answer (--delay-ms apart),
                       whatever its path or "stream"; no other option applies
  --require-key KEY    answer 401 unless the request has x-api-key or Authorization: Bearer
                       equal to KEY, and no other credential
  --log-headers        also log each request's headers (credentials redacted)
  --record DIR         write every /v1/messages request body to DIR/NNNN.json
  --tool NAME          when a request offers tool NAME, answer with a tool_use calling it;
                       when the last message carries tool results, answer quoting them
  --tool-input JSON    the tool_use input (default {})
  --oauth              be a Claude subscription endpoint too: POST /v1/oauth/token answers
                       every grant with access token = --require-key's KEY and a fresh
                       refresh token, and /v1/messages also requires anthropic-beta to carry
                       oauth-2025-04-20
  --help               print this help and exit
)";

constexpr const char* kBaseText = "Hello from the mock upstream.";

struct Options : mock::CommonOptions {
  long events = 3;
  long threads = 64;
  bool oauth = false;
  bool fast = false;
  bool paced_streams = false;
};

std::atomic<unsigned long long> g_request_counter{0};
std::atomic<unsigned long long> g_tokens_issued{0};  // --oauth refresh tokens
std::mutex g_log_mutex;

// Per-request facts the handlers record for the log line (the logger runs on the same worker
// thread after the response, including a streamed body, has been written).
struct RequestNote {
  unsigned long long number = 0;
  std::string model;
  std::optional<bool> stream;
  std::string key;  // "ok", "missing", "bad" or "" (not checked)
};
thread_local RequestNote t_note;

void log_line(const std::string& line) {
  const std::lock_guard<std::mutex> lock(g_log_mutex);
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

std::string error_body(const std::string& type, const std::string& message) {
  return json{{"type", "error"}, {"error", {{"type", type}, {"message", message}}}}.dump();
}

void send_error(httplib::Response& res, int status, const std::string& type, const std::string& message) {
  res.status = status;
  res.set_content(error_body(type, message), "application/json");
}

// True when the request may proceed; otherwise the 401 is already in `res`. Stricter than the
// real API on purpose: every credential the request carries must be the required key, so that a
// client key forwarded next to the right one (e.g. Authorization beside x-api-key) is caught.
bool check_key(const Options& opts, const httplib::Request& req, httplib::Response& res) {
  if (opts.require_key.empty()) {
    return true;
  }
  t_note.key = mock::check_keys(req, opts.require_key);
  if (opts.oauth && t_note.key == "ok" && req.path == "/v1/messages" &&
      req.get_header_value("anthropic-beta").find("oauth-2025-04-20") == std::string::npos) {
    t_note.key = "no-oauth-beta";
    send_error(res, 401, "authentication_error", "OAuth authentication is currently not supported.");
    return false;
  }
  if (t_note.key == "missing") {
    send_error(res, 401, "authentication_error", "x-api-key header is required");
  } else if (t_note.key == "bad") {
    send_error(res, 401, "authentication_error", "invalid x-api-key");
  }
  return t_note.key == "ok";
}

json usage_json(std::size_t input_tokens, std::size_t output_tokens) {
  return json{{"input_tokens", input_tokens},
              {"cache_creation_input_tokens", 0},
              {"cache_read_input_tokens", 0},
              {"output_tokens", output_tokens}};
}

std::string sse_event(const std::string& name, const json& data) {
  return "event: " + name + "\ndata: " + data.dump() + "\n\n";
}

// The answer: its full text and every SSE event after message_start, built once at start-up
// (they do not depend on the request). The text is the base sentence, repeated (space-separated)
// when there are more events than characters so that no delta is empty; the concatenation of the
// deltas always contains the base sentence.
struct Answer {
  std::string text;
  std::size_t output_tokens = 1;
  std::vector<std::string> tail_events;
  json content;  // the non-streaming content blocks
  std::string stop_reason = "end_turn";
};

Answer make_answer(long events, const std::string& base = kBaseText) {
  Answer answer;
  std::vector<std::string> pieces;
  if (events > 0) {
    answer.text = base;
    while (answer.text.size() < static_cast<std::size_t>(events)) {
      answer.text += " " + base;
    }
    const std::size_t n = static_cast<std::size_t>(events);
    const std::size_t len = answer.text.size();
    pieces.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      pieces.push_back(answer.text.substr(i * len / n, (i + 1) * len / n - i * len / n));
    }
  }
  answer.output_tokens = answer.text.size() / 4 + 1;

  auto& tail = answer.tail_events;
  tail.reserve(pieces.size() + 5);
  tail.push_back(
      sse_event("content_block_start",
                {{"type", "content_block_start"}, {"index", 0}, {"content_block", {{"type", "text"}, {"text", ""}}}}));
  tail.push_back(sse_event("ping", {{"type", "ping"}}));
  for (const auto& piece : pieces) {
    tail.push_back(sse_event(
        "content_block_delta",
        {{"type", "content_block_delta"}, {"index", 0}, {"delta", {{"type", "text_delta"}, {"text", piece}}}}));
  }
  tail.push_back(sse_event("content_block_stop", {{"type", "content_block_stop"}, {"index", 0}}));
  tail.push_back(sse_event("message_delta", {{"type", "message_delta"},
                                             {"delta", {{"stop_reason", "end_turn"}, {"stop_sequence", nullptr}}},
                                             {"usage", {{"output_tokens", answer.output_tokens}}}}));
  tail.push_back(sse_event("message_stop", {{"type", "message_stop"}}));
  answer.content = json::array({json{{"type", "text"}, {"text", answer.text}}});
  return answer;
}

// --tool mode: a tool_use block calling `name` with `input`, its JSON streamed in 3 pieces.
Answer make_tool_answer(const std::string& id, const std::string& name, const json& input) {
  Answer answer;
  answer.stop_reason = "tool_use";
  answer.output_tokens = 20;
  answer.content = json::array({json{{"type", "tool_use"}, {"id", id}, {"name", name}, {"input", input}}});
  const std::string args = input.dump();
  auto& tail = answer.tail_events;
  tail.push_back(
      sse_event("content_block_start",
                {{"type", "content_block_start"},
                 {"index", 0},
                 {"content_block", {{"type", "tool_use"}, {"id", id}, {"name", name}, {"input", json::object()}}}}));
  for (std::size_t i = 0; i < 3; ++i) {
    const std::size_t from = i * args.size() / 3, to = (i + 1) * args.size() / 3;
    tail.push_back(
        sse_event("content_block_delta",
                  {{"type", "content_block_delta"},
                   {"index", 0},
                   {"delta", {{"type", "input_json_delta"}, {"partial_json", args.substr(from, to - from)}}}}));
  }
  tail.push_back(sse_event("content_block_stop", {{"type", "content_block_stop"}, {"index", 0}}));
  tail.push_back(sse_event("message_delta", {{"type", "message_delta"},
                                             {"delta", {{"stop_reason", "tool_use"}, {"stop_sequence", nullptr}}},
                                             {"usage", {{"output_tokens", answer.output_tokens}}}}));
  tail.push_back(sse_event("message_stop", {{"type", "message_stop"}}));
  return answer;
}

// The text of the last message's tool_result blocks, or nullopt when it has none.
std::optional<std::string> last_tool_result(const json& body) {
  const auto messages = body.find("messages");
  if (messages == body.end() || !messages->is_array() || messages->empty()) {
    return std::nullopt;
  }
  const json& content = messages->back().value("content", json());
  if (!content.is_array()) {
    return std::nullopt;
  }
  std::optional<std::string> text;
  for (const auto& block : content) {
    if (block.value("type", "") != "tool_result") {
      continue;
    }
    text = text.value_or("");
    const json& c = block.value("content", json());
    if (c.is_string()) {
      *text += c.get<std::string>();
    } else if (c.is_array()) {
      for (const auto& part : c) {
        *text += part.value("text", "");
      }
    }
  }
  return text;
}

bool offers_tool(const json& body, const std::string& name) {
  const auto tools = body.find("tools");
  if (tools == body.end() || !tools->is_array()) {
    return false;
  }
  for (const auto& tool : *tools) {
    if (tool.value("name", "") == name) {
      return true;
    }
  }
  return false;
}

std::string message_start_event(const std::string& message_id, const std::string& model, std::size_t input_tokens) {
  json message = {{"id", message_id},         {"type", "message"},
                  {"role", "assistant"},      {"model", model},
                  {"content", json::array()}, {"stop_reason", nullptr},
                  {"stop_sequence", nullptr}, {"usage", usage_json(input_tokens, 1)}};
  return sse_event("message_start", {{"type", "message_start"}, {"message", message}});
}

// --fast: the first `"model":"…"` value (unescaped names only) and whether `"stream":true`
// (with or without a space) occurs, found by byte search. Good enough for benchmark bodies.
std::pair<std::string, bool> fast_model_and_stream(const std::string& body) {
  std::string model = "claude-mock";
  if (const auto at = body.find("\"model\":\""); at != std::string::npos) {
    const std::size_t begin = at + 9;
    if (const auto end = body.find('"', begin); end != std::string::npos) {
      model = body.substr(begin, end - begin);
    }
  }
  const bool stream =
      body.find("\"stream\":true") != std::string::npos || body.find("\"stream\": true") != std::string::npos;
  return {model, stream};
}

void handle_messages(const Options& opts, const Answer& fixed_answer, unsigned long long request_number,
                     const httplib::Request& req, httplib::Response& res) {
  mock::record_body(opts.record_dir, request_number, req.body);
  json body;
  std::string model;
  bool stream = false;
  if (opts.fast) {
    std::tie(model, stream) = fast_model_and_stream(req.body);
  } else {
    try {
      body = json::parse(req.body);
    } catch (const json::exception& e) {
      send_error(res, 400, "invalid_request_error", std::string("request body is not valid JSON: ") + e.what());
      return;
    }
    if (!body.is_object()) {
      send_error(res, 400, "invalid_request_error", "request body must be a JSON object");
      return;
    }
    const auto model_it = body.find("model");
    model = model_it != body.end() && model_it->is_string() ? model_it->get<std::string>() : "claude-mock";
    const auto stream_it = body.find("stream");
    stream = stream_it != body.end() && stream_it->is_boolean() && stream_it->get<bool>();
  }
  t_note.model = model;
  t_note.stream = stream;
  if (!check_key(opts, req, res)) {
    return;
  }

  char id_buf[40];
  std::snprintf(id_buf, sizeof id_buf, "msg_mock_%016llu", request_number);
  const std::string message_id = id_buf;
  const std::size_t input_tokens = req.body.size() / 4 + 1;

  // --tool mode: call the tool when it is offered, then answer with what it returned.
  auto answer_ptr = std::shared_ptr<const Answer>(&fixed_answer, [](const Answer*) {});
  if (!opts.tool.empty()) {
    if (auto result = last_tool_result(body)) {
      answer_ptr = std::make_shared<const Answer>(
          make_answer(opts.events, std::string(kBaseText) + " The tool said: " + result->substr(0, 200)));
    } else if (offers_tool(body, opts.tool)) {
      answer_ptr = std::make_shared<const Answer>(
          make_tool_answer("toolu_mock_" + std::to_string(request_number), opts.tool, opts.tool_input));
    }
  }
  const Answer& answer = *answer_ptr;

  if (!stream) {
    json message = {{"id", message_id},          {"type", "message"},
                    {"role", "assistant"},       {"model", model},
                    {"content", answer.content}, {"stop_reason", answer.stop_reason},
                    {"stop_sequence", nullptr},  {"usage", usage_json(input_tokens, answer.output_tokens)}};
    res.status = 200;
    res.set_content(message.dump(), "application/json");
    return;
  }

  // Event 0 is message_start, events 1.. are answer.tail_events (which outlives the server).
  auto first = std::make_shared<const std::string>(message_start_event(message_id, model, input_tokens));
  auto next = std::make_shared<std::size_t>(0);
  const std::vector<std::string>* tail = &answer.tail_events;  // kept alive by answer_ptr
  const std::size_t total = tail->size() + 1;
  const auto delay = std::chrono::milliseconds(opts.delay_ms);
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider("text/event-stream", [first, next, tail, total, delay, answer_ptr](
                                                            std::size_t /*offset*/, httplib::DataSink& sink) {
    if (*next > 0 && delay.count() > 0) {
      std::this_thread::sleep_for(delay);
    }
    const std::string& event = *next == 0 ? *first : (*tail)[*next - 1];
    ++*next;
    if (!sink.write(event.data(), event.size())) {
      return false;
    }
    if (*next >= total) {
      sink.done();
    }
    return true;
  });
}

void handle_count_tokens(const Options& opts, const httplib::Request& req, httplib::Response& res) {
  if (!check_key(opts, req, res)) {
    return;
  }
  res.status = 200;
  res.set_content(json{{"input_tokens", req.body.size() / 4 + 1}}.dump(), "application/json");
}

// POST /v1/oauth/token (--oauth): a token endpoint that accepts every authorization_code and
// refresh_token grant.
void handle_token(const Options& opts, const httplib::Request& req, httplib::Response& res) {
  const json body = json::parse(req.body, nullptr, false);
  const std::string grant = body.is_object() ? body.value("grant_type", "") : "";
  if (grant != "authorization_code" && grant != "refresh_token") {
    res.status = 400;
    res.set_content(json{{"error", "unsupported_grant_type"}}.dump(), "application/json");
    return;
  }
  t_note.model = "grant=" + grant;
  res.set_content(json{{"access_token", opts.require_key},
                       {"refresh_token", "mock-refresh-" + std::to_string(++g_tokens_issued)},
                       {"expires_in", 3600},
                       {"token_type", "Bearer"},
                       {"scope", "user:inference user:profile"}}
                      .dump(),
                  "application/json");
}

void handle_unknown(const Options& opts, const httplib::Request& req, httplib::Response& res) {
  if (req.path.rfind("/v1/", 0) == 0 && !check_key(opts, req, res)) {
    return;
  }
  send_error(res, 404, "not_found_error", "Not found: " + req.method + " " + req.path);
}

// --paced-streams: the streamed answer from one epoll thread (see paced_stream_server.h).
int serve_paced_streams(const Options& opts, const Answer& answer) {
  std::signal(SIGPIPE, SIG_IGN);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  mock::PacedStreamServer server(
      [&answer](std::string_view body) {
        const std::string text(body);
        std::vector<std::string> events;
        events.reserve(answer.tail_events.size() + 1);
        const std::string id = "msg_mock_" + std::to_string(++g_request_counter);
        events.push_back(message_start_event(id, fast_model_and_stream(text).first, body.size() / 4 + 1));
        events.insert(events.end(), answer.tail_events.begin(), answer.tail_events.end());
        return events;
      },
      std::chrono::milliseconds(opts.delay_ms));
  const int port = server.bind(opts.host, opts.port);
  if (port < 0) {
    std::fprintf(stderr, "mock_anthropic: cannot bind %s:%d\n", opts.host.c_str(), opts.port);
    return 1;
  }
  std::printf("listening on %s:%d\n", opts.host.c_str(), port);
  std::fflush(stdout);
  std::atomic<bool> stop{false};
  std::thread signal_thread([&stop, signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    std::fprintf(stderr, "mock_anthropic: signal %d, stopping\n", sig);
    stop = true;
  });
  server.serve(stop);
  signal_thread.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const std::function<const char*()> take = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    auto usage_error = [&](const std::string& message) {
      std::fprintf(stderr, "mock_anthropic: %s\n\n%s", message.c_str(), kUsage);
      return 2;
    };
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (auto error = mock::parse_common_option(arg, take, opts)) {
      if (!error->empty()) return usage_error(*error);
    } else if (arg == "--events") {
      const auto n = mock::parse_number(take(), 0, 1'000'000);
      if (!n) return usage_error("--events needs a number >= 0");
      opts.events = *n;
    } else if (arg == "--oauth") {
      opts.oauth = true;
    } else if (arg == "--fast") {
      opts.fast = true;
    } else if (arg == "--paced-streams") {
      opts.paced_streams = true;
    } else if (arg == "--threads") {
      const auto n = mock::parse_number(take(), 1, 100'000);
      if (!n) return usage_error("--threads needs a number >= 1");
      opts.threads = *n;
    } else {
      return usage_error("unknown option " + arg);
    }
  }

  const Answer answer = make_answer(opts.events);
  if (opts.paced_streams) {
    return serve_paced_streams(opts, answer);
  }
  httplib::Server server;
  const std::size_t threads = static_cast<std::size_t>(opts.threads);
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.set_keep_alive_max_count(100000);
  server.set_keep_alive_timeout(30);
  server.set_tcp_nodelay(true);

  // Every request gets a number, a request-id header and a fresh note for the log line.
  server.set_pre_routing_handler([](const httplib::Request&, httplib::Response& res) {
    t_note = RequestNote{};
    t_note.number = ++g_request_counter;
    res.set_header("request-id", "req_mock_" + std::to_string(t_note.number));
    return httplib::Server::HandlerResponse::Unhandled;
  });
  server.Post("/v1/messages", [&opts, &answer](const httplib::Request& req, httplib::Response& res) {
    handle_messages(opts, answer, t_note.number, req, res);
  });
  server.Post("/v1/messages/count_tokens",
              [&opts](const httplib::Request& req, httplib::Response& res) { handle_count_tokens(opts, req, res); });
  if (opts.oauth) {
    server.Post("/v1/oauth/token",
                [&opts](const httplib::Request& req, httplib::Response& res) { handle_token(opts, req, res); });
  }
  const auto unknown = [&opts](const httplib::Request& req, httplib::Response& res) { handle_unknown(opts, req, res); };
  server.Get(".*", unknown);  // also serves HEAD
  server.Post(".*", unknown);
  server.Put(".*", unknown);
  server.Patch(".*", unknown);
  server.Delete(".*", unknown);
  server.Options(".*", unknown);
  server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, 500, "api_error", "mock_anthropic: " + what);
  });

  const bool log_headers = opts.log_headers;
  server.set_logger([log_headers, fast = opts.fast](const httplib::Request& req, const httplib::Response& res) {
    if (fast) {
      return;
    }
    std::string line = "mock_anthropic: " + req.method + " " + (req.target.empty() ? req.path : req.target) + " " +
                       std::to_string(res.status);
    if (!t_note.model.empty()) {
      line += " model=" + t_note.model;
    }
    if (t_note.stream) {
      line += std::string(" stream=") + (*t_note.stream ? "true" : "false");
    }
    if (!t_note.key.empty()) {
      line += " key=" + t_note.key;
    }
    line += "\n";
    if (log_headers) {
      line += mock::header_lines(req);
    }
    log_line(line);
    t_note = RequestNote{};  // a request httplib rejects before routing must not inherit it
  });

  return mock::serve(server, opts.host, opts.port, "mock_anthropic");
}
