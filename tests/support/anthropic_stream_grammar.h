// anthropic_stream_grammar.h — test support (header-only): checks that bytes form one valid
// Anthropic Messages SSE stream, as Claude Code expects it, and says how the stream ended.
//
// Framing is strict: every event is exactly `event: <name>\ndata: <json>\n\n` (what Anthropic
// and the balancer send), and <name> must equal the JSON `type`. The event grammar:
//   message_start  (first; message.id "msg_…", non-empty model, usage object, content [])
//   ( content_block_start(index n = 0,1,2…) delta* content_block_stop(index n) | ping )*
//   message_delta  (stop_reason known, usage.output_tokens integer)   once, no block open
//   message_stop   and nothing after it
// or, anywhere before message_stop (also as the only event), one `error` event that ends it.
// Deltas must match their block: text_delta/citations_delta in text, thinking_delta/
// signature_delta in thinking, input_json_delta in tool_use/server_tool_use; a tool block's
// partial_json concatenated must be empty or a JSON object; tool_use starts with `input: {}`.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace balancer::test {

// The verdict on one stream.
struct StreamCheck {
  std::string violation;   // empty when the stream is valid, else the first rule broken
  bool completed = false;  // valid and ended with message_stop
  bool errored = false;    // valid and ended with an error event
  bool ok() const { return violation.empty(); }
};

namespace grammar_detail {

// One framed event: its `event:` name and `data:` text.
struct RawEvent {
  std::string name;
  std::string data;
};

// Splits `sse` into events; returns a violation for bytes that are not strictly framed.
inline std::string split_events(std::string_view sse, std::vector<RawEvent>& events) {
  while (!sse.empty()) {
    const std::size_t end = sse.find("\n\n");
    const std::string where = "event #" + std::to_string(events.size()) + ": ";
    if (end == std::string_view::npos) {
      return where + "not terminated by a blank line";
    }
    const std::string_view text = sse.substr(0, end);
    sse.remove_prefix(end + 2);
    const std::size_t newline = text.find('\n');
    if (newline == std::string_view::npos || text.substr(0, 7) != "event: " ||
        text.substr(newline + 1, 6) != "data: ") {
      return where + "not of the form `event: <name>\\ndata: <json>`";
    }
    const std::string_view data = text.substr(newline + 7);
    if (data.find('\n') != std::string_view::npos) {
      return where + "has more than one data line";
    }
    events.push_back({std::string(text.substr(7, newline - 7)), std::string(data)});
  }
  return {};
}

inline bool is_string(const nlohmann::json& object, const char* key) {
  return object.is_object() && object.contains(key) && object[key].is_string();
}

inline bool is_non_empty_string(const nlohmann::json& object, const char* key) {
  return is_string(object, key) && !object[key].get<std::string>().empty();
}

inline bool is_integer(const nlohmann::json& object, const char* key) {
  return object.is_object() && object.contains(key) && object[key].is_number_integer();
}

// The grammar as a state machine over parsed events. Not thread-safe; one per stream.
class Checker {
 public:
  // Checks the next event; returns a violation (without the event number) or "".
  std::string check(const std::string& name, const nlohmann::json& data) {
    if (!data.is_object() || !is_string(data, "type") || data["type"] != name) {
      return "the data's `type` is not the event name";
    }
    if (phase_ == Phase::Stopped || phase_ == Phase::Errored) {
      return phase_ == Phase::Stopped ? "event after message_stop" : "event after error";
    }
    if (name == "error") {
      return check_error(data);
    }
    if (name == "message_start") {
      return check_message_start(data);
    }
    if (phase_ == Phase::BeforeStart) {
      return "the first event must be message_start or error";
    }
    if (name == "ping") {
      return {};
    }
    if (name == "content_block_start") {
      return check_block_start(data);
    }
    if (name == "content_block_delta") {
      return check_block_delta(data);
    }
    if (name == "content_block_stop") {
      return check_block_stop(data);
    }
    if (name == "message_delta") {
      return check_message_delta(data);
    }
    if (name == "message_stop") {
      return check_message_stop();
    }
    return "unknown event type";
  }

