// stream_translator.cpp — the OpenAI → Anthropic streaming state machine (stream_translator.h).
//
// Everything is driven by whole SSE events from SseParser, never by how the bytes were split,
// so the output is byte-identical for any chunking. Choices made here:
//  - Blocks get indices 0, 1, 2… in order of appearance. Reasoning, text and each tool call
//    are separate blocks; a change of kind (or of tool call) closes the open block. Text after
//    a tool call, or reasoning after text, opens a new block.
//  - `reasoning_content` wins over `reasoning` when a delta has both (servers that send both
//    send the same text twice). Only choice 0 is translated (n > 1 is not a Claude Code thing).
//  - A tool_use block starts once its call's name is known; arguments that arrive before the
//    name are buffered and sent as the first input_json_delta. An `id` different from the one
//    already seen on an index is a new tool call (some servers reuse index 0 for every call).
//    Calls without an `id` get "toolu_<message id>_<block index>".
//  - Argument fragments for a tool call whose block is already closed (the upstream
//    interleaved two calls' arguments) cannot be expressed as Anthropic events: the stream
//    ends with an error event rather than with arguments attached to the wrong call. Empty
//    fragments for a closed call are ignored. A call whose name never arrives is an error too.
//  - stop_reason: stop→end_turn, length→max_tokens, tool_calls/function_call→tool_use,
//    content_filter→refusal, anything else (or none)→end_turn; end_turn becomes tool_use when
//    the message contains a tool_use block (some servers say "stop" after tool calls).
//  - At finish() a final event that lacks its blank line is still processed (a `[DONE]`
//    without "\n\n" completes the stream). A body with no SSE event at all that is a JSON
//    error object is treated as an upstream error chunk.
#include <balancer/stream_translator.h>

#include <cctype>
#include <exception>
#include <map>

#include <balancer/anthropic_error.h>

#include "convert/convert_common.h"
#include "core/text.h"
#include "json/json_validate.h"
#include "stream/anthropic_sse_writer.h"
#include "stream/openai_chunk.h"
#include "stream/sse_parser.h"

namespace balancer {
namespace {

using detail::trim;

constexpr std::size_t kMaxRawBodyBytes = 64 * 1024;  // kept for a body that is not SSE
constexpr std::size_t kMaxIdBytes = 64;
constexpr std::size_t kMaxQuotedChunkBytes = 200;

constexpr std::string_view kEndedBeforeDone = "the stream ended before [DONE]";
constexpr std::string_view kEmptyStream = "the upstream stream was empty";
constexpr std::string_view kNoEvent = "the upstream stream ended without any SSE event";
constexpr std::string_view kInterleavedArguments =
    "the upstream interleaved the arguments of several tool calls, which an Anthropic stream "
    "cannot express";
constexpr std::string_view kInvalidToolArguments = "the upstream sent tool call arguments that are not a JSON object";
constexpr std::string_view kNamelessToolCall = "the upstream sent a tool call without a name";

enum class BlockKind { None, Text, Thinking, ToolUse };

// One upstream tool call (per OpenAI tool-call index) and the tool_use block it became.
struct ToolCall {
  std::string id;  // the upstream id; empty when it sent none
  std::string name;
  std::string buffered_arguments;  // arguments that arrived before the name
  int block = -1;                  // its Anthropic block index once started
};

// The letters and digits of an upstream id ("chatcmpl-AbC1" → "chatcmplAbC1"), shortened.
std::string alphanumeric_part(std::string_view id) {
  std::string part;
  for (const char c : id) {
    if (std::isalnum(static_cast<unsigned char>(c)) != 0 && part.size() < kMaxIdBytes) {
      part.push_back(c);
    }
  }
  return part;
}

}  // namespace

// The translator's state machine. Not thread-safe (one per stream, like StreamTranslator).
struct StreamTranslator::State {
  explicit State(std::string model) : client_model_(std::move(model)) {}

