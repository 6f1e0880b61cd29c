// openai_chunk.h — reads the data of one OpenAI-compatible streaming event
// (`chat.completion.chunk`, or an error object) into the few fields the stream translator
// needs, tolerating the dialects of OpenAI, DeepSeek, OpenRouter, vLLM and similar servers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <balancer/stream_translator.h>

namespace balancer::detail {

// One entry of `delta.tool_calls` (or the legacy `delta.function_call`, as index 0).
struct OpenAiToolFragment {
  std::int64_t index = 0;  // `index`, else the entry's position in `tool_calls`
  std::string id;          // empty when absent
  std::string name;        // empty when absent
  std::string arguments;   // the argument fragment; empty when absent
};

// What one chunk says about choice 0 and usage. Other choices (n > 1) are ignored.
struct OpenAiChunk {
  std::string id;           // the chunk's `id`, empty when absent
  bool has_choice = false;  // `choices` had an entry for choice 0
  std::string reasoning;    // `delta.reasoning_content`, else `delta.reasoning`
  std::string content;      // `delta.content`
  std::vector<OpenAiToolFragment> tool_calls;
  std::string finish_reason;  // empty while null
  bool has_usage = false;
  StreamUsage usage;  // valid when has_usage
};

// An upstream error rewritten for an Anthropic error event.
struct UpstreamStreamError {
  std::string type;     // Anthropic error type: rate_limit_error, overloaded_error, …, api_error
  std::string message;  // the upstream's message, else its error JSON (shortened)
};

enum class ChunkKind {
  Chunk,    // a chunk (possibly one with nothing in it)
  Error,    // an object with a non-null `error` member
  Invalid,  // not a JSON object
};

struct ParsedChunk {
  ChunkKind kind = ChunkKind::Invalid;
  OpenAiChunk chunk;          // when kind == Chunk
  UpstreamStreamError error;  // when kind == Error
};

// Parses the data of one SSE event (not `[DONE]`). Pure; never throws on any input.
ParsedChunk parse_openai_chunk(std::string_view data);

// Describes an upstream error given as raw event data: a JSON object with an `error` member,
// or any other text (used as the message). Pure; never throws on any input.
UpstreamStreamError describe_upstream_error(std::string_view data);

// `text` cut to at most `max_bytes` (then followed by "…") without splitting a UTF-8
// sequence. Pure.
std::string shorten_utf8(std::string_view text, std::size_t max_bytes);

}  // namespace balancer::detail
