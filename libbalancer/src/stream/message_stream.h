// message_stream.h — an Anthropic message rendered as the event stream that would have carried
// it, for a streaming client whose OpenAI-format provider answered with one JSON completion.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace balancer::detail {

// message_start, every content block (text, thinking, tool_use with its whole input as one
// input_json_delta) with start/delta/stop, message_delta (stop_reason, usage), message_stop.
// Pure; `message` is what Converter::openai_to_anthropic_response returns.
std::string anthropic_stream_from_message(const nlohmann::json& message);

}  // namespace balancer::detail
