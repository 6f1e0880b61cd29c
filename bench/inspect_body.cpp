// bench_inspect_body — throughput of inspect_request_body: the old single-pass nlohmann SAX
// implementation (copied here) against the current one (detail::find_json_error, then
// detail::scan_top_level_members and parsing only the small routing values), on generated
// Claude Code-like bodies of about 20 KB and 200 KB, plus any JSON files given as arguments.
//
//   build/rel/tests/bench_inspect_body [body.json ...]
//
// Each figure is the best of 5 rounds of about 0.3 s; run it from a Release build on a quiet
// machine. Not a unit test.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>
#include <nlohmann/json.hpp>

#include "json/client_request.h"

#include "../tests/support/sax_request_oracle.h"
#include "json/json_splice.h"
#include "json/json_validate.h"

namespace {

using balancer::ErrorCode;
using balancer::MessageRequestInfo;
using balancer::Result;

// inspect_request_body before the validator: one nlohmann SAX pass over the whole body.
using balancer::test::old_inspect_request_body;

// A Claude Code-like Messages request: system prompt, tools with JSON schemas, and tool-use
// turns (text with non-ASCII, tool_use, tool_result with a source file) until `target_bytes`.
std::string claude_code_body(std::size_t target_bytes) {
  using nlohmann::ordered_json;
  const std::string prose =
      "Réponse: naïve café — 日本語のテキスト, emoji 😀🚀; \"quoted\" and back\\slash; "
      "The handler rejects status 17 because the dispatch table reserves it for internal use.";
  const std::string source =
      "#include <stdio.h>\n\nint handle_request(const struct request* req) {\n"
      "\tif (req->status == 17) {\n\t\tfprintf(stderr, \"rejected: %d\\n\", req->status);\n"
      "\t\treturn -1;\n\t}\n\treturn dispatch(req, 0x7f);\n}\n";
  ordered_json body;
  body["model"] = "claude-sonnet-4-5-20250929";
  body["max_tokens"] = 32000;
  body["system"] = ordered_json::array({{{"type", "text"},
                                         {"text", "You are Claude Code, Anthropic's official CLI for Claude."},
                                         {"cache_control", {{"type", "ephemeral"}}}},
                                        {{"type", "text"}, {"text", "You are an interactive CLI tool. " + prose}}});
  ordered_json tools = ordered_json::array();
  for (const char* name : {"Read", "Bash", "Edit", "Write", "Grep", "Glob", "TodoWrite"}) {
    tools.push_back({{"name", name},
                     {"description", std::string(name) + ": " + prose},
                     {"input_schema",
                      {{"type", "object"},
                       {"properties",
                        {{"file_path", {{"type", "string"}, {"description", "The absolute path"}}},
                         {"limit", {{"type", "number"}, {"minimum", 0}, {"maximum", 2000}}}}},
                       {"required", {"file_path"}},
                       {"additionalProperties", false},
                       {"$schema", "http://json-schema.org/draft-07/schema#"}}}});
  }
  body["tools"] = tools;
  body["metadata"] = {{"user_id", "user_5f1c0a9e_account_3b2d_session_7e4a9c10"}};
  body["stream"] = true;
  ordered_json& messages = body["messages"] = ordered_json::array();
  for (std::size_t turn = 0; body.dump().size() < target_bytes; ++turn) {
    const std::string id = "toolu_01Bench" + std::to_string(turn);
    messages.push_back({{"role", "user"}, {"content", ordered_json::array({{{"type", "text"}, {"text", prose}}})}});
    messages.push_back(
        {{"role", "assistant"},
         {"content", ordered_json::array({{{"type", "text"}, {"text", "Let me read the file."}},
                                          {{"type", "tool_use"},
                                           {"id", id},
                                           {"name", "Read"},
                                           {"input", {{"file_path", "/home/dev/project/src/handlers.c"}}}}})}});
    messages.push_back(
        {{"role", "user"},
         {"content", ordered_json::array({{{"type", "tool_result"}, {"tool_use_id", id}, {"content", source}}})}});
  }
  return body.dump();
}

template <class F>
double best_mb_per_s(const std::string& body, F&& run) {
  using clock = std::chrono::steady_clock;
  double best = 0;
  for (int round = 0; round < 5; ++round) {
    std::size_t iterations = 0;
    const auto start = clock::now();
    auto elapsed = clock::duration::zero();
    do {
      for (int k = 0; k < 8; ++k) {
        run(body);
      }
      iterations += 8;
      elapsed = clock::now() - start;
    } while (elapsed < std::chrono::milliseconds(300));
    const double seconds = std::chrono::duration<double>(elapsed).count();
    best = std::max(best, static_cast<double>(body.size()) * static_cast<double>(iterations) / seconds / 1e6);
  }
  return best;
}

std::size_t sink = 0;  // keeps results observable

// The nlohmann DOM of a simdjson element: what the OpenAI path would cost parsing with simdjson.
nlohmann::json to_nlohmann(simdjson::dom::element e) {
  using simdjson::dom::element_type;
  switch (e.type()) {
    case element_type::OBJECT: {
      nlohmann::json out = nlohmann::json::object();
      const simdjson::dom::object object = e.get_object().value_unsafe();
      for (const auto field : object) {
        out.emplace(std::string(field.key), to_nlohmann(field.value));
      }
      return out;
    }
    case element_type::ARRAY: {
      nlohmann::json out = nlohmann::json::array();
      const simdjson::dom::array array = e.get_array().value_unsafe();
      for (const simdjson::dom::element value : array) {
        out.push_back(to_nlohmann(value));
      }
      return out;
    }
    case element_type::STRING: return std::string(e.get_string().value_unsafe());
    case element_type::INT64: return e.get_int64().value_unsafe();
    case element_type::UINT64: return e.get_uint64().value_unsafe();
    case element_type::DOUBLE: return e.get_double().value_unsafe();
    case element_type::BOOL: return e.get_bool().value_unsafe();
    case element_type::NULL_VALUE: return nullptr;
  }
  return nullptr;
}

void bench(const std::string& name, const std::string& body) {
  const auto old_result = old_inspect_request_body(body);
  const auto new_result = balancer::inspect_request_body(body);
  const bool agree =
      old_result.has_value() == new_result.has_value() &&
      (!old_result ||
       (old_result->model == new_result->model && old_result->user_id == new_result->user_id &&
        old_result->stream == new_result->stream && old_result->pinned_provider == new_result->pinned_provider));
  std::printf("%s: %zu bytes, results %s\n", name.c_str(), body.size(), agree ? "agree" : "DIFFER");
  const double old_mbs =
      best_mb_per_s(body, [](const std::string& b) { sink += old_inspect_request_body(b).has_value() ? 1 : 0; });
  const double new_mbs =
      best_mb_per_s(body, [](const std::string& b) { sink += balancer::inspect_request_body(b).has_value() ? 1 : 0; });
  const double validate_mbs = best_mb_per_s(
      body, [](const std::string& b) { sink += balancer::detail::find_json_error(b).has_value() ? 1 : 0; });
  const double scan_mbs = best_mb_per_s(
      body, [](const std::string& b) { sink += balancer::detail::scan_top_level_members(b).has_value() ? 1 : 0; });
  const double accept_mbs =
      best_mb_per_s(body, [](const std::string& b) { sink += nlohmann::json::accept(b) ? 1 : 0; });
  std::printf("  inspect_request_body  old (nlohmann SAX) %8.1f MB/s   new %8.1f MB/s   x%.1f\n", old_mbs, new_mbs,
              new_mbs / old_mbs);
  std::printf("  parts of new          find_json_error %8.1f MB/s   scan_top_level_members %8.1f MB/s\n", validate_mbs,
              scan_mbs);
  std::printf("  reference             nlohmann::json::accept %8.1f MB/s\n", accept_mbs);
  const double dom_mbs =
      best_mb_per_s(body, [](const std::string& b) { sink += nlohmann::json::parse(b, nullptr, false).size(); });
  std::printf("  DOM (OpenAI path)     nlohmann::json::parse %8.1f MB/s\n", dom_mbs);
  // The body as it arrives has no simdjson padding: the copy into a padded string is counted.
  simdjson::dom::parser parser;
  const double simd_mbs = best_mb_per_s(body, [&parser](const std::string& b) {
    const simdjson::padded_string padded(b);
    sink += parser.parse(padded).error() == simdjson::SUCCESS ? 1 : 0;
  });
  const double simd_inspect_mbs = best_mb_per_s(body, [&parser](const std::string& b) {
    // What inspection needs from it: validation plus the routing values (model, stream).
    const simdjson::padded_string padded(b);
    auto doc = parser.parse(padded);
    std::string_view model;
    bool stream = false;
    if (doc.error() == simdjson::SUCCESS) {
      if (doc["model"].get(model) != simdjson::SUCCESS || doc["stream"].get(stream) != simdjson::SUCCESS) {
        model = {};
      }
    }
    sink += model.size() + (stream ? 1 : 0);
  });
  std::printf("  simdjson 3.0          dom::parser::parse (validates all) %8.1f MB/s   + model/stream %8.1f MB/s\n",
              simd_mbs, simd_inspect_mbs);
  const double simd_tree_mbs = best_mb_per_s(body, [&parser](const std::string& b) {
    const simdjson::padded_string padded(b);
    auto doc = parser.parse(padded);
    sink += doc.error() == simdjson::SUCCESS ? to_nlohmann(doc.value_unsafe()).size() : 0;
  });
  std::printf("  simdjson, then        an nlohmann DOM built from its tree %8.1f MB/s\n", simd_tree_mbs);
}

}  // namespace

int main(int argc, char** argv) {
  bench("generated ~20 KB", claude_code_body(20 * 1024));
  bench("generated ~200 KB", claude_code_body(200 * 1024));
  for (int i = 1; i < argc; ++i) {
    std::ifstream file(argv[i], std::ios::binary);
    std::stringstream content;
    content << file.rdbuf();
    bench(argv[i], content.str());
  }
  return sink == 0 ? 1 : 0;
}
