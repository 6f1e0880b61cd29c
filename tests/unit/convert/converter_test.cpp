// converter_test.cpp — golden-file and property tests of the Anthropic ⇄ OpenAI Converter.
// Goldens live in tests/data/converter; with BALANCER_UPDATE_GOLDEN set the tests write the
// actual outputs instead of comparing (review every changed golden by eye before keeping it).
#include <balancer/converter.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace balancer;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// ---- Fixture helpers --------------------------------------------------------------------

const fs::path& data_dir() {
  static const fs::path dir = fs::path(BALANCER_SOURCE_DIR) / "tests" / "data" / "converter";
  return dir;
}

bool update_mode() { return std::getenv("BALANCER_UPDATE_GOLDEN") != nullptr; }

json read_json(const std::string& name) {
  std::ifstream in(data_dir() / name, std::ios::binary);
  INFO("reading " << (data_dir() / name).string());
  REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  return json::parse(text.str());
}

void write_json(const std::string& name, const json& value) {
  std::ofstream out(data_dir() / name, std::ios::binary | std::ios::trunc);
  out << value.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
}

// Strict chat templates (Mistral, many vLLM/TGI ones) and Anthropic want user and assistant
// turns to alternate: no two consecutive messages of one role, except OpenAI's run of tool
// messages that answer one assistant message.
void check_roles_alternate(const json& messages) {
  for (std::size_t i = 1; i < messages.size(); ++i) {
    const std::string role = messages[i].value("role", "");
    INFO("messages[" << i - 1 << "] and messages[" << i << "] both have role " << role);
    CHECK((role == "tool" || role != messages[i - 1].value("role", "")));
  }
}

// Compares `actual` with the golden file `name`, or writes it in update mode. Every converted
// request (either direction) must alternate its roles, whatever its golden says.
void check_golden(const std::string& name, const json& actual) {
  if (actual.is_object() && actual.contains("messages")) {
    INFO("golden " << name);
    check_roles_alternate(actual["messages"]);
  }
  if (update_mode()) {
    write_json(name, actual);
    return;
  }
  INFO("golden " << name << " (missing? run with BALANCER_UPDATE_GOLDEN=1 and review it)");
  REQUIRE(fs::exists(data_dir() / name));
  const json expected = read_json(name);
  INFO("expected:\n" << expected.dump(2) << "\nactual:\n" << actual.dump(2));
  CHECK(actual == expected);
}

// Notes are golden too: `<case>.notes.json` when there are any, no file when there are none.
void check_notes(const std::string& name, const std::vector<std::string>& notes) {
  const std::string file = name + ".notes.json";
  if (update_mode() && notes.empty()) {
    fs::remove(data_dir() / file);
    return;
  }
  if (!notes.empty() || fs::exists(data_dir() / file)) {
    check_golden(file, notes);
  }
}

