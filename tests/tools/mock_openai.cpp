// mock_openai — a standalone fake OpenAI-compatible Chat Completions server.
//
// The upstream of end-to-end runs of the real Claude Code CLI through balancer-server's
// Anthropic → OpenAI conversion (tests/e2e/claude_code_openai.sh) and of the Anthropic SDK check
// (tests/e2e/anthropic_sdk_stream.mjs). It answers
//   POST /v1/chat/completions and /chat/completions   streaming (SSE) or not
// and every other path with a 404 OpenAI error. Answers:
//   - with --tool NAME, when the request offers the function NAME and its last message is not a
//     tool result: a call of NAME with --tool-input, its arguments streamed in several fragments;
//   - when the last message is a tool result: "Hello from the mock OpenAI upstream. The tool
//     said: <the result>";
//   - otherwise "Hello from the mock OpenAI upstream."
// With --reasoning, every answer starts with `reasoning_content` deltas (DeepSeek style).
// Each request is logged to stderr as one line:
//   mock_openai: METHOD TARGET STATUS model=M stream=B tools=N key=ok|missing|bad answer=text|tool
// The first stdout line is "listening on HOST:PORT" (flushed), so --port 0 can be used.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "mock_common.h"

namespace {

using json = nlohmann::ordered_json;

constexpr const char* kUsage = R"(mock_openai — a fake OpenAI Chat Completions server

Usage: mock_openai [options]
  --host HOST          listen address (default 127.0.0.1)
  --port N             listen port (default 0 = any free port; printed on stdout)
  --delay-ms N         delay between SSE chunks in milliseconds (default 0)
  --require-key KEY    answer 401 unless the request has Authorization: Bearer KEY (and no
                       other credential)
  --tool NAME          call the function NAME when a request offers it
  --tool-input JSON    the arguments of that call (default {})
  --reasoning          start every answer with reasoning_content deltas
  --record DIR         write every request body to DIR/NNNN.json
  --log-headers        also log each request's headers (credentials redacted)
  --help               print this help and exit
)";

constexpr const char* kBaseText = "Hello from the mock OpenAI upstream.";

struct Options : mock::CommonOptions {
  bool reasoning = false;
};

// What one answer consists of, before it is rendered as a completion or as chunks.
struct Answer {
  std::string reasoning;
  std::string text;
  std::string tool_id;
  std::string tool_name;
  std::string tool_arguments;
  std::string finish_reason = "stop";
};

void send_error(httplib::Response& res, int status, const std::string& type, const std::string& message) {
  res.status = status;
  res.set_content(json{{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}}}}.dump(),
                  "application/json");
}

bool offers_function(const json& body, const std::string& name) {
  const auto tools = body.find("tools");
  if (tools == body.end() || !tools->is_array()) {
    return false;
  }
  for (const auto& tool : *tools) {
    if (tool.contains("function") && tool["function"].value("name", "") == name) {
      return true;
    }
  }
  return false;
}

Answer choose_answer(const Options& opts, const json& body, unsigned long long number) {
  Answer answer;
  if (opts.reasoning) {
    answer.reasoning = "The user wants something; let me think it through.";
  }
  const json& messages = body.value("messages", json::array());
  const json last = messages.is_array() && !messages.empty() ? messages.back() : json::object();
  if (last.value("role", "") == "tool") {
    const json& content = last.value("content", json());
    answer.text = std::string(kBaseText) + " The tool said: " +
                  (content.is_string() ? content.get<std::string>().substr(0, 200) : content.dump());
  } else if (!opts.tool.empty() && offers_function(body, opts.tool)) {
    answer.text = "Let me use " + opts.tool + ".";
    answer.tool_id = "call_mock_" + std::to_string(number);
    answer.tool_name = opts.tool;
    answer.tool_arguments = opts.tool_input.dump();
    answer.finish_reason = "tool_calls";
  } else {
    answer.text = kBaseText;
  }
  return answer;
}

