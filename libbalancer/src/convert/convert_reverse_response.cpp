// convert_reverse_response.cpp — Anthropic message → OpenAI chat.completion, for gateways that
// speak OpenAI inbound (the reverse of convert_response.cpp).
#include "convert/convert_common.h"

namespace balancer::detail {
namespace {

// ---- Anthropic message → chat.completion --------------------------------------------------

json openai_usage(const Node& usage) {
  const std::int64_t cached = count(usage.value(), "cache_read_input_tokens");
  const std::int64_t prompt =
      count(usage.value(), "input_tokens") + cached + count(usage.value(), "cache_creation_input_tokens");
  const std::int64_t completion = count(usage.value(), "output_tokens");
  return {{"prompt_tokens", prompt},
          {"completion_tokens", completion},
          {"total_tokens", prompt + completion},
          {"prompt_tokens_details", {{"cached_tokens", cached}}}};
}

json tool_call(const Node& block) {
  const json& input = block["input"].value();
  return {{"id", block.string("id", "tool_use without id")},
          {"type", "function"},
          {"function",
           {{"name", block.string("name", "tool_use without name")},
            {"arguments", dump_compact(input.is_null() ? json::object() : input)}}}};
}

// The content blocks → an OpenAI assistant message: text, tool_calls, reasoning_content.
json openai_message(const Node& content) {
  content.require_array("must be an array");
  std::vector<std::string> texts;
  std::vector<std::string> thinking;
  json::array_t calls;
  for (std::size_t i = 0; i < content.size(); ++i) {
    const Node block = content[i];
    const std::string type = block.string_or("type");
    if (type == "text") {
      texts.push_back(block.string("text", "text block without text"));
    } else if (type == "thinking") {
      thinking.push_back(block.string_or("thinking"));
    } else if (type == "tool_use") {
      calls.push_back(tool_call(block));
    }  // redacted_thinking and server-tool blocks have no OpenAI counterpart
  }
  // Text blocks of one answer are consecutive pieces (e.g. split at citations): joined as is.
  json message = {{"role", "assistant"}, {"content", texts.empty() ? json(nullptr) : json(join(texts, ""))}};
  if (!calls.empty()) {
    message["tool_calls"] = std::move(calls);
  }
  if (!thinking.empty()) {
    message["reasoning_content"] = join(thinking, "\n\n");
  }
  return message;
}

}  // namespace

// `created` is 0: these are pure functions without a clock.
json anthropic_response_to_openai(const json& message) {
  const Node root(message, "");
  root.require_object("not a JSON object");
  if (root.has("error")) {
    const std::string error = error_message(message);
    root.fail("upstream returned an error" + (error.empty() ? "" : ": " + error));
  }
  const std::string finish = finish_from_stop_reason(root["stop_reason"].value());
  return {{"id", "chatcmpl-" + root.string_or("id", "anthropic")},
          {"object", "chat.completion"},
          {"created", 0},
          {"model", root.string_or("model")},
          {"choices",
           json::array({{{"index", 0}, {"message", openai_message(root["content"])}, {"finish_reason", finish}}})},
          {"usage", openai_usage(root["usage"])}};
}

}  // namespace balancer::detail