// All fixture files whose names start with `prefix` and end with `suffix`, sorted.
std::vector<std::string> fixtures(const std::string& prefix, const std::string& suffix) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(data_dir())) {
    const std::string name = entry.path().filename().string();
    const bool matches = name.rfind(prefix, 0) == 0 && name.size() > prefix.size() + suffix.size() &&
                         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    if (matches) {
      names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string strip_suffix(const std::string& name, const std::string& suffix) {
  return name.substr(0, name.size() - suffix.size());
}

// The realistic Claude Code requests: claude_code_*.json except the goldens next to them.
std::vector<std::string> claude_code_inputs() {
  std::vector<std::string> names;
  for (const std::string& name : fixtures("claude_code_", ".json")) {
    if (name.find(".openai.json") == std::string::npos && name.find(".notes.json") == std::string::npos) {
      names.push_back(name);
    }
  }
  return names;
}

// ---- Property helpers -------------------------------------------------------------------

// Every string in `value` (keys included), for "nothing of X survived" checks.
bool contains_string(const json& value, const std::string& needle) {
  return value.dump().find(needle) != std::string::npos;
}

// Every text of an Anthropic request (system, text blocks, tool results), in order.
std::vector<std::string> anthropic_texts(const json& request) {
  std::vector<std::string> texts;
  auto add_content = [&](const json& content, auto& self) -> void {
    if (content.is_string()) {
      texts.push_back(content.get<std::string>());
      return;
    }
    for (const json& block : content) {
      if (block.value("type", "") == "text") {
        texts.push_back(block["text"].get<std::string>());
      } else if (block.value("type", "") == "tool_result" && block.contains("content")) {
        self(block["content"], self);
      }
    }
  };
  if (request.contains("system")) {
    add_content(request["system"], add_content);
  }
  for (const json& message : request["messages"]) {
    add_content(message["content"], add_content);
  }
  return texts;
}

// (id, name, input) of every tool_use and the id of every tool_result, in order.
struct ToolTrace {
  std::vector<json> uses;
  std::vector<std::string> result_ids;
};

ToolTrace tool_trace(const json& request) {
  ToolTrace trace;
  for (const json& message : request["messages"]) {
    if (!message["content"].is_array()) {
      continue;
    }
    for (const json& block : message["content"]) {
      if (block["type"] == "tool_use") {
        trace.uses.push_back({block["id"], block["name"], block["input"]});
      } else if (block["type"] == "tool_result") {
        trace.result_ids.push_back(block["tool_use_id"].get<std::string>());
      }
    }
  }
  return trace;
}

// The user's own words in the last turn of an Anthropic request: the last text that is not a
// <system-reminder> block, in the user messages after the last assistant message. Empty when
// that turn holds only tool results and reminders.
std::string last_prompt(const json& request) {
  std::string prompt;
  for (const json& message : request["messages"]) {
    if (message["role"] == "assistant") {
      prompt.clear();
    } else if (message["role"] == "user") {
      const json content = message["content"].is_string()
                               ? json::array({{{"type", "text"}, {"text", message["content"]}}})
                               : message["content"];
      for (const json& block : content) {
        const std::string text = block.value("text", "");
        if (block["type"] == "text" && !text.empty() && text.rfind("<system-reminder>", 0) != 0) {
          prompt = text;
        }
      }
    }
  }
  return prompt;
}

// Whether the content of the last user message of an OpenAI request contains `text`.
bool last_user_message_has(const json& body, const std::string& text) {
  const json& messages = body["messages"];
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    if ((*it)["role"] != "user") {
      continue;
    }
    const json& content = (*it)["content"];
    if (content.is_string()) {
      return content.get<std::string>().find(text) != std::string::npos;
    }
    return std::any_of(content.begin(), content.end(),
                       [&](const json& part) { return part.value("text", "").find(text) != std::string::npos; });
  }
  return false;
}

// The turns of an Anthropic request: runs of one role, system entries counting as user.
std::size_t turns(const json& request) {
  std::size_t count = 0;
  std::string previous;
  for (const json& message : request["messages"]) {
    const std::string role = message["role"] == "assistant" ? "assistant" : "user";
    count += role != previous ? 1 : 0;
    previous = role;
  }
  return count;
}

std::set<std::string> schema_tool_names(const json& request) {
  std::set<std::string> names;
  for (const json& tool : request.value("tools", json::array())) {
    if (tool.contains("input_schema")) {
      names.insert(tool["name"].get<std::string>());
    }
  }
  return names;
}

// Checks the OpenAI structure rules: system first, every tool message answers a tool call
// of the assistant message right before the run of tool messages it is in.
void check_openai_structure(const json& body) {
  const json& messages = body["messages"];
  REQUIRE(!messages.empty());
  std::set<std::string> open_calls;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const json& message = messages[i];
    const std::string role = message["role"];
    INFO("messages[" << i << "] role " << role);
    CHECK((role != "system" || i == 0));
    if (role == "assistant") {
      open_calls.clear();
      for (const json& call : message.value("tool_calls", json::array())) {
        open_calls.insert(call["id"].get<std::string>());
      }
    } else if (role == "tool") {
      CHECK(open_calls.erase(message["tool_call_id"].get<std::string>()) == 1);
    } else {
      CHECK(open_calls.empty());  // every tool call answered before the next user turn
      open_calls.clear();
    }
  }
}

