// stream_translator.h — turns an OpenAI chat.completion.chunk SSE stream into a valid
// Anthropic Messages event stream (spec §7), fed in arbitrary byte chunks.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace balancer {

// Token usage reported by the upstream stream (its final usage chunk), when it sent one.
struct StreamUsage {
  std::int64_t input_tokens = 0;  // prompt tokens not read from the cache
  std::int64_t output_tokens = 0;
  std::int64_t cache_read_input_tokens = 0;
};

// One per stream; not thread-safe (the thread that reads the upstream drives it).
//
// Output is Anthropic SSE bytes (`event: <type>\ndata: <json>\n\n`): message_start (id
// "msg_" + the upstream id's letters and digits, `model` = the client's model, usage zeros),
// then for every block content_block_start (text / thinking / tool_use with `input: {}`), its
// deltas (text_delta, thinking_delta from `reasoning_content` or `reasoning`, input_json_delta
// from tool-call argument fragments), content_block_stop; then at `[DONE]` message_delta
// (stop_reason from finish_reason, usage from the usage chunk that may follow finish_reason)
// and message_stop. The bytes produced do not depend on how the input was split.
//
// A stream that ends without `[DONE]`, an upstream `{"error":…}` chunk, unparsable chunk JSON
// or a transport failure ends the output with one Anthropic `event: error` and no
// message_stop — never a fake success.
class StreamTranslator {
 public:
  explicit StreamTranslator(std::string client_model);
  ~StreamTranslator();
  StreamTranslator(const StreamTranslator&) = delete;
  StreamTranslator& operator=(const StreamTranslator&) = delete;

  // Parses `bytes` and appends the Anthropic bytes they complete to `out`. Ignored once done().
  void feed(std::string_view bytes, std::string& out);
  // The upstream body ended. Appends the closing events (after `[DONE]`) or an error event.
  void finish(std::string& out);
  // The upstream transfer failed (`reason` e.g. "connection_error: reset"). Appends an error
  // event unless already done().
  void fail(std::string_view reason, std::string& out);

  // message_start has been produced (false while only an upstream error or nothing was seen:
  // the caller may still fail over to another provider).
  bool started() const;
  // `[DONE]` was processed or an error was emitted; nothing more will be produced.
  bool done() const;
  // done() and ended with message_stop.
  bool completed() const;
  // Why the stream ended with an error event; empty otherwise.
  const std::string& failure() const;
  // When the upstream sent an error chunk: its raw JSON data (for classification).
  const std::string& upstream_error() const;
  std::optional<StreamUsage> usage() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace balancer
