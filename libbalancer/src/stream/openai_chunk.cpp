// openai_chunk.cpp — parsing of OpenAI-compatible stream chunks and error objects
// (see openai_chunk.h). Chunks are validated with find_json_error() and then read with a
// JsonCursor, without building a DOM: a chunk arrives for every token, and a DOM parse was
// most of the translator's cost. Error objects (rare) are read with nlohmann, every access
// type-checked. Nothing here throws except std::bad_alloc.
#include "stream/openai_chunk.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/text.h"
#include "json/json_cursor.h"
#include "json/json_validate.h"

namespace balancer::detail {
namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxErrorMessageBytes = 1000;

const json* member(const json& object, std::string_view key) {
  if (!object.is_object()) {
    return nullptr;
  }
  auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::string string_member(const json& object, std::string_view key) {
  const json* value = member(object, key);
  return value != nullptr && value->is_string() ? value->get<std::string>() : std::string();
}

// A token count: integers as they are, other numbers rounded, anything else (or < 0) 0.
std::int64_t read_count(JsonCursor& cursor) {
  const std::optional<double> number = cursor.read_number();
  if (!number || *number <= 0 || *number >= 9e18) {
    return 0;
  }
  return static_cast<std::int64_t>(std::llround(*number));
}

// `prompt_tokens_details.cached_tokens`, when the member is there.
std::optional<std::int64_t> read_cached_tokens(JsonCursor& cursor) {
  std::optional<std::int64_t> cached;
  std::string key;
  cursor.enter_object();
  while (cursor.next_member(key)) {
    if (key == "cached_tokens") {
      cached = read_count(cursor);
    } else {
      cursor.skip();
    }
  }
  return cached;
}

// `usage`: input = prompt − cached (OpenAI `prompt_tokens_details.cached_tokens`, else
// DeepSeek's `prompt_cache_hit_tokens`), cache reads = cached, output = completion.
StreamUsage read_usage(JsonCursor& cursor) {
  std::int64_t prompt = 0;
  std::int64_t completion = 0;
  std::optional<std::int64_t> cached_in_details;
  std::int64_t cache_hits = 0;
  std::string key;
  cursor.enter_object();
  while (cursor.next_member(key)) {
    if (key == "prompt_tokens") {
      prompt = read_count(cursor);
    } else if (key == "completion_tokens") {
      completion = read_count(cursor);
    } else if (key == "prompt_cache_hit_tokens") {
      cache_hits = read_count(cursor);
    } else if (key == "prompt_tokens_details" && cursor.peek() == JsonKind::Object) {
      cached_in_details = read_cached_tokens(cursor);
    } else {
      cursor.skip();
    }
  }
  const std::int64_t cached = std::min(cached_in_details.value_or(cache_hits), prompt);
  return StreamUsage{prompt - cached, completion, cached};
}

// Arguments are a string; a few servers send the object itself, which is kept as its JSON.
std::string read_arguments(JsonCursor& cursor) {
  switch (cursor.peek()) {
    case JsonKind::String: return cursor.read_string();
    case JsonKind::Object:
    case JsonKind::Array: return std::string(cursor.skip());
    default: cursor.skip(); return {};
  }
}

// `function` of a tool call, or the legacy `function_call`: name and arguments.
void read_function(JsonCursor& cursor, OpenAiToolFragment& fragment) {
  std::string key;
  cursor.enter_object();
  while (cursor.next_member(key)) {
    if (key == "name") {
      fragment.name = cursor.read_string();
    } else if (key == "arguments") {
      fragment.arguments = read_arguments(cursor);
    } else {
      cursor.skip();
    }
  }
}

OpenAiToolFragment read_tool_fragment(JsonCursor& cursor, std::int64_t position) {
  OpenAiToolFragment fragment;
  fragment.index = position;
  std::string key;
  cursor.enter_object();
  while (cursor.next_member(key)) {
    if (key == "index") {
      fragment.index = cursor.read_integer().value_or(position);
    } else if (key == "id") {
      fragment.id = cursor.read_string();
    } else if (key == "function" && cursor.peek() == JsonKind::Object) {
      read_function(cursor, fragment);
    } else {
      cursor.skip();
    }
  }
  return fragment;
}

std::vector<OpenAiToolFragment> read_tool_calls(JsonCursor& cursor) {
  std::vector<OpenAiToolFragment> fragments;
  std::int64_t position = 0;
  cursor.enter_array();
  while (cursor.next_element()) {
    if (cursor.peek() == JsonKind::Object) {
      fragments.push_back(read_tool_fragment(cursor, position));
    } else {
      cursor.skip();
    }
    ++position;
  }
  return fragments;
}

// One entry of `choices`, read before knowing whether it is choice 0 (`index` may come last).
struct ChoiceReading {
  std::optional<std::int64_t> index;
  bool has_index = false;
  std::string reasoning_content;
  std::string reasoning;
  std::string content;
  std::optional<std::vector<OpenAiToolFragment>> tool_calls;
  std::optional<OpenAiToolFragment> function_call;  // the deprecated functions API
  std::string finish_reason;
};

void read_delta(JsonCursor& cursor, ChoiceReading& choice) {
  std::string key;
  cursor.enter_object();
  while (cursor.next_member(key)) {
    if (key == "content") {
      choice.content = cursor.read_string();
    } else if (key == "reasoning_content") {
      choice.reasoning_content = cursor.read_string();
    } else if (key == "reasoning") {
      choice.reasoning = cursor.read_string();
    } else if (key == "tool_calls" && cursor.peek() == JsonKind::Array) {
      choice.tool_calls = read_tool_calls(cursor);
    } else if (key == "function_call" && cursor.peek() == JsonKind::Object) {
      choice.function_call.emplace();
      read_function(cursor, *choice.function_call);
    } else {
      cursor.skip();
    }
  }
}

ChoiceReading read_choice(JsonCursor& cursor) {
  ChoiceReading choice;
  std::string key;
  cursor.enter_object();
  while (cursor.next_member(key)) {
    if (key == "index") {
      choice.has_index = true;
      choice.index = cursor.read_integer();
    } else if (key == "delta" && cursor.peek() == JsonKind::Object) {
      read_delta(cursor, choice);
    } else if (key == "finish_reason") {
      choice.finish_reason = cursor.read_string();
    } else {
      cursor.skip();
    }
  }
  return choice;
}

// Copies choice 0 into `chunk`. vLLM and OpenRouter name the reasoning `reasoning`; a server
// sending both fields sends the same text twice, so `reasoning_content` wins.
void take_choice(ChoiceReading&& choice, OpenAiChunk& chunk) {
  chunk.has_choice = true;
  chunk.reasoning =
      choice.reasoning_content.empty() ? std::move(choice.reasoning) : std::move(choice.reasoning_content);
  chunk.content = std::move(choice.content);
  if (choice.tool_calls) {
    chunk.tool_calls = std::move(*choice.tool_calls);
  } else if (choice.function_call) {
    chunk.tool_calls.push_back(std::move(*choice.function_call));
  }
  chunk.finish_reason = std::move(choice.finish_reason);
}

// Choice 0: the first entry whose `index` is 0 or that has no index.
void read_choices(JsonCursor& cursor, OpenAiChunk& chunk) {
  cursor.enter_array();
  while (cursor.next_element()) {
    if (cursor.peek() != JsonKind::Object) {
      cursor.skip();
      continue;
    }
    ChoiceReading choice = read_choice(cursor);
    if (!chunk.has_choice && (!choice.has_index || choice.index == 0)) {
      take_choice(std::move(choice), chunk);
    }
  }
}

// Reads the root object; false when it has a non-null `error` member.
bool read_chunk(JsonCursor& cursor, OpenAiChunk& chunk) {
  bool has_error = false;
  std::string key;
  cursor.enter_object();
  while (cursor.next_member(key)) {
    const JsonKind kind = cursor.peek();
    if (key == "id") {
      chunk.id = cursor.read_string();
    } else if (key == "choices" && kind == JsonKind::Array) {
      read_choices(cursor, chunk);
    } else if (key == "usage" && kind == JsonKind::Object) {
      chunk.has_usage = true;
      chunk.usage = read_usage(cursor);
    } else {
      has_error = has_error || (key == "error" && kind != JsonKind::Null);
      cursor.skip();
    }
  }
  return !has_error;
}

// The Anthropic type for an upstream error object, from its `type`, `code` or `status`.
std::string anthropic_error_type(const json& error) {
  std::int64_t status = 0;
  std::string words = string_member(error, "type") + " " + string_member(error, "code");
  for (const char* key : {"code", "status"}) {
    if (const json* value = member(error, key); value != nullptr && value->is_number_integer()) {
      status = value->get<std::int64_t>();
    }
  }
  words = to_lower(words);
  const auto mentions = [&words](std::string_view part) { return words.find(part) != std::string::npos; };
  if (status == 429 || mentions("rate_limit") || mentions("rate limit") || mentions("too_many_requests")) {
    return "rate_limit_error";
  }
  if (status == 503 || status == 529 || mentions("overloaded")) {
    return "overloaded_error";
  }
  if (status == 400 || mentions("invalid_request")) {
    return "invalid_request_error";
  }
  return "api_error";
}

UpstreamStreamError describe_error_value(const json& error) {
  if (error.is_string()) {
    return {"api_error", shorten_utf8(error.get_ref<const std::string&>(), kMaxErrorMessageBytes)};
  }
  std::string message = string_member(error, "message");
  if (message.empty()) {
    message = error.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  return {anthropic_error_type(error), shorten_utf8(message, kMaxErrorMessageBytes)};
}

}  // namespace

std::string shorten_utf8(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) {
    return std::string(text);
  }
  std::size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0U) == 0x80U) {
    --end;  // text[end] continues a sequence that starts before it
  }
  return std::string(text.substr(0, end)) + "…";
}

ParsedChunk parse_openai_chunk(std::string_view data) {
  ParsedChunk parsed;
  JsonCursor cursor(data);
  if (find_json_error(data) || cursor.peek() != JsonKind::Object) {
    parsed.kind = ChunkKind::Invalid;
    return parsed;
  }
  if (read_chunk(cursor, parsed.chunk)) {
    parsed.kind = ChunkKind::Chunk;
    return parsed;
  }
  parsed.kind = ChunkKind::Error;
  parsed.chunk = OpenAiChunk{};
  parsed.error = describe_upstream_error(data);
  return parsed;
}

UpstreamStreamError describe_upstream_error(std::string_view data) {
  const json root = json::parse(data, nullptr, false);
  if (const json* error = member(root, "error"); error != nullptr && !error->is_null()) {
    return describe_error_value(*error);
  }
  if (root.is_object() && !string_member(root, "message").empty()) {
    return describe_error_value(root);
  }
  return {"api_error", shorten_utf8(data.empty() ? std::string_view("no details") : data, kMaxErrorMessageBytes)};
}

}  // namespace balancer::detail