  // Runs one public operation; an exception (only std::bad_alloc is expected) ends the stream.
  template <typename Operation>
  void guarded(std::string& out, Operation operation) noexcept {
    try {
      operation();
    } catch (const std::exception& error) {
      end_after_exception(error.what(), out);
    } catch (...) {
      end_after_exception("unknown exception", out);
    }
  }

  void feed(std::string_view bytes, std::string& out) {
    if (done_) {
      return;
    }
    if (!events_seen_ && raw_body_.size() < kMaxRawBodyBytes) {
      raw_body_.append(bytes.substr(0, kMaxRawBodyBytes - raw_body_.size()));
    }
    parser_.feed(bytes, [&](const detail::SseEvent& event) { on_event(event, out); });
  }

  void finish(std::string& out) {
    if (done_) {
      return;
    }
    at_end_ = true;
    parser_.feed("\n\n", [&](const detail::SseEvent& event) { on_event(event, out); });
    if (done_) {
      return;
    }
    if (!events_seen_) {
      end_without_events(out);
      return;
    }
    end_with_error("api_error", std::string(kEndedBeforeDone), out);
  }

  void fail(std::string_view reason, std::string& out) {
    if (!done_) {
      end_with_error("api_error", "the upstream stream failed: " + std::string(reason), out);
    }
  }

  // Observers, read through StreamTranslator's accessors.
  bool started_ = false;
  bool done_ = false;
  bool completed_ = false;
  std::string failure_;
  std::string upstream_error_;
  std::optional<StreamUsage> usage_;

 private:
  void on_event(const detail::SseEvent& event, std::string& out) {
    if (done_) {
      return;  // bytes after [DONE] or after an error
    }
    events_seen_ = true;
    raw_body_.clear();
    if (event.event == "error") {
      on_upstream_error(event.data, detail::describe_upstream_error(event.data), out);
      return;
    }
    const std::string_view data = trim(event.data);
    if (data.empty()) {
      return;
    }
    if (data == "[DONE]") {
      complete(out);
      return;
    }
    on_chunk_data(data, out);
  }

  void on_chunk_data(std::string_view data, std::string& out) {
    detail::ParsedChunk parsed = detail::parse_openai_chunk(data);
    switch (parsed.kind) {
      case detail::ChunkKind::Chunk: on_chunk(parsed.chunk, out); return;
      case detail::ChunkKind::Error: on_upstream_error(data, parsed.error, out); return;
      case detail::ChunkKind::Invalid:
        if (at_end_) {  // the last event was cut off
          end_with_error("api_error", std::string(kEndedBeforeDone), out);
        } else {
          end_with_error("api_error",
                         "invalid chunk from upstream: " + detail::shorten_utf8(data, kMaxQuotedChunkBytes), out);
        }
        return;
    }
  }

  void on_chunk(const detail::OpenAiChunk& chunk, std::string& out) {
    if (!chunk.has_choice && !chunk.has_usage) {
      return;
    }
    if (!started_) {
      start_message(chunk.id, out);
    }
    append_block_text(BlockKind::Thinking, chunk.reasoning, out);
    append_block_text(BlockKind::Text, chunk.content, out);
    if (done_) {
      return;
    }
    for (const detail::OpenAiToolFragment& fragment : chunk.tool_calls) {
      on_tool_fragment(fragment, out);
      if (done_) {
        return;
      }
    }
    if (!chunk.finish_reason.empty()) {
      finish_reason_ = chunk.finish_reason;
    }
    if (chunk.has_usage) {
      usage_ = chunk.usage;
    }
  }

  void start_message(std::string_view chunk_id, std::string& out) {
    id_part_ = alphanumeric_part(chunk_id);
    if (id_part_.empty()) {
      id_part_ = "openai";
    }
    detail::write_message_start(out, "msg_" + id_part_, client_model_);
    started_ = true;
  }

