// convert_response.cpp — OpenAI chat.completion → Anthropic message (spec §7): reasoning →
// thinking, content → text, tool_calls → tool_use (arguments parsed), finish_reason →
// stop_reason, usage with cached tokens split out.
#include <algorithm>
#include <cctype>

#include "convert/convert_common.h"

namespace balancer::detail {
namespace {

// "msg_" + the letters and digits of the OpenAI id ("msg_openai" when there are none).
std::string alnum_id(const json& response) {
  std::string id;
  if (response.contains("id") && response["id"].is_string()) {
    for (char c : response["id"].get_ref<const std::string&>()) {
      if (std::isalnum(static_cast<unsigned char>(c)) != 0) {
        id += c;
      }
    }
  }
  return id.empty() ? "openai" : id;
}

bool blank(const std::string& text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; });
}

// Tool-call arguments → the tool_use input: an object as sent, "" → {}, anything else that
// does not parse to an object → {"raw_arguments": "<the string>"} so nothing is lost.
json parse_arguments(const json& arguments) {
  if (arguments.is_object()) {
    return arguments;  // some providers send the object itself
  }
  if (arguments.is_null()) {
    return json::object();
  }
  if (!arguments.is_string()) {
    return {{"raw_arguments", dump_compact(arguments)}};
  }
  const std::string& raw = arguments.get_ref<const std::string&>();
  if (blank(raw)) {
    return json::object();
  }
  json parsed = json::parse(raw, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return {{"raw_arguments", raw}};
  }
  return parsed;
}

// One OpenAI tool call (or a legacy function_call when `call` is the function itself) →
// a tool_use block. A provider that sends no id gets "toolu_<response id>_<index>".
json tool_use_block(const Node& call, const Node& function, const std::string& fallback_id) {
  function.require_object("tool call without function");
  std::string id = call.string_or("id");
  return {{"type", "tool_use"},
          {"id", id.empty() ? fallback_id : id},
          {"name", function.string("name", "tool call without name")},
          {"input", parse_arguments(function["arguments"].value())}};
}

// The content blocks of the message: thinking, then text, then tool_use blocks.
json::array_t content_blocks(const Node& message, const std::string& id) {
  json::array_t blocks;
  std::string reasoning = message.string_or("reasoning_content");
  if (reasoning.empty()) {
    reasoning = message.string_or("reasoning");
  }
  if (!reasoning.empty()) {
    blocks.push_back({{"type", "thinking"}, {"thinking", reasoning}, {"signature", ""}});
  }
  const std::string text = openai_text(message["content"].value(), "");
  if (!text.empty()) {
    blocks.push_back({{"type", "text"}, {"text", text}});
  }
  const Node calls = message["tool_calls"];
  for (std::size_t i = 0; i < calls.size(); ++i) {
    const Node call = calls[i];
    call.require_object("tool call must be an object");
    blocks.push_back(tool_use_block(call, call["function"], "toolu_" + id + "_" + std::to_string(i)));
  }
  if (message.has("function_call")) {
    blocks.push_back(tool_use_block(message["function_call"], message["function_call"], "toolu_" + id + "_function"));
  }
  return blocks;
}

bool has_block(const json::array_t& blocks, std::string_view type) {
  return std::any_of(blocks.begin(), blocks.end(), [&](const json& block) { return block["type"] == type; });
}

json anthropic_usage(const Node& usage) {
  std::int64_t cached = count(usage["prompt_tokens_details"].value(), "cached_tokens");
  if (cached == 0) {
    cached = count(usage.value(), "prompt_cache_hit_tokens");  // DeepSeek
  }
  const std::int64_t prompt = count(usage.value(), "prompt_tokens");
  cached = std::min(cached, prompt);  // as the stream translator does
  return {{"input_tokens", prompt - cached},
          {"output_tokens", count(usage.value(), "completion_tokens")},
          {"cache_read_input_tokens", cached},
          {"cache_creation_input_tokens", 0}};
}

}  // namespace

json openai_response_to_anthropic(const json& response, std::string_view client_model) {
  const Node root(response, "");
  root.require_object("not a JSON object");
  if (root.has("error")) {
    const std::string message = error_message(response);
    root.fail("upstream returned an error" + (message.empty() ? "" : ": " + message));
  }
  const Node choices = root["choices"];
  if (choices.size() == 0) {
    root.fail("no choices");
  }
  const Node choice = choices[0];
  choice.require_object("must be an object");
  const Node message = choice["message"];
  message.require_object("missing or not an object");

  const std::string id = alnum_id(response);
  json::array_t blocks = content_blocks(message, id);
  std::string stop_reason = stop_reason_from_finish(choice["finish_reason"].value());
  const std::string refusal = message.string_or("refusal");
  if (!has_block(blocks, "text") && !refusal.empty()) {
    blocks.push_back({{"type", "text"}, {"text", refusal}});
    stop_reason = "refusal";
  }
  // Some providers answer "stop" with tool calls; Claude Code runs tools on tool_use.
  if (stop_reason == "end_turn" && has_block(blocks, "tool_use")) {
    stop_reason = "tool_use";
  }
  return {{"id", "msg_" + id},
          {"type", "message"},
          {"role", "assistant"},
          {"model", std::string(client_model)},
          {"content", std::move(blocks)},
          {"stop_reason", stop_reason},
          {"stop_sequence", nullptr},
          {"usage", anthropic_usage(root["usage"])}};
}

}  // namespace balancer::detail