  // Called after the last event: how the stream ended, or why that end is not allowed.
  std::string check_end(StreamCheck& result) const {
    result.completed = phase_ == Phase::Stopped;
    result.errored = phase_ == Phase::Errored;
    if (phase_ == Phase::BeforeStart) {
      return "the stream is empty";
    }
    if (!result.completed && !result.errored) {
      return "the stream ended without message_stop or error";
    }
    return {};
  }

 private:
  enum class Phase { BeforeStart, InMessage, AfterMessageDelta, Stopped, Errored };

  // The content block between its start and stop.
  struct OpenBlock {
    std::int64_t index = 0;
    std::string type;
    std::string partial_json;
  };

  std::string check_error(const nlohmann::json& data) {
    const nlohmann::json error = data.value("error", nlohmann::json());
    if (!is_non_empty_string(error, "type") || !is_string(error, "message")) {
      return "error without error.type and error.message";
    }
    phase_ = Phase::Errored;
    return {};
  }

  std::string check_message_start(const nlohmann::json& data) {
    if (phase_ != Phase::BeforeStart) {
      return "message_start after the first event";
    }
    const nlohmann::json message = data.value("message", nlohmann::json());
    if (!is_string(message, "id") || message["id"].get<std::string>().rfind("msg_", 0) != 0) {
      return "message.id does not start with msg_";
    }
    if (message.value("type", "") != "message" || message.value("role", "") != "assistant") {
      return "message.type is not message or message.role is not assistant";
    }
    if (!is_non_empty_string(message, "model")) {
      return "message.model is empty";
    }
    if (!message.contains("content") || message["content"] != nlohmann::json::array()) {
      return "message.content is not []";
    }
    if (!message.contains("usage") || !message["usage"].is_object()) {
      return "message.usage is missing";
    }
    phase_ = Phase::InMessage;
    return {};
  }

  std::string check_block_start(const nlohmann::json& data) {
    if (phase_ != Phase::InMessage) {
      return "content_block_start after message_delta";
    }
    if (open_) {
      return "content_block_start while block " + std::to_string(open_->index) + " is open";
    }
    if (!is_integer(data, "index") || data["index"].get<std::int64_t>() != next_index_) {
      return "content_block_start index is not " + std::to_string(next_index_);
    }
    const nlohmann::json block = data.value("content_block", nlohmann::json());
    const std::string type = block.is_object() ? block.value("type", "") : "";
    if (std::string violation = check_block_shape(type, block); !violation.empty()) {
      return violation;
    }
    open_ = OpenBlock{next_index_++, type, {}};
    return {};
  }

  static std::string check_block_shape(const std::string& type, const nlohmann::json& block) {
    if (type == "text") {
      return is_string(block, "text") ? "" : "text block without a text string";
    }
    if (type == "thinking") {
      return is_string(block, "thinking") ? "" : "thinking block without a thinking string";
    }
    if (type == "redacted_thinking") {
      return is_string(block, "data") ? "" : "redacted_thinking block without data";
    }
    if (type == "tool_use" || type == "server_tool_use") {
      if (!is_non_empty_string(block, "id") || !is_non_empty_string(block, "name")) {
        return type + " block without a non-empty id and name";
      }
      return block.contains("input") && block["input"] == nlohmann::json::object()
                 ? ""
                 : type + " block whose input is not {}";
    }
    return "unknown content block type '" + type + "'";
  }