  // A thinking_delta or text_delta, in the open block when it has that kind, else a new one.
  void append_block_text(BlockKind kind, std::string_view text, std::string& out) {
    if (text.empty()) {
      return;
    }
    if (done_) {
      return;
    }
    if (open_kind_ != kind) {
      open_text_block(kind, out);
      if (done_) {
        return;
      }
    }
    if (kind == BlockKind::Thinking) {
      detail::write_thinking_delta(out, open_block_, text);
    } else {
      detail::write_text_delta(out, open_block_, text);
    }
  }

  void open_text_block(BlockKind kind, std::string& out) {
    if (!close_open_block(out)) {
      return;
    }
    open_block_ = next_block_++;
    open_kind_ = kind;
    if (kind == BlockKind::Thinking) {
      detail::write_thinking_block_start(out, open_block_);
    } else {
      detail::write_text_block_start(out, open_block_);
    }
  }

  // Closes the open block. A tool_use block whose arguments are not a JSON object (cut short,
  // or garbage) ends the stream with an error instead: its input would be unusable. Returns
  // false when the stream ended.
  bool close_open_block(std::string& out) {
    if (open_kind_ == BlockKind::ToolUse && !valid_tool_arguments(open_tool_arguments_)) {
      end_with_error("api_error", std::string(kInvalidToolArguments), out);
      return false;
    }
    if (open_block_ >= 0) {
      detail::write_block_stop(out, open_block_);
    }
    open_block_ = -1;
    open_kind_ = BlockKind::None;
    open_tool_arguments_.clear();
    return true;
  }

  static bool valid_tool_arguments(std::string_view arguments) {
    const auto first = arguments.find_first_not_of(" \t\r\n");
    if (first == std::string_view::npos) {
      return true;  // no arguments: input {}
    }
    return arguments[first] == '{' && !detail::find_json_error(arguments);
  }

  void on_tool_fragment(const detail::OpenAiToolFragment& fragment, std::string& out) {
    auto [entry, inserted] = tool_calls_.try_emplace(fragment.index);
    ToolCall& call = entry->second;
    if (!inserted && !call.id.empty() && !fragment.id.empty() && fragment.id != call.id) {
      if (call.block < 0) {  // the previous call on this index never got a name
        end_with_error("api_error", std::string(kNamelessToolCall), out);
        return;
      }
      call = ToolCall{};
    }
    if (call.id.empty()) {
      call.id = fragment.id;
    }
    if (call.block < 0) {
      accumulate_unstarted(call, fragment, out);
      return;
    }
    if (fragment.arguments.empty()) {
      return;
    }
    if (call.block != open_block_) {
      end_with_error("api_error", std::string(kInterleavedArguments), out);
      return;
    }
    detail::write_input_json_delta(out, call.block, fragment.arguments);
    open_tool_arguments_ += fragment.arguments;
  }

  void accumulate_unstarted(ToolCall& call, const detail::OpenAiToolFragment& fragment, std::string& out) {
    if (call.name.empty()) {
      call.name = fragment.name;
    }
    call.buffered_arguments += fragment.arguments;
    if (!call.name.empty()) {
      start_tool_block(call, out);
    }
  }

  void start_tool_block(ToolCall& call, std::string& out) {
    if (!close_open_block(out)) {
      return;
    }
    call.block = next_block_++;
    open_block_ = call.block;
    open_kind_ = BlockKind::ToolUse;
    tool_use_sent_ = true;
    const std::string id = call.id.empty() ? "toolu_" + id_part_ + "_" + std::to_string(call.block) : call.id;
    detail::write_tool_use_block_start(out, call.block, id, call.name);
    if (!call.buffered_arguments.empty()) {
      detail::write_input_json_delta(out, call.block, call.buffered_arguments);
      open_tool_arguments_ = std::move(call.buffered_arguments);
      call.buffered_arguments.clear();
    }
  }