// REQUIRE that a Result holds a value, showing the error message when it does not.
template <class R>
void require_ok(const R& result) {
  INFO((result.has_value() ? std::string() : result.error().message));
  REQUIRE(result.has_value());
}

const Converter& converter() {
  static const Converter instance;
  return instance;
}

}  // namespace

// ---- Anthropic → OpenAI request goldens ---------------------------------------------------

namespace {

struct RequestCase {
  const char* name;
  ConverterOptions options;
  const char* upstream_model;
};

const RequestCase kRequestCases[] = {
    {"text_string", {}, ""},
    {"text_blocks_cache_control", {}, ""},
    {"system_blocks", {}, ""},
    {"system_message_mid", {}, ""},
    {"system_message_leading", {}, ""},
    {"merge_adjacent_turns", {}, ""},
    {"image_base64", {}, ""},
    {"image_url", {}, ""},
    {"document_text", {}, ""},
    {"document_content", {}, ""},
    {"document_pdf_base64", {}, ""},
    {"tool_use_tool_result", {}, ""},
    {"tool_result_error", {}, ""},
    {"tool_result_image", {}, ""},
    {"thinking", {}, ""},
    {"send_reasoning_disabled",
     {.max_completion_tokens = false, .send_reasoning_content = false, .max_output_tokens = 0},
     ""},
    {"server_tools", {}, ""},
    {"server_tools_only", {}, ""},
    {"tool_choice_auto", {}, ""},
    {"tool_choice_any", {}, ""},
    {"tool_choice_tool", {}, ""},
    {"tool_choice_none", {}, ""},
    {"parameters", {}, ""},
    {"max_completion_tokens",
     {.max_completion_tokens = true, .send_reasoning_content = true, .max_output_tokens = 0},
     "gpt-5-mini"},
    {"max_output_tokens",
     {.max_completion_tokens = false, .send_reasoning_content = true, .max_output_tokens = 8192},
     "deepseek-chat"},
    {"stream", {}, "deepseek-chat"},
    {"unknown_block", {}, ""},
};

}  // namespace

TEST_CASE("converter: Anthropic request → OpenAI request goldens", "[unit][converter]") {
  for (const RequestCase& c : kRequestCases) {
    INFO("case " << c.name);
    const Converter conv(c.options);
    auto result =
        conv.anthropic_to_openai_request(read_json(std::string(c.name) + ".anthropic.json"), c.upstream_model);
    require_ok(result);
    check_golden(std::string(c.name) + ".openai.json", result->body);
    check_notes(c.name, result->notes);
    CHECK_FALSE(contains_string(result->body, "cache_control"));
    check_openai_structure(result->body);
    const std::string prompt = last_prompt(read_json(std::string(c.name) + ".anthropic.json"));
    if (!prompt.empty()) {
      INFO("prompt " << prompt);
      CHECK(last_user_message_has(result->body, prompt));
    }
  }
}

// ---- Realistic Claude Code requests -------------------------------------------------------