json usage_json(std::size_t prompt_tokens) {
  return json{{"prompt_tokens", prompt_tokens},
              {"completion_tokens", 12},
              {"total_tokens", prompt_tokens + 12},
              {"prompt_tokens_details", {{"cached_tokens", 0}}}};
}

json completion(const Answer& answer, const std::string& id, const std::string& model, std::size_t prompt_tokens) {
  json message = {{"role", "assistant"}, {"content", answer.text}};
  if (!answer.reasoning.empty()) {
    message["reasoning_content"] = answer.reasoning;
  }
  if (!answer.tool_id.empty()) {
    message["tool_calls"] =
        json::array({json{{"id", answer.tool_id},
                          {"type", "function"},
                          {"function", {{"name", answer.tool_name}, {"arguments", answer.tool_arguments}}}}});
  }
  return json{
      {"id", id},
      {"object", "chat.completion"},
      {"created", 1764000000},
      {"model", model},
      {"choices", json::array({json{{"index", 0}, {"message", message}, {"finish_reason", answer.finish_reason}}})},
      {"usage", usage_json(prompt_tokens)}};
}

// Splits `text` into `n` nearly equal non-empty pieces (fewer when it is shorter).
std::vector<std::string> pieces(const std::string& text, std::size_t n) {
  std::vector<std::string> out;
  n = std::min(n, text.size());
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(text.substr(i * text.size() / n, (i + 1) * text.size() / n - i * text.size() / n));
  }
  return out;
}

// The SSE body of a streamed answer, one string per chunk (the last is "data: [DONE]").
std::vector<std::string> chunks(const Answer& answer, const std::string& id, const std::string& model,
                                std::size_t prompt_tokens, bool include_usage) {
  std::vector<std::string> out;
  auto chunk = [&](json delta, json finish_reason) {
    json c = {{"id", id},
              {"object", "chat.completion.chunk"},
              {"created", 1764000000},
              {"model", model},
              {"system_fingerprint", "fp_mock"},
              {"choices", json::array({json{{"index", 0},
                                            {"delta", std::move(delta)},
                                            {"logprobs", nullptr},
                                            {"finish_reason", std::move(finish_reason)}}})}};
    out.push_back("data: " + c.dump() + "\n\n");
  };
  chunk({{"role", "assistant"}, {"content", ""}}, nullptr);
  for (const auto& piece : pieces(answer.reasoning, 3)) {
    chunk({{"reasoning_content", piece}}, nullptr);
  }
  for (const auto& piece : pieces(answer.text, 3)) {
    chunk({{"content", piece}}, nullptr);
  }
  if (!answer.tool_id.empty()) {
    chunk({{"tool_calls", json::array({json{{"index", 0},
                                            {"id", answer.tool_id},
                                            {"type", "function"},
                                            {"function", {{"name", answer.tool_name}, {"arguments", ""}}}}})}},
          nullptr);
    for (const auto& piece : pieces(answer.tool_arguments, 4)) {
      chunk({{"tool_calls", json::array({json{{"index", 0}, {"function", {{"arguments", piece}}}}})}}, nullptr);
    }
  }
  chunk(json::object(), answer.finish_reason);
  if (include_usage) {
    json c = {{"id", id},       {"object", "chat.completion.chunk"}, {"created", 1764000000},
              {"model", model}, {"choices", json::array()},          {"usage", usage_json(prompt_tokens)}};
    out.push_back("data: " + c.dump() + "\n\n");
  }
  out.push_back("data: [DONE]\n\n");
  return out;
}

// Per-request facts for the log line (the logger runs on the same worker thread afterwards).
struct RequestNote {
  std::string summary;
};
thread_local RequestNote t_note;

