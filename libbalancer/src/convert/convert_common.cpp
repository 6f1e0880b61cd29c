// convert_common.cpp — the shared helpers of the Anthropic ⇄ OpenAI converter (see
// convert_common.h): path-aware JSON access, notes, text joining, stop-reason and error-type maps.
#include "convert/convert_common.h"

#include <algorithm>

namespace balancer::detail {
namespace {

const json& null_json() {
  static const json kNull;  // immutable; the absent member every lookup may return
  return kNull;
}

}  // namespace

// ---- Node -------------------------------------------------------------------------------

Node Node::operator[](std::string_view key) const {
  std::string path = path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  if (!value_->is_object()) {
    return Node(null_json(), std::move(path));
  }
  auto it = value_->find(key);
  return Node(it == value_->end() ? null_json() : *it, std::move(path));
}

Node Node::operator[](std::size_t index) const {
  std::string path = path_ + "[" + std::to_string(index) + "]";
  if (!value_->is_array() || index >= value_->size()) {
    return Node(null_json(), std::move(path));
  }
  return Node((*value_)[index], std::move(path));
}

bool Node::has(std::string_view key) const {
  if (!value_->is_object()) {
    return false;
  }
  auto it = value_->find(key);
  return it != value_->end() && !it->is_null();
}

std::string Node::string(std::string_view key, std::string_view what) const {
  const Node member = (*this)[key];
  if (!member.value().is_string()) {
    fail(what);
  }
  return member.value().get<std::string>();
}

std::string Node::string_or(std::string_view key, std::string fallback) const {
  const Node member = (*this)[key];
  return member.value().is_string() ? member.value().get<std::string>() : std::move(fallback);
}

void Node::fail(std::string_view what) const {
  throw ConvertFailure{path_.empty() ? std::string(what) : path_ + ": " + std::string(what)};
}

void Node::require_object(std::string_view what) const {
  if (!value_->is_object()) {
    fail(what);
  }
}

void Node::require_array(std::string_view what) const {
  if (!value_->is_array()) {
    fail(what);
  }
}

// ---- Notes and text ---------------------------------------------------------------------

void Notes::add(std::string note) {
  if (std::find(notes_.begin(), notes_.end(), note) == notes_.end()) {
    notes_.push_back(std::move(note));
  }
}

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) {
      out += separator;
    }
    out += parts[i];
  }
  return out;
}

std::string dump_compact(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string openai_text(const json& content, std::string_view separator) {
  if (content.is_string()) {
    return content.get<std::string>();
  }
  std::vector<std::string> texts;
  if (content.is_array()) {
    for (const json& part : content) {
      if (part.is_object() && part.value("type", "") == "text" && part.contains("text") && part["text"].is_string()) {
        texts.push_back(part["text"].get<std::string>());
      }
    }
  }
  return join(texts, separator);
}

std::int64_t count(const json& usage, std::string_view key) {
  if (!usage.is_object()) {
    return 0;
  }
  auto it = usage.find(key);
  if (it == usage.end() || !it->is_number()) {
    return 0;
  }
  if (it->is_number_float()) {  // clamped: converting an out-of-range double is undefined
    const double value = it->get<double>();
    return value > 0 && value < 1e15 ? static_cast<std::int64_t>(value) : 0;
  }
  return it->get<std::int64_t>();
}

std::string error_message(const json& body) {
  if (!body.is_object()) {
    return body.is_string() ? body.get<std::string>() : "";
  }
  const json& error = body.contains("error") ? body["error"] : body;
  if (error.is_string()) {
    return error.get<std::string>();
  }
  for (const char* key : {"message", "detail"}) {
    if (error.is_object() && error.contains(key) && error[key].is_string()) {
      return error[key].get<std::string>();
    }
  }
  return error.is_object() && error.contains("error") ? error_message(error["error"]) : "";
}

// ---- Stop reasons and error types -------------------------------------------------------

std::string_view stop_reason_for_finish(std::string_view reason) {
  if (reason == "length" || reason == "max_tokens") {
    return "max_tokens";
  }
  if (reason == "tool_calls" || reason == "function_call") {
    return "tool_use";
  }
  if (reason == "content_filter") {
    return "refusal";
  }
  return "end_turn";  // "stop", null and anything unknown
}

std::string stop_reason_from_finish(const json& finish_reason) {
  return std::string(stop_reason_for_finish(finish_reason.is_string() ? finish_reason.get_ref<const std::string&>()
                                                                      : std::string_view()));
}

std::string finish_from_stop_reason(const json& stop_reason) {
  const std::string reason = stop_reason.is_string() ? stop_reason.get<std::string>() : "";
  if (reason == "max_tokens" || reason == "model_context_window_exceeded") {
    return "length";
  }
  if (reason == "tool_use") {
    return "tool_calls";
  }
  if (reason == "refusal") {
    return "content_filter";
  }
  return "stop";  // end_turn, stop_sequence, pause_turn, null
}

std::string anthropic_error_type(int status) {
  switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 402: return "billing_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 529: return "overloaded_error";
    default: break;
  }
  return status >= 400 && status < 500 ? "invalid_request_error" : "api_error";
}

}  // namespace balancer::detail