TEST_CASE("converter: realistic Claude Code requests", "[unit][converter]") {
  const std::vector<std::string> inputs = claude_code_inputs();
  REQUIRE(!inputs.empty());
  for (const std::string& file : inputs) {
    INFO("fixture " << file);
    const json request = read_json(file);
    auto result = converter().anthropic_to_openai_request(request);
    require_ok(result);
    const json& body = result->body;
    const std::string name = strip_suffix(file, ".json");
    check_golden(name + ".openai.json", body);
    check_notes(name, result->notes);

    std::set<std::string> functions;
    for (const json& tool : body["tools"]) {
      functions.insert(tool["function"]["name"].get<std::string>());
    }
    CHECK(functions == schema_tool_names(request));
    std::vector<std::string> call_ids;
    for (const json& message : body["messages"]) {
      for (const json& call : message.value("tool_calls", json::array())) {
        call_ids.push_back(call["id"].get<std::string>());
      }
    }
    std::vector<std::string> use_ids;
    for (const json& use : tool_trace(request).uses) {
      use_ids.push_back(use[0].get<std::string>());
    }
    CHECK(call_ids == use_ids);
    CHECK_FALSE(contains_string(body, "cache_control"));
    CHECK(body["messages"][0]["role"] == "system");
    CHECK(body["messages"].size() >= turns(request));
    CHECK(body["messages"].size() <= request["messages"].size() * 8 + 1);
    check_openai_structure(body);

    // Claude Code 2.1.3xx puts system entries after the prompt; the prompt must stay in the
    // last user message (with the reminders merged into it, in order).
    const std::string prompt = last_prompt(request);
    if (file.rfind("claude_code_system_", 0) == 0) {
      CHECK_FALSE(prompt.empty());
      CHECK(body["messages"].back()["role"] == "user");
    }
    if (!prompt.empty()) {
      INFO("prompt " << prompt);
      CHECK(last_user_message_has(body, prompt));
    }
  }
}

// ---- Round trip ---------------------------------------------------------------------------

TEST_CASE("converter: Anthropic → OpenAI → Anthropic keeps text, tools and ids", "[unit][converter]") {
  std::vector<std::string> files = fixtures("", ".anthropic.json");
  for (const std::string& file : claude_code_inputs()) {
    files.push_back(file);
  }
  REQUIRE(files.size() > 10);
  for (const std::string& file : files) {
    if (file.rfind("reverse_", 0) == 0 || file.rfind("response_", 0) == 0) {
      continue;
    }
    INFO("fixture " << file);
    const json original = read_json(file);
    auto there = converter().anthropic_to_openai_request(original);
    require_ok(there);
    auto back = converter().openai_to_anthropic_request(there->body);
    require_ok(back);
    const json& returned = back->body;
    check_roles_alternate(there->body["messages"]);
    check_roles_alternate(returned["messages"]);

    std::string all_text;
    for (const std::string& text : anthropic_texts(returned)) {
      all_text += text + "\n";
    }
    for (const std::string& text : anthropic_texts(original)) {
      if (text.rfind("x-anthropic-billing-header:", 0) == 0) {
        continue;  // Claude Code's billing block is dropped on purpose
      }
      INFO("text " << text);
      CHECK(all_text.find(text) != std::string::npos);
    }
    CHECK(tool_trace(returned).uses == tool_trace(original).uses);
    CHECK(tool_trace(returned).result_ids == tool_trace(original).result_ids);
    CHECK(schema_tool_names(returned) == schema_tool_names(original));
  }
}

// ---- Request errors -----------------------------------------------------------------------

