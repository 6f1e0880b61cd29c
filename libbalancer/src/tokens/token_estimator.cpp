// token_estimator.cpp — estimate_input_tokens: a plain walk over the request JSON that prices
// every part reaching the model. Text goes through detail::estimate_text_tokens (cl100k-calibrated,
// errs high); JSON parts (tool inputs, tool definitions) are priced as their compact
// serialisation; images by their pixel size; PDFs by page count. Malformed parts are skipped.
#include "tokens/token_estimator.h"

#include <algorithm>
#include <cmath>
#include <string_view>

#include "convert/media_size.h"
#include "tokens/token_text.h"

namespace balancer {
namespace {

using nlohmann::json;

// ---- Framing overheads (chat-template tokens around each part) ------------------------------

constexpr double kReplyPriming = 3;            // the assistant turn the model is primed with
constexpr double kMessageOverhead = 4;         // role and turn delimiters, per message
constexpr double kToolUseOverhead = 8;         // call id and delimiters around a tool call
constexpr double kToolResultOverhead = 6;      // call id and delimiters around a tool result
constexpr double kToolsPreamble = 4;           // the header introducing the tool list
constexpr double kToolDefinitionOverhead = 1;  // the JSON itself carries the structure
constexpr double kRedactedThinkingCharsPerToken = 4;
constexpr double kPdfPageTokens = 3000;          // ~1400 text + ~1600 page image per page
constexpr std::size_t kPdfBytesPerPage = 60000;  // when no page object is visible

// ---- Small JSON helpers -----------------------------------------------------------------------

// The member `key` of an object, or nullptr.
const json* member(const json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::string_view string_member(const json& object, std::string_view key) {
  const json* value = member(object, key);
  if (value == nullptr || !value->is_string()) return {};
  return value->get_ref<const std::string&>();
}

double text_tokens(std::string_view text) { return text.empty() ? 0.0 : detail::estimate_text_tokens(text); }

double string_tokens(const json* value) {
  return value != nullptr && value->is_string() ? text_tokens(value->get_ref<const std::string&>()) : 0.0;
}

// Compact JSON, as a tool call's arguments or a tool definition reach the model.
double json_tokens(const json* value) {
  if (value == nullptr || value->is_null()) return 0.0;
  return text_tokens(value->dump(-1, ' ', false, json::error_handler_t::replace));
}

// ---- Media ------------------------------------------------------------------------------------

double image_source_tokens(const json* source) {
  if (string_member(*source, "type") != "base64") return detail::kUnknownImageTokens;
  const auto size = detail::base64_image_size(string_member(*source, "data"));
  return static_cast<double>(size ? detail::image_tokens(*size) : detail::kUnknownImageTokens);
}

double image_block_tokens(const json& block) {
  const json* source = member(block, "source");
  return source == nullptr ? detail::kUnknownImageTokens : image_source_tokens(source);
}

double pdf_tokens(std::string_view base64) {
  std::size_t pages = detail::base64_pdf_page_count(base64);
  if (pages == 0) {
    pages = std::max<std::size_t>(1, detail::base64_decoded_size(base64) / kPdfBytesPerPage + 1);
  }
  return kPdfPageTokens * static_cast<double>(pages);
}

double content_tokens(const json& content);

// text (plain text), content (blocks), base64 (PDF) or url / file (unknown: one page).
double document_source_tokens(const json& source) {
  const std::string_view type = string_member(source, "type");
  if (type == "text") return string_tokens(member(source, "data"));
  if (type == "content") {
    const json* content = member(source, "content");
    return content == nullptr ? 0.0 : content_tokens(*content);
  }
  if (type == "base64") return pdf_tokens(string_member(source, "data"));
  return kPdfPageTokens;
}

double document_block_tokens(const json& block) {
  const json* source = member(block, "source");
  return string_tokens(member(block, "title")) + string_tokens(member(block, "context")) +
         (source == nullptr ? 0.0 : document_source_tokens(*source));
}

// ---- Content blocks ---------------------------------------------------------------------------

double tool_use_tokens(const json& block) {
  return kToolUseOverhead + string_tokens(member(block, "name")) + json_tokens(member(block, "input"));
}

double tool_result_tokens(const json& block) {
  const json* content = member(block, "content");
  return kToolResultOverhead + (content == nullptr ? 0.0 : content_tokens(*content));
}

double redacted_thinking_tokens(const json& block) {
  return std::ceil(static_cast<double>(string_member(block, "data").size()) / kRedactedThinkingCharsPerToken);
}

// One block of a message, a system prompt or a tool result. Unknown types (server tool results,
// search results, future blocks) are priced as their JSON: errs high rather than at zero.
double block_tokens(const json& block) {
  if (block.is_string()) return text_tokens(block.get_ref<const std::string&>());
  if (!block.is_object()) return 0.0;
  const std::string_view type = string_member(block, "type");
  if (type == "text") return string_tokens(member(block, "text"));
  if (type == "thinking") return string_tokens(member(block, "thinking"));
  if (type == "redacted_thinking") return redacted_thinking_tokens(block);
  if (type == "tool_use" || type == "server_tool_use" || type == "mcp_tool_use") {
    return tool_use_tokens(block);
  }
  if (type == "tool_result" || type == "mcp_tool_result") return tool_result_tokens(block);
  if (type == "image") return image_block_tokens(block);
  if (type == "document") return document_block_tokens(block);
  return json_tokens(&block);
}

// A string, or an array of blocks.
double content_tokens(const json& content) {
  if (content.is_string()) return text_tokens(content.get_ref<const std::string&>());
  if (!content.is_array()) return 0.0;
  double tokens = 0;
  for (const json& block : content)
    tokens += block_tokens(block);
  return tokens;
}

// ---- Request parts ----------------------------------------------------------------------------

double messages_tokens(const json* messages) {
  if (messages == nullptr || !messages->is_array()) return 0.0;
  double tokens = 0;
  for (const json& message : *messages) {
    if (!message.is_object()) continue;
    const json* content = member(message, "content");
    tokens += kMessageOverhead + (content == nullptr ? 0.0 : content_tokens(*content));
  }
  return tokens;
}

double system_tokens(const json* system) {
  if (system == nullptr) return 0.0;
  const double tokens = content_tokens(*system);
  return tokens > 0 ? kMessageOverhead + tokens : 0.0;
}

// Each definition as its JSON (name, description, input_schema; server tools by name and type).
double tools_tokens(const json* tools) {
  if (tools == nullptr || !tools->is_array() || tools->empty()) return 0.0;
  double tokens = kToolsPreamble;
  for (const json& tool : *tools) {
    if (tool.is_object()) tokens += kToolDefinitionOverhead + json_tokens(&tool);
  }
  return tokens;
}

double tool_choice_tokens(const json* tool_choice) {
  return tool_choice != nullptr && tool_choice->is_object() ? json_tokens(tool_choice) : 0.0;
}

double request_tokens(const json& request) {
  return kReplyPriming + system_tokens(member(request, "system")) + messages_tokens(member(request, "messages")) +
         tools_tokens(member(request, "tools")) + tool_choice_tokens(member(request, "tool_choice"));
}

}  // namespace

std::int64_t estimate_input_tokens(const nlohmann::json& request) {
  try {
    const double tokens = std::ceil(request_tokens(request));
    return std::max<std::int64_t>(1, static_cast<std::int64_t>(tokens));
  } catch (...) {  // only allocation failure can get here: report the minimum, never throw
    return 1;
  }
}

}  // namespace balancer