  std::string check_block_delta(const nlohmann::json& data) {
    if (!open_ || !is_integer(data, "index") || data["index"].get<std::int64_t>() != open_->index) {
      return "content_block_delta for a block that is not open";
    }
    const nlohmann::json delta = data.value("delta", nlohmann::json());
    const std::string type = delta.is_object() ? delta.value("type", "") : "";
    const char* field = delta_field(open_->type, type);
    if (field == nullptr) {
      return type + " in a " + open_->type + " block";
    }
    if (!is_string(delta, field)) {
      return type + " without a " + field + " string";
    }
    if (type == "input_json_delta") {
      open_->partial_json += delta["partial_json"].get<std::string>();
    }
    return {};
  }

  // The string field a delta of `delta_type` carries in a `block_type` block; null when that
  // delta is not allowed there.
  static const char* delta_field(const std::string& block_type, const std::string& delta_type) {
    if (block_type == "text") {
      return delta_type == "text_delta" ? "text" : delta_type == "citations_delta" ? "type" : nullptr;
    }
    if (block_type == "thinking") {
      return delta_type == "thinking_delta" ? "thinking" : delta_type == "signature_delta" ? "signature" : nullptr;
    }
    if (block_type == "tool_use" || block_type == "server_tool_use") {
      return delta_type == "input_json_delta" ? "partial_json" : nullptr;
    }
    return nullptr;
  }

  std::string check_block_stop(const nlohmann::json& data) {
    if (!open_ || !is_integer(data, "index") || data["index"].get<std::int64_t>() != open_->index) {
      return "content_block_stop for a block that is not open";
    }
    if (!open_->partial_json.empty() && !nlohmann::json::parse(open_->partial_json, nullptr, false).is_object()) {
      return "the partial_json of tool block " + std::to_string(open_->index) +
             " is not a JSON object: " + open_->partial_json;
    }
    open_.reset();
    return {};
  }

  std::string check_message_delta(const nlohmann::json& data) {
    if (phase_ != Phase::InMessage) {
      return "a second message_delta";
    }
    if (open_) {
      return "message_delta while block " + std::to_string(open_->index) + " is open";
    }
    const nlohmann::json delta = data.value("delta", nlohmann::json());
    static const std::vector<std::string> kStopReasons = {"end_turn", "max_tokens", "stop_sequence",
                                                          "tool_use", "pause_turn", "refusal"};
    const std::string reason = is_string(delta, "stop_reason") ? delta["stop_reason"].get<std::string>() : "";
    if (std::find(kStopReasons.begin(), kStopReasons.end(), reason) == kStopReasons.end()) {
      return "message_delta stop_reason '" + reason + "' is not a known stop reason";
    }
    if (!is_integer(data.value("usage", nlohmann::json()), "output_tokens")) {
      return "message_delta without an integer usage.output_tokens";
    }
    phase_ = Phase::AfterMessageDelta;
    return {};
  }

  std::string check_message_stop() {
    if (phase_ != Phase::AfterMessageDelta) {
      return "message_stop before message_delta";
    }
    phase_ = Phase::Stopped;
    return {};
  }

  Phase phase_ = Phase::BeforeStart;
  std::optional<OpenBlock> open_;
  std::int64_t next_index_ = 0;
};

}  // namespace grammar_detail

// Checks `sse` against the grammar above. Pure.
inline StreamCheck check_anthropic_stream(std::string_view sse) {
  StreamCheck result;
  std::vector<grammar_detail::RawEvent> events;
  result.violation = grammar_detail::split_events(sse, events);
  if (!result.violation.empty()) {
    return result;
  }
  grammar_detail::Checker checker;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const nlohmann::json data = nlohmann::json::parse(events[i].data, nullptr, false);
    std::string violation = data.is_discarded() ? "data is not JSON" : checker.check(events[i].name, data);
    if (!violation.empty()) {
      result.violation = "event #" + std::to_string(i) + " (" + events[i].name + "): " + violation;
      return result;
    }
  }
  result.violation = checker.check_end(result);
  if (!result.violation.empty()) {
    result.completed = result.errored = false;
  }
  return result;
}

}  // namespace balancer::test
