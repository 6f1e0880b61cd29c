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

#include <nlohmann/json.hpp>

#include <balancer/client_request.h>

#include "json_splice.h"
#include "json_validate.h"

namespace {

using balancer::ErrorCode;
using balancer::MessageRequestInfo;
using balancer::Result;

// inspect_request_body before the validator: one nlohmann SAX pass over the whole body.
class OldRequestFieldsSax final : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit OldRequestFieldsSax(MessageRequestInfo& info) : info_(info) {}

  bool null() override { return scalar(Kind::Null); }
  bool boolean(bool value) override {
    if (at_top("stream")) {
      info_.stream = value;
    }
    return scalar(Kind::Other);
  }
  bool number_integer(number_integer_t /*value*/) override { return scalar(Kind::Other); }
  bool number_unsigned(number_unsigned_t /*value*/) override { return scalar(Kind::Other); }
  bool number_float(number_float_t /*value*/, const string_t& /*raw*/) override {
    return scalar(Kind::Other);
  }
  bool string(string_t& value) override {
    if (at_top("model")) {
      info_.model = value;
      model_is_string_ = true;
    } else if (at_top("provider")) {
      info_.pinned_provider = value;
    } else if (depth_ == 2 && in_metadata_ && key_ == "user_id") {
      info_.user_id = value;
    }
    return scalar(Kind::String);
  }
  bool binary(binary_t& /*value*/) override { return scalar(Kind::Other); }
  bool start_object(std::size_t /*size*/) override {
    if (depth_ == 0) {
      top_is_object_ = true;
    }
    if (at_top("model")) {
      model_seen_ = true;
    } else if (at_top("provider")) {
      provider_bad_ = true;
    }
    if (depth_ == 1) {
      in_metadata_ = key_ == "metadata";
    }
    ++depth_;
    return true;
  }
  bool end_object() override {
    --depth_;
    if (depth_ == 1) {
      in_metadata_ = false;
    }
    return true;
  }
  bool start_array(std::size_t /*size*/) override {
    if (at_top("model")) {
      model_seen_ = true;
    } else if (at_top("provider")) {
      provider_bad_ = true;
    }
    ++depth_;
    return true;
  }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool key(string_t& value) override {
    if (depth_ <= 2) {
      key_ = value;
    }
    return true;
  }
  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& ex) override {
    error_ = "request body is not valid JSON (byte " + std::to_string(position) + "): " +
             std::string(ex.what()).substr(0, 160);
    return false;
  }

  Result<MessageRequestInfo> result() const {
    if (!error_.empty()) {
      return balancer::make_error(ErrorCode::InvalidRequest, error_);
    }
    if (!top_is_object_) {
      return balancer::make_error(ErrorCode::InvalidRequest, "request body must be a JSON object");
    }
    if (!model_is_string_) {
      return balancer::make_error(ErrorCode::InvalidRequest,
                                  model_seen_ ? "model: must be a string" : "model: field required");
    }
    if (provider_bad_) {
      return balancer::make_error(ErrorCode::InvalidRequest, "provider: must be a string");
    }
    return info_;
  }

 private:
  enum class Kind { Null, String, Other };

  bool at_top(std::string_view key) const { return depth_ == 1 && key_ == key; }

  bool scalar(Kind kind) {
    if (depth_ == 0) {
      return true;
    }
    if (at_top("model") && kind != Kind::String) {
      model_seen_ = true;
    } else if (at_top("provider") && kind != Kind::String && kind != Kind::Null) {
      provider_bad_ = true;
    }
    return true;
  }

  MessageRequestInfo& info_;
  int depth_ = 0;
  std::string key_;
  bool top_is_object_ = false;
  bool model_seen_ = false;
  bool model_is_string_ = false;
  bool provider_bad_ = false;
  bool in_metadata_ = false;
  std::string error_;
};

Result<MessageRequestInfo> old_inspect_request_body(std::string_view body) {
  MessageRequestInfo info;
  OldRequestFieldsSax sax(info);
  nlohmann::json::sax_parse(body, &sax, nlohmann::json::input_format_t::json, true);
  return sax.result();
}

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
  body["system"] = ordered_json::array(
      {{{"type", "text"}, {"text", "You are Claude Code, Anthropic's official CLI for Claude."},
        {"cache_control", {{"type", "ephemeral"}}}},
       {{"type", "text"}, {"text", "You are an interactive CLI tool. " + prose}}});
  ordered_json tools = ordered_json::array();
  for (const char* name : {"Read", "Bash", "Edit", "Write", "Grep", "Glob", "TodoWrite"}) {
    tools.push_back(
        {{"name", name},
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
    messages.push_back({{"role", "user"},
                        {"content", ordered_json::array({{{"type", "text"}, {"text", prose}}})}});
    messages.push_back(
        {{"role", "assistant"},
         {"content",
          ordered_json::array({{{"type", "text"}, {"text", "Let me read the file."}},
                               {{"type", "tool_use"},
                                {"id", id},
                                {"name", "Read"},
                                {"input", {{"file_path", "/home/dev/project/src/handlers.c"}}}}})}});
    messages.push_back(
        {{"role", "user"},
         {"content", ordered_json::array({{{"type", "tool_result"},
                                           {"tool_use_id", id},
                                           {"content", source}}})}});
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
    best = std::max(best, static_cast<double>(body.size()) * static_cast<double>(iterations) /
                              seconds / 1e6);
  }
  return best;
}

std::size_t sink = 0;  // keeps results observable

void bench(const std::string& name, const std::string& body) {
  const auto old_result = old_inspect_request_body(body);
  const auto new_result = balancer::inspect_request_body(body);
  const bool agree = old_result.has_value() == new_result.has_value() &&
                     (!old_result || (old_result->model == new_result->model &&
                                      old_result->user_id == new_result->user_id &&
                                      old_result->stream == new_result->stream &&
                                      old_result->pinned_provider == new_result->pinned_provider));
  std::printf("%s: %zu bytes, results %s\n", name.c_str(), body.size(),
              agree ? "agree" : "DIFFER");
  const double old_mbs = best_mb_per_s(body, [](const std::string& b) {
    sink += old_inspect_request_body(b).has_value() ? 1 : 0;
  });
  const double new_mbs = best_mb_per_s(body, [](const std::string& b) {
    sink += balancer::inspect_request_body(b).has_value() ? 1 : 0;
  });
  const double validate_mbs = best_mb_per_s(body, [](const std::string& b) {
    sink += balancer::detail::find_json_error(b).has_value() ? 1 : 0;
  });
  const double scan_mbs = best_mb_per_s(body, [](const std::string& b) {
    sink += balancer::detail::scan_top_level_members(b).has_value() ? 1 : 0;
  });
  const double accept_mbs = best_mb_per_s(body, [](const std::string& b) {
    sink += nlohmann::json::accept(b) ? 1 : 0;
  });
  std::printf("  inspect_request_body  old (nlohmann SAX) %8.1f MB/s   new %8.1f MB/s   x%.1f\n",
              old_mbs, new_mbs, new_mbs / old_mbs);
  std::printf("  parts of new          find_json_error %8.1f MB/s   scan_top_level_members %8.1f MB/s\n",
              validate_mbs, scan_mbs);
  std::printf("  reference             nlohmann::json::accept %8.1f MB/s\n", accept_mbs);
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
