// anthropic_sse_writer.cpp — Anthropic SSE event formatting (see anthropic_sse_writer.h).
//
// Events are written by hand rather than through nlohmann::ordered_json: a delta is written
// for every token of every translated stream, and building a JSON object for each costs more
// than the parse of the chunk it came from. The bytes are the ones ordered_json::dump() gives
// (compact, UTF-8 kept, invalid UTF-8 replaced by U+FFFD).
#include "stream/anthropic_sse_writer.h"

#include <nlohmann/json.hpp>

namespace balancer::detail {
namespace {

// Appends `text` as a JSON string literal.
void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  const std::size_t start = out.size();
  out.push_back('"');
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x80) {
      // Non-ASCII: let nlohmann check the UTF-8 and escape it, for the whole string.
      out.resize(start);
      out += nlohmann::json(std::string(text)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      return;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (byte < 0x20) {
          out += "\\u00";
          out.push_back(kHex[byte >> 4]);
          out.push_back(kHex[byte & 0x0F]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

void begin_event(std::string& out, std::string_view type) {
  out += "event: ";
  out += type;
  out += "\ndata: {\"type\":\"";
  out += type;
  out += '"';
}

constexpr std::string_view kEndEvent = "}\n\n";

void append_block_start(std::string& out, int index, std::string_view content_block) {
  begin_event(out, "content_block_start");
  out += ",\"index\":" + std::to_string(index) + ",\"content_block\":";
  out += content_block;
  out += kEndEvent;
}

// content_block_delta whose delta is {"type":<delta_type>,<field>:<text>}.
void append_block_delta(std::string& out, int index, std::string_view delta_type, std::string_view field,
                        std::string_view text) {
  begin_event(out, "content_block_delta");
  out += ",\"index\":" + std::to_string(index) + ",\"delta\":{\"type\":\"";
  out += delta_type;
  out += "\",\"";
  out += field;
  out += "\":";
  append_json_string(out, text);
  out += '}';
  out += kEndEvent;
}

}  // namespace

void write_message_start(std::string& out, std::string_view message_id, std::string_view model) {
  begin_event(out, "message_start");
  out += ",\"message\":{\"id\":";
  append_json_string(out, message_id);
  out += ",\"type\":\"message\",\"role\":\"assistant\",\"model\":";
  append_json_string(out, model);
  out +=
      ",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,"
      "\"usage\":{\"input_tokens\":0,\"output_tokens\":0}}";
  out += kEndEvent;
}

void write_text_block_start(std::string& out, int index) {
  append_block_start(out, index, R"({"type":"text","text":""})");
}

void write_thinking_block_start(std::string& out, int index) {
  append_block_start(out, index, R"({"type":"thinking","thinking":"","signature":""})");
}

void write_tool_use_block_start(std::string& out, int index, std::string_view id, std::string_view name) {
  std::string block = R"({"type":"tool_use","id":)";
  append_json_string(block, id);
  block += ",\"name\":";
  append_json_string(block, name);
  block += ",\"input\":{}}";
  append_block_start(out, index, block);
}

void write_text_delta(std::string& out, int index, std::string_view text) {
  append_block_delta(out, index, "text_delta", "text", text);
}

void write_thinking_delta(std::string& out, int index, std::string_view thinking) {
  append_block_delta(out, index, "thinking_delta", "thinking", thinking);
}

void write_input_json_delta(std::string& out, int index, std::string_view partial_json) {
  append_block_delta(out, index, "input_json_delta", "partial_json", partial_json);
}

void write_block_stop(std::string& out, int index) {
  begin_event(out, "content_block_stop");
  out += ",\"index\":" + std::to_string(index);
  out += kEndEvent;
}

void write_message_delta(std::string& out, std::string_view stop_reason, const AnthropicUsage& usage) {
  begin_event(out, "message_delta");
  out += ",\"delta\":{\"stop_reason\":";
  append_json_string(out, stop_reason);
  out += ",\"stop_sequence\":null},\"usage\":{\"input_tokens\":" + std::to_string(usage.input_tokens) +
         ",\"cache_read_input_tokens\":" + std::to_string(usage.cache_read_input_tokens) +
         ",\"output_tokens\":" + std::to_string(usage.output_tokens) + "}";
  out += kEndEvent;
}

void write_message_stop(std::string& out) {
  begin_event(out, "message_stop");
  out += kEndEvent;
}

}  // namespace balancer::detail
