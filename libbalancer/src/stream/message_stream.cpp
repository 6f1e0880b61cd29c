// message_stream.cpp — see message_stream.h.
#include "stream/message_stream.h"

#include "stream/anthropic_sse_writer.h"

namespace balancer::detail {
namespace {

std::string string_field(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::int64_t count_field(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

void write_block(std::string& out, int index, const nlohmann::json& block) {
  const std::string type = string_field(block, "type");
  if (type == "thinking") {
    write_thinking_block_start(out, index);
    write_thinking_delta(out, index, string_field(block, "thinking"));
  } else if (type == "tool_use") {
    write_tool_use_block_start(out, index, string_field(block, "id"), string_field(block, "name"));
    const auto input = block.find("input");
    if (input != block.end() && input->is_object() && !input->empty()) {
      write_input_json_delta(out, index, input->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
  } else {
    write_text_block_start(out, index);
    write_text_delta(out, index, string_field(block, "text"));
  }
  write_block_stop(out, index);
}

}  // namespace

std::string anthropic_stream_from_message(const nlohmann::json& message) {
  std::string out;
  write_message_start(out, string_field(message, "id"), string_field(message, "model"));
  int index = 0;
  if (auto content = message.find("content"); content != message.end() && content->is_array()) {
    for (const auto& block : *content) {
      write_block(out, index++, block);
    }
  }
  AnthropicUsage usage;
  if (auto u = message.find("usage"); u != message.end() && u->is_object()) {
    usage.input_tokens = count_field(*u, "input_tokens");
    usage.cache_read_input_tokens = count_field(*u, "cache_read_input_tokens");
    usage.output_tokens = count_field(*u, "output_tokens");
  }
  const std::string stop_reason = string_field(message, "stop_reason");
  write_message_delta(out, stop_reason.empty() ? "end_turn" : stop_reason, usage);
  write_message_stop(out);
  return out;
}

}  // namespace balancer::detail