void handle_completions(const Options& opts, unsigned long long number, const httplib::Request& req,
                        httplib::Response& res) {
  mock::record_body(opts.record_dir, number, req.body);
  const json body = json::parse(req.body, nullptr, false);
  if (!body.is_object()) {
    send_error(res, 400, "invalid_request_error", "request body must be a JSON object");
    return;
  }
  const std::string model = body.value("model", "gpt-mock");
  const bool stream = body.value("stream", false);
  const bool include_usage = body.contains("stream_options") && body["stream_options"].value("include_usage", false);
  const std::size_t tools = body.contains("tools") && body["tools"].is_array() ? body["tools"].size() : 0;
  std::string key = opts.require_key.empty() ? "" : mock::check_keys(req, opts.require_key);
  if (!opts.require_key.empty() && req.has_header("x-api-key")) {
    key = "bad";  // an OpenAI upstream takes Bearer only
  }
  const Answer answer = choose_answer(opts, body, number);
  t_note.summary = " model=" + model + " stream=" + (stream ? "true" : "false") + " tools=" + std::to_string(tools) +
                   (key.empty() ? "" : " key=" + key) + " answer=" + (answer.tool_id.empty() ? "text" : "tool");
  if (!key.empty() && key != "ok") {
    send_error(res, 401, "invalid_request_error", "Incorrect API key provided");
    return;
  }
  const std::string id = "chatcmpl-mock" + std::to_string(number);
  const std::size_t prompt_tokens = req.body.size() / 4 + 1;
  if (!stream) {
    res.set_content(completion(answer, id, model, prompt_tokens).dump(), "application/json");
    return;
  }
  auto parts = std::make_shared<std::vector<std::string>>(chunks(answer, id, model, prompt_tokens, include_usage));
  auto next = std::make_shared<std::size_t>(0);
  const auto delay = std::chrono::milliseconds(opts.delay_ms);
  res.set_chunked_content_provider("text/event-stream", [parts, next, delay](std::size_t, httplib::DataSink& sink) {
    if (*next > 0 && delay.count() > 0) {
      std::this_thread::sleep_for(delay);
    }
    const std::string& part = (*parts)[(*next)++];
    if (!sink.write(part.data(), part.size())) {
      return false;
    }
    if (*next >= parts->size()) {
      sink.done();
    }
    return true;
  });
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const std::function<const char*()> take = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    auto usage_error = [&](const std::string& message) {
      std::fprintf(stderr, "mock_openai: %s\n\n%s", message.c_str(), kUsage);
      return 2;
    };
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (auto error = mock::parse_common_option(arg, take, opts)) {
      if (!error->empty()) return usage_error(*error);
    } else if (arg == "--reasoning") {
      opts.reasoning = true;
    } else {
      return usage_error("unknown option " + arg);
    }
  }

  std::atomic<unsigned long long> counter{0};
  std::mutex log_mutex;
  httplib::Server server;
  server.new_task_queue = [] { return new httplib::ThreadPool(32); };
  server.set_keep_alive_max_count(100000);
  server.set_tcp_nodelay(true);
  const auto handler = [&opts, &counter](const httplib::Request& req, httplib::Response& res) {
    handle_completions(opts, ++counter, req, res);
  };
  server.Post("/v1/chat/completions", handler);
  server.Post("/chat/completions", handler);
  const auto unknown = [](const httplib::Request& req, httplib::Response& res) {
    send_error(res, 404, "invalid_request_error", "Unknown request URL: " + req.method + " " + req.path);
  };
  server.Get(".*", unknown);
  server.Post(".*", unknown);
  server.set_logger([&opts, &log_mutex](const httplib::Request& req, const httplib::Response& res) {
    std::string line =
        "mock_openai: " + req.method + " " + req.target + " " + std::to_string(res.status) + t_note.summary + "\n";
    if (opts.log_headers) {
      line += mock::header_lines(req);
    }
    const std::lock_guard<std::mutex> lock(log_mutex);
    std::fputs(line.c_str(), stderr);
    std::fflush(stderr);
    t_note = RequestNote{};
  });
  return mock::serve(server, opts.host, opts.port, "mock_openai");
}