TEST_CASE("converter: malformed Anthropic requests are InvalidRequest naming the path", "[unit][converter]") {
  struct Case {
    const char* request;
    const char* message;
  };
  const Case cases[] = {
      {R"([])", "the request must be a JSON object"},
      {R"({"max_tokens":1,"messages":[]})", "model is required"},
      {R"({"model":"m","messages":{}})", "messages: must be an array"},
      {R"({"model":"m","messages":["hi"]})", "messages[0]: must be an object"},
      {R"({"model":"m","messages":[{"role":"tool","content":"x"}]})",
       "messages[0]: role must be \"user\", \"assistant\" or \"system\""},
      {R"({"model":"m","messages":[{"role":"user","content":"x"},{"role":"system","content":[{"type":"image"}]}]})",
       "messages[1].content[0]: system blocks must be text"},
      {R"({"model":"m","messages":[{"role":"user","content":7}]})",
       "messages[0].content: content must be a string or an array of blocks"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"text":"x"}]}]})",
       "messages[0].content[0]: block without type"},
      {R"({"model":"m","messages":[{"role":"user","content":["x"]}]})",
       "messages[0].content[0]: content block must be an object"},
      {R"({"model":"m","messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"text","text":"a"},{"type":"tool_use","name":"Read","input":{}}]}]})",
       "messages[1].content[1]: tool_use without id"},
      {R"({"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","input":{}}]}]})",
       "messages[0].content[0]: tool_use without name"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]})",
       "messages[0].content[0]: tool_result without tool_use_id"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"document","source":{"type":"url","url":"https://x/a.pdf"}}]}]})",
       "messages[0].content[0]: document blocks with a URL source cannot be sent to an OpenAI-compatible provider"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"document","source":{"type":"url","url":"u"}}]}]}]})",
       "messages[0].content[0].content[0]: document blocks with a URL source"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]})",
       "messages[0].content[0].source: image source type 'file' cannot be sent"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","data":"x"}}]}]})",
       "messages[0].content[0].source: base64 image without media_type"},
      {R"({"model":"m","system":[{"type":"image"}],"messages":[]})", "system[0]: system blocks must be text"},
      {R"({"model":"m","messages":[],"tools":[{"input_schema":{}}]})", "tools[0]: tool without name"},
      {R"({"model":"m","messages":[],"max_tokens":"many"})", "max_tokens: must be an integer"},
  };
  for (const Case& c : cases) {
    INFO(c.request);
    auto result = converter().anthropic_to_openai_request(json::parse(c.request));
    REQUIRE_FALSE(result.has_value());
    CHECK(result.error().code == ErrorCode::InvalidRequest);
    CHECK_THAT(result.error().message, Catch::Matchers::StartsWith(c.message));
  }
}

TEST_CASE("converter: notes name what was dropped", "[unit][converter]") {
  auto result = converter().anthropic_to_openai_request(read_json("claude_code_bench.json"));
  require_ok(result);
  const auto& notes = result->notes;
  auto has = [&](const std::string& note) { return std::find(notes.begin(), notes.end(), note) != notes.end(); };
  CHECK(has("cache_control dropped"));
  CHECK(has("thinking config dropped"));
  CHECK(has("server tool 'web_search' (web_search_20250305) left out"));
  CHECK(std::count(notes.begin(), notes.end(), "cache_control dropped") == 1);
}

// ---- OpenAI response → Anthropic message ----------------------------------------------------

TEST_CASE("converter: OpenAI response → Anthropic message goldens", "[unit][converter]") {
  const std::vector<std::string> inputs = fixtures("response_", ".openai.json");
  REQUIRE(inputs.size() >= 10);
  for (const std::string& file : inputs) {
    INFO("fixture " << file);
    auto result = converter().openai_to_anthropic_response(read_json(file), "claude-sonnet-4-5");
    require_ok(result);
    check_golden(strip_suffix(file, ".openai.json") + ".anthropic.json", *result);
  }
}

TEST_CASE("converter: unusable OpenAI responses are UpstreamProtocol errors", "[unit][converter]") {
  struct Case {
    const char* response;
    const char* message;
  };
  const Case cases[] = {
      {R"("text")", "OpenAI response: not a JSON object"},
      {R"({"id":"x","choices":[]})", "OpenAI response: no choices"},
      {R"({"id":"x"})", "OpenAI response: no choices"},
      {R"({"error":{"message":"Rate limit reached","type":"requests"}})",
       "OpenAI response: upstream returned an error: Rate limit reached"},
      {R"({"choices":[{"index":0}]})", "OpenAI response: choices[0].message: missing or not an object"},
      {R"({"choices":[{"message":{"tool_calls":[{"id":"c","function":{"arguments":"{}"}}]}}]})",
       "OpenAI response: choices[0].message.tool_calls[0].function: tool call without name"},
  };
  for (const Case& c : cases) {
    INFO(c.response);
    auto result = converter().openai_to_anthropic_response(json::parse(c.response), "m");
    REQUIRE_FALSE(result.has_value());
    CHECK(result.error().code == ErrorCode::UpstreamProtocol);
    CHECK(result.error().message == c.message);
  }
}

