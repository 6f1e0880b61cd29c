// converter.h — Anthropic Messages ⇄ OpenAI Chat Completions translation (spec §7): requests,
// responses and errors in both directions. Pure functions, JSON in → JSON out, no I/O.
// Streaming responses are translated by StreamTranslator (stream_translator.h).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <balancer/error.h>

namespace balancer {

struct ConverterOptions {
  // Send `max_completion_tokens` instead of `max_tokens` (OpenAI o-series and newer models).
  bool max_completion_tokens = false;
  // Assistant `thinking` blocks go upstream as `reasoning_content` on the assistant message
  // (what DeepSeek / Kimi / vLLM reasoning parsers expect back on tool turns). False: dropped.
  bool send_reasoning_content = true;
  // When > 0, a max_tokens above it is lowered to it (with a note): Claude Code asks for
  // 32000-64000 output tokens, which many OpenAI-compatible models reject (DeepSeek allows
  // 8192). 0: sent as asked.
  std::int64_t max_output_tokens = 0;
};

// A converted request and what could not be carried over (e.g. "top_k dropped", "server tool
// 'web_search' left out"), for the request log. Value type.
struct Conversion {
  nlohmann::json body;
  std::vector<std::string> notes;
};

// Stateless after construction; every method is const and safe to call from any thread.
// Errors are ErrorCode::InvalidRequest with a message fit for a 400 invalid_request_error.
class Converter {
 public:
  explicit Converter(ConverterOptions options = {});

  // Anthropic /v1/messages request → OpenAI /chat/completions request. `upstream_model`
  // replaces `model` when not empty. `stream: true` adds `stream_options.include_usage`.
  Result<Conversion> anthropic_to_openai_request(const nlohmann::json& request,
                                                 std::string_view upstream_model = {}) const;

  // OpenAI chat.completion → Anthropic message. `model` of the result is `client_model` (the
  // model the client asked for); `id` is "msg_" + the OpenAI id's letters and digits.
  Result<nlohmann::json> openai_to_anthropic_response(const nlohmann::json& response,
                                                      std::string_view client_model) const;

  // An OpenAI-style error body (any bytes, possibly not JSON) received with `status` → an
  // Anthropic error body `{"type":"error","error":{"type":…,"message":…}}`; the error type
  // follows the status (400 invalid_request_error, 401 authentication_error, 403
  // permission_error, 404 not_found_error, 413 request_too_large, 429 rate_limit_error, 529
  // overloaded_error, other 5xx api_error).
  static nlohmann::json openai_to_anthropic_error(int status, std::string_view body);

  // The reverse directions, for gateways that speak OpenAI inbound.
  // OpenAI /chat/completions request → Anthropic /v1/messages request.
  Result<Conversion> openai_to_anthropic_request(const nlohmann::json& request) const;
  // Anthropic message → OpenAI chat.completion (`id` = "chatcmpl-" + the message id;
  // `created` is 0, as these functions have no clock).
  Result<nlohmann::json> anthropic_to_openai_response(const nlohmann::json& message) const;
  // An Anthropic error body received with `status` → an OpenAI error body
  // `{"error":{"message":…,"type":…,"param":null,"code":…}}`: `type` is the Anthropic error
  // type; `code` is OpenAI's rate_limit_exceeded / invalid_api_key / context_length_exceeded
  // where one fits, else null.
  static nlohmann::json anthropic_to_openai_error(int status, std::string_view body);

 private:
  ConverterOptions options_;
};

}  // namespace balancer
