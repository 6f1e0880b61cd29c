// convert_errors.cpp — error bodies across the protocol boundary (spec §7): an OpenAI-style
// error (or any bytes) → an Anthropic error body, and an Anthropic error → an OpenAI one.
#include <cctype>

#include "convert/convert_common.h"

namespace balancer::detail {
namespace {

constexpr std::size_t kMaxRawMessage = 500;

// Valid UTF-8 (invalid bytes replaced), so that the body can always be serialised.
std::string valid_utf8(const std::string& text) {
  return json::parse(json(text).dump(-1, ' ', false, json::error_handler_t::replace)).get<std::string>();
}

// At most kMaxRawMessage bytes of a non-JSON body, trimmed, cut on a character boundary.
std::string raw_excerpt(std::string_view body) {
  while (!body.empty() && std::isspace(static_cast<unsigned char>(body.front())) != 0) {
    body.remove_prefix(1);
  }
  if (body.size() > kMaxRawMessage) {
    std::size_t cut = kMaxRawMessage;
    while (cut > 0 && (static_cast<unsigned char>(body[cut]) & 0xC0U) == 0x80U) {
      --cut;  // do not split a multi-byte character
    }
    body = body.substr(0, cut);
  }
  while (!body.empty() && std::isspace(static_cast<unsigned char>(body.back())) != 0) {
    body.remove_suffix(1);
  }
  return valid_utf8(std::string(body));
}

// The message of an error body in any shape; "upstream returned HTTP <status>" when none.
std::string any_error_message(int status, std::string_view body, const json& parsed) {
  std::string message = parsed.is_discarded() ? raw_excerpt(body) : error_message(parsed);
  return message.empty() ? "upstream returned HTTP " + std::to_string(status) : valid_utf8(message);
}

bool context_too_long(const json& parsed, const std::string& message) {
  const json& error = parsed.is_object() && parsed.contains("error") ? parsed["error"] : parsed;
  const bool coded = error.is_object() && error.value("code", json()) == "context_length_exceeded";
  return coded || message.find("maximum context length") != std::string::npos;
}

}  // namespace

// The type follows the status. A context-length error is reworded to start like Anthropic's
// ("prompt is too long: …") so that clients that compact on it (Claude Code) still do.
json openai_error_to_anthropic(int status, std::string_view body) {
  const json parsed = json::parse(body, nullptr, false);
  std::string message = any_error_message(status, body, parsed);
  if (status == 400 && context_too_long(parsed, message)) {
    message = "prompt is too long: " + message;
  }
  return {{"type", "error"}, {"error", {{"type", anthropic_error_type(status)}, {"message", message}}}};
}

// `type` is the Anthropic error type (from the body, else from the status); `code` is
// OpenAI's machine-readable code where one fits (rate_limit_exceeded, invalid_api_key,
// context_length_exceeded), else null; `param` is always null.
json anthropic_error_to_openai(int status, std::string_view body) {
  const json parsed = json::parse(body, nullptr, false);
  const std::string message = any_error_message(status, body, parsed);
  std::string type = anthropic_error_type(status);
  if (parsed.is_object() && parsed.contains("error") && parsed["error"].is_object() &&
      parsed["error"].value("type", json()).is_string()) {
    type = valid_utf8(parsed["error"]["type"].get<std::string>());
  }
  json code = nullptr;
  if (type == "rate_limit_error") {
    code = "rate_limit_exceeded";
  } else if (type == "authentication_error") {
    code = "invalid_api_key";
  } else if (message.rfind("prompt is too long", 0) == 0) {
    code = "context_length_exceeded";
  }
  return {{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", code}}}};
}

}  // namespace balancer::detail