// ---- Error bodies ---------------------------------------------------------------------------

TEST_CASE("converter: OpenAI error bodies → Anthropic error bodies", "[unit][converter]") {
  struct Case {
    int status;
    std::string body;
    const char* type;
    std::string message;
  };
  const std::string long_body(600, 'x');
  const Case cases[] = {
      {400, R"({"error":{"message":"Invalid 'messages[1]'","type":"invalid_request_error","code":null}})",
       "invalid_request_error", "Invalid 'messages[1]'"},
      {400,
       R"({"error":{"message":"This model's maximum context length is 128000 tokens.","code":"context_length_exceeded"}})",
       "invalid_request_error", "prompt is too long: This model's maximum context length is 128000 tokens."},
      {401, R"({"error":{"message":"Incorrect API key provided"}})", "authentication_error",
       "Incorrect API key provided"},
      {402, R"({"error":"Insufficient balance"})", "billing_error", "Insufficient balance"},
      {403, R"({"message":"Forbidden region"})", "permission_error", "Forbidden region"},
      {404, R"({"detail":"Not Found"})", "not_found_error", "Not Found"},
      {413, "<html>Request Entity Too Large</html>", "request_too_large", "<html>Request Entity Too Large</html>"},
      {422, R"({"detail":[{"loc":["body"],"msg":"bad"}]})", "invalid_request_error", "upstream returned HTTP 422"},
      {429, R"({"error":{"message":"Rate limit exceeded","type":"rate_limit_exceeded"}})", "rate_limit_error",
       "Rate limit exceeded"},
      {500, "", "api_error", "upstream returned HTTP 500"},
      {502, "  Bad Gateway\n", "api_error", "Bad Gateway"},
      {503, long_body, "api_error", std::string(500, 'x')},
      {529, R"({"error":{"message":"Overloaded"}})", "overloaded_error", "Overloaded"},
  };
  for (const Case& c : cases) {
    INFO(c.status << " " << c.body);
    const json expected = {{"type", "error"}, {"error", {{"type", c.type}, {"message", c.message}}}};
    CHECK(Converter::openai_to_anthropic_error(c.status, c.body) == expected);
  }
  // A cut in the middle of a multi-byte character backs off to the character boundary.
  const std::string accented = std::string(499, 'a') + "\xC3\xA9tail";
  CHECK(Converter::openai_to_anthropic_error(500, accented)["error"]["message"] == std::string(499, 'a'));
}

TEST_CASE("converter: Anthropic error bodies → OpenAI error bodies", "[unit][converter]") {
  auto error = [](const char* message, const char* type, json code) {
    return json{{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", code}}}};
  };
  CHECK(Converter::anthropic_to_openai_error(
            400, R"({"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too large"}})") ==
        error("max_tokens: too large", "invalid_request_error", nullptr));
  CHECK(
      Converter::anthropic_to_openai_error(
          400,
          R"({"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}})") ==
      error("prompt is too long: 210000 tokens > 200000 maximum", "invalid_request_error", "context_length_exceeded"));
  CHECK(Converter::anthropic_to_openai_error(
            429, R"({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}})") ==
        error("slow down", "rate_limit_error", "rate_limit_exceeded"));
  CHECK(Converter::anthropic_to_openai_error(
            401, R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}})") ==
        error("invalid x-api-key", "authentication_error", "invalid_api_key"));
  CHECK(Converter::anthropic_to_openai_error(
            529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})") ==
        error("Overloaded", "overloaded_error", nullptr));
  CHECK(Converter::anthropic_to_openai_error(502, "bad gateway") == error("bad gateway", "api_error", nullptr));
  CHECK(Converter::anthropic_to_openai_error(404, "") ==
        error("upstream returned HTTP 404", "not_found_error", nullptr));
}