  // `[DONE]`: close the open block, then message_delta and message_stop. `[DONE]` with no
  // content and no finish_reason is an empty answer (a fake success): an error, so that the
  // caller fails over.
  void complete(std::string& out) {
    if (next_block_ == 0 && finish_reason_.empty()) {
      end_with_error("api_error", std::string(kEmptyStream), out);
      return;
    }
    if (!started_) {
      start_message({}, out);
    }
    for (const auto& [index, call] : tool_calls_) {
      if (call.block < 0) {
        end_with_error("api_error", std::string(kNamelessToolCall), out);
        return;
      }
    }
    if (!close_open_block(out)) {
      return;
    }
    detail::write_message_delta(out, stop_reason(), message_usage());
    detail::write_message_stop(out);
    done_ = true;
    completed_ = true;
  }

  std::string_view stop_reason() const {
    const std::string_view reason = detail::stop_reason_for_finish(finish_reason_);
    return reason == "end_turn" && tool_use_sent_ ? "tool_use" : reason;
  }

  detail::AnthropicUsage message_usage() const {
    detail::AnthropicUsage usage;
    if (usage_) {
      usage.input_tokens = usage_->input_tokens;
      usage.cache_read_input_tokens = usage_->cache_read_input_tokens;
      usage.output_tokens = usage_->output_tokens;
    }
    return usage;
  }

  void on_upstream_error(std::string_view raw_data, const detail::UpstreamStreamError& error, std::string& out) {
    upstream_error_.assign(raw_data);
    end_with_error(error.type, "upstream error: " + error.message, out);
  }

  // finish() with no SSE event: an empty body, a plain JSON error object, or something else.
  void end_without_events(std::string& out) {
    const std::string_view body = trim(raw_body_);
    if (body.empty()) {
      end_with_error("api_error", std::string(kEmptyStream), out);
      return;
    }
    detail::ParsedChunk parsed = detail::parse_openai_chunk(body);
    if (parsed.kind == detail::ChunkKind::Error) {
      on_upstream_error(body, parsed.error, out);
      return;
    }
    end_with_error("api_error", std::string(kNoEvent), out);
  }

  void end_with_error(std::string_view type, std::string message, std::string& out) {
    out += anthropic_error_event(type, message);
    failure_ = std::move(message);
    done_ = true;
  }

  void end_after_exception(const char* what, std::string& out) noexcept {
    try {
      if (!done_) {
        end_with_error("api_error", std::string("stream translation failed: ") + what, out);
      }
    } catch (...) {
      done_ = true;  // out of memory: nothing more can be said
    }
  }

  std::string client_model_;
  detail::SseParser parser_;
  bool events_seen_ = false;
  std::string raw_body_;  // the first bytes, kept only while no SSE event has been seen
  bool at_end_ = false;   // finish() is flushing the last event
  std::string id_part_;   // letters and digits of the upstream id, for message and tool ids
  std::string finish_reason_;
  int next_block_ = 0;
  int open_block_ = -1;
  BlockKind open_kind_ = BlockKind::None;
  std::string open_tool_arguments_;  // the open tool_use block's arguments so far
  bool tool_use_sent_ = false;
  std::map<std::int64_t, ToolCall> tool_calls_;
};

StreamTranslator::StreamTranslator(std::string client_model)
    : state_(std::make_unique<State>(std::move(client_model))) {}

StreamTranslator::~StreamTranslator() = default;

void StreamTranslator::feed(std::string_view bytes, std::string& out) {
  state_->guarded(out, [&] { state_->feed(bytes, out); });
}

void StreamTranslator::finish(std::string& out) {
  state_->guarded(out, [&] { state_->finish(out); });
}

void StreamTranslator::fail(std::string_view reason, std::string& out) {
  state_->guarded(out, [&] { state_->fail(reason, out); });
}

bool StreamTranslator::started() const { return state_->started_; }
bool StreamTranslator::done() const { return state_->done_; }
bool StreamTranslator::completed() const { return state_->completed_; }
const std::string& StreamTranslator::failure() const { return state_->failure_; }
const std::string& StreamTranslator::upstream_error() const { return state_->upstream_error_; }
std::optional<StreamUsage> StreamTranslator::usage() const { return state_->usage_; }

}  // namespace balancer
