// convert_common.h — helpers shared by the Anthropic ⇄ OpenAI converter sources: reading
// JSON with its path for error messages, collecting notes, and small text utilities.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <balancer/converter.h>

namespace balancer::detail {

using json = nlohmann::json;

// Thrown inside the converter and caught at the public boundary (converter.cpp), where it
// becomes an Error; never escapes libbalancer.
struct ConvertFailure {
  std::string message;
};

// A JSON value and where it sits in its document ("messages[3].content[1]"), so that every
// complaint names the path. Holds a reference: the document must outlive it.
class Node {
 public:
  Node(const json& value, std::string path) : value_(&value), path_(std::move(path)) {}

  const json& value() const { return *value_; }
  const std::string& path() const { return path_; }

  // The member `key` (a null Node when absent or when this is not an object).
  Node operator[](std::string_view key) const;
  // Element `index` of an array.
  Node operator[](std::size_t index) const;
  // Present and not null.
  bool has(std::string_view key) const;
  std::size_t size() const { return value_->is_array() ? value_->size() : 0; }

  // The member `key` as a string; fails with "<path>: <what>" (just "<what>" at the root) when
  // absent or not a string.
  std::string string(std::string_view key, std::string_view what) const;
  // The member `key` as a string, or `fallback` when absent/not a string.
  std::string string_or(std::string_view key, std::string fallback = {}) const;

  [[noreturn]] void fail(std::string_view what) const;
  void require_object(std::string_view what) const;
  void require_array(std::string_view what) const;

 private:
  const json* value_;
  std::string path_;
};

// The notes of one conversion, without duplicates, in first-seen order.
class Notes {
 public:
  void add(std::string note);
  std::vector<std::string> take() { return std::move(notes_); }

 private:
  std::vector<std::string> notes_;
};

// Joins `parts` with `separator`.
std::string join(const std::vector<std::string>& parts, std::string_view separator);

// `value.dump()` that cannot throw on invalid UTF-8 (replaces it).
std::string dump_compact(const json& value);

// The members of an OpenAI chat message that carry text: a string, or an array of
// {"type":"text","text":…} parts (other parts ignored), joined with `separator`.
std::string openai_text(const json& content, std::string_view separator);

// Anthropic stop_reason ⇄ OpenAI finish_reason.
// One mapping for streamed and whole responses.
std::string_view stop_reason_for_finish(std::string_view finish_reason);
std::string stop_reason_from_finish(const json& finish_reason);
std::string finish_from_stop_reason(const json& stop_reason);

// An integer member of a usage object (0 when absent or not a number).
std::int64_t count(const json& usage, std::string_view key);

// The human message inside an error body: error.message, error (a string), message, detail.
// Empty when there is none.
std::string error_message(const json& body);

// Anthropic error type for an HTTP status (400 invalid_request_error … 529 overloaded_error).
std::string anthropic_error_type(int status);

// What every step of one Anthropic → OpenAI request conversion shares.
struct RequestContext {
  const ConverterOptions& options;
  Notes& notes;
};

// Notes "cache_control dropped" when `node` has one.
void note_cache_control(const Node& node, RequestContext& ctx);

// Tools, tool_choice, max_tokens, sampling parameters and the top-level fields that are dropped
// (convert_request_settings.cpp); the messages are converted in convert_request.cpp.
void convert_request_settings(const Node& request, json& body, RequestContext& ctx);

// The four conversions behind Converter. They throw ConvertFailure (or nlohmann exceptions on
// shapes they did not anticipate); converter.cpp turns both into an Error.
json anthropic_request_to_openai(const json& request, std::string_view upstream_model, const ConverterOptions& options,
                                 Notes& notes);
json openai_response_to_anthropic(const json& response, std::string_view client_model);
json openai_request_to_anthropic(const json& request, Notes& notes);
json anthropic_response_to_openai(const json& message);
json openai_error_to_anthropic(int status, std::string_view body);
json anthropic_error_to_openai(int status, std::string_view body);

}  // namespace balancer::detail