// ---- Reverse directions -----------------------------------------------------------------------

TEST_CASE("converter: OpenAI request → Anthropic request goldens", "[unit][converter]") {
  const std::vector<std::string> inputs = fixtures("reverse_request_", ".openai.json");
  REQUIRE(inputs.size() >= 3);
  for (const std::string& file : inputs) {
    INFO("fixture " << file);
    auto result = converter().openai_to_anthropic_request(read_json(file));
    require_ok(result);
    const std::string name = strip_suffix(file, ".openai.json");
    check_golden(name + ".anthropic.json", result->body);
    check_notes(name, result->notes);
  }
}

TEST_CASE("converter: malformed OpenAI requests are InvalidRequest naming the path", "[unit][converter]") {
  struct Case {
    const char* request;
    const char* message;
  };
  const Case cases[] = {
      {R"({"messages":[]})", "model is required"},
      {R"({"model":"m","messages":[{"role":"function","content":"x"}]})",
       "messages[0]: role must be system, developer, user, assistant or tool"},
      {R"({"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{bad"}}]}]})",
       "messages[0].tool_calls[0].function.arguments: must be a JSON object in a string"},
      {R"({"model":"m","messages":[{"role":"tool","content":"x"}]})", "messages[0]: tool message without tool_call_id"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]})",
       "messages[0].content[0].image_url: data URL must be base64 with a media type"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-1"}}]}]})",
       "messages[0].content[0].file: file parts need file_data"},
  };
  for (const Case& c : cases) {
    INFO(c.request);
    auto result = converter().openai_to_anthropic_request(json::parse(c.request));
    REQUIRE_FALSE(result.has_value());
    CHECK(result.error().code == ErrorCode::InvalidRequest);
    CHECK_THAT(result.error().message, Catch::Matchers::StartsWith(c.message));
  }
}

TEST_CASE("converter: Anthropic message → OpenAI response goldens", "[unit][converter]") {
  const std::vector<std::string> inputs = fixtures("reverse_response_", ".anthropic.json");
  REQUIRE(inputs.size() >= 3);
  for (const std::string& file : inputs) {
    INFO("fixture " << file);
    auto result = converter().anthropic_to_openai_response(read_json(file));
    require_ok(result);
    check_golden(strip_suffix(file, ".anthropic.json") + ".openai.json", *result);
  }
  auto error = converter().anthropic_to_openai_response(
      json::parse(R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})"));
  REQUIRE_FALSE(error.has_value());
  CHECK(error.error().message == "Anthropic response: upstream returned an error: Overloaded");
}

// ---- Response round trip ------------------------------------------------------------------------

TEST_CASE("converter: OpenAI response → Anthropic → OpenAI keeps content and tool calls", "[unit][converter]") {
  for (const std::string& file : fixtures("response_", ".openai.json")) {
    INFO("fixture " << file);
    const json original = read_json(file);
    auto anthropic = converter().openai_to_anthropic_response(original, "claude");
    require_ok(anthropic);
    auto back = converter().anthropic_to_openai_response(*anthropic);
    require_ok(back);
    const json& before = original["choices"][0]["message"];
    const json& after = (*back)["choices"][0]["message"];
    if (before.value("content", json()).is_string() && !before["content"].get<std::string>().empty()) {
      CHECK(after["content"] == before["content"]);
    }
    const json calls = before.value("tool_calls", json::array());
    if (before.contains("function_call")) {
      continue;  // the legacy function_call comes back as a tool call
    }
    REQUIRE(after.value("tool_calls", json::array()).size() == calls.size());
    for (std::size_t i = 0; i < calls.size(); ++i) {
      if (calls[i].contains("id")) {
        CHECK(after["tool_calls"][i]["id"] == calls[i]["id"]);
      }
      CHECK(after["tool_calls"][i]["function"]["name"] == calls[i]["function"]["name"]);
    }
  }
}
