// anthropic_sse_writer.h — formats the events of an Anthropic Messages stream
// (`event: <type>\ndata: <compact json>\n\n`) with the key order Anthropic uses.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace balancer::detail {

// Token counts carried by message_delta.
struct AnthropicUsage {
  std::int64_t input_tokens = 0;
  std::int64_t cache_read_input_tokens = 0;
  std::int64_t output_tokens = 0;
};

// Each function appends one whole event to `out`. Pure apart from that; no state.
void write_message_start(std::string& out, std::string_view message_id, std::string_view model);
void write_text_block_start(std::string& out, int index);
void write_thinking_block_start(std::string& out, int index);
void write_tool_use_block_start(std::string& out, int index, std::string_view id, std::string_view name);
void write_text_delta(std::string& out, int index, std::string_view text);
void write_thinking_delta(std::string& out, int index, std::string_view thinking);
void write_input_json_delta(std::string& out, int index, std::string_view partial_json);
void write_block_stop(std::string& out, int index);
void write_message_delta(std::string& out, std::string_view stop_reason, const AnthropicUsage& usage);
void write_message_stop(std::string& out);

}  // namespace balancer::detail
