// token_estimator.h — a local estimate of a Messages request's input tokens, for
// /v1/messages/count_tokens when the routed provider cannot count (OpenAI-format providers,
// Anthropic-compatible providers without the endpoint). Spec §7.
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

namespace balancer {

// Counts every part of an Anthropic Messages request that reaches the model: system (string or
// blocks), message text, thinking, tool_use (name + input), tool_result (text, blocks, images),
// images and documents, tool definitions (name, description, input_schema) and per-message
// overhead. Always >= 1 for a request with a `messages` array. Pure; any thread.
// Accuracy against a BPE tokenizer is stated in the README (measured on committed fixtures).
std::int64_t estimate_input_tokens(const nlohmann::json& request);

}  // namespace balancer
