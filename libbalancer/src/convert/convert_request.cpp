// convert_request.cpp — Anthropic /v1/messages request → OpenAI /chat/completions request
// (spec §7). Content blocks become message content parts, tool_use → assistant tool_calls,
// tool_result → role "tool" messages; whatever cannot be carried over is noted. Adjacent turns
// of one role (and mid-conversation system entries, which become user content) are merged, so
// roles alternate as strict chat templates require.
#include <algorithm>
#include <iterator>

#include "convert/convert_common.h"

namespace balancer::detail {
namespace {

using Parts = json::array_t;  // OpenAI content parts of one user message

using Context = RequestContext;

// ---- Content parts ----------------------------------------------------------------------

json text_part(std::string text) { return {{"type", "text"}, {"text", std::move(text)}}; }

bool is_text_part(const json& part) { return part.value("type", "") == "text"; }

// Parts → a plain string when they are all text (joined "\n\n"), else the parts array.
json collapse(const Parts& parts) {
  std::vector<std::string> texts;
  for (const json& part : parts) {
    if (!is_text_part(part)) {
      return parts;
    }
    texts.push_back(part["text"].get<std::string>());
  }
  return join(texts, "\n\n");
}

// The type of a content block; fails when the block is not an object with a string type.
std::string block_type(const Node& block) {
  block.require_object("content block must be an object");
  return block.string("type", "block without type");
}

json image_part(const Node& block) {
  const Node source = block["source"];
  source.require_object("image without source");
  const std::string type = source.string("type", "image source without type");
  std::string url;
  if (type == "base64") {
    url = "data:" + source.string("media_type", "base64 image without media_type") + ";base64," +
          source.string("data", "base64 image without data");
  } else if (type == "url") {
    url = source.string("url", "url image without url");
  } else {
    source.fail("image source type '" + type + "' cannot be sent to an OpenAI-compatible provider");
  }
  return {{"type", "image_url"}, {"image_url", {{"url", url}}}};
}

void append_block(const Node& block, Parts& parts, Context& ctx);

// A document block → parts: text and content sources become text (the title on a first
// line), a base64 PDF becomes a "file" part; URL and Files API sources are refused.
void append_document(const Node& block, Parts& parts, Context& ctx) {
  const Node source = block["source"];
  source.require_object("document without source");
  const std::string type = source.string("type", "document source without type");
  const std::string title = block.string_or("title");
  const std::string heading = title.empty() ? "" : title + "\n";
  if (block.has("citations") || block.has("context")) {
    ctx.notes.add("document citations/context dropped");
  }
  if (type == "text") {
    parts.push_back(text_part(heading + source.string("data", "text document without data")));
  } else if (type == "base64") {
    const std::string media = source.string("media_type", "base64 document without media_type");
    const std::string data = source.string("data", "base64 document without data");
    parts.push_back(
        {{"type", "file"},
         {"file",
          {{"filename", title.empty() ? "document.pdf" : title}, {"file_data", "data:" + media + ";base64," + data}}}});
  } else if (type == "content") {
    Parts inner;
    const Node content = source["content"];
    if (content.value().is_string()) {
      inner.push_back(text_part(content.value().get<std::string>()));
    }
    for (std::size_t i = 0; i < content.size(); ++i) {
      append_block(content[i], inner, ctx);
    }
    if (!inner.empty() && is_text_part(inner.front())) {
      inner.front()["text"] = heading + inner.front()["text"].get<std::string>();
    } else if (!title.empty()) {
      inner.insert(inner.begin(), text_part(title));
    }
    parts.insert(parts.end(), inner.begin(), inner.end());
  } else if (type == "url") {
    block.fail("document blocks with a URL source cannot be sent to an OpenAI-compatible provider");
  } else {
    source.fail("document source type '" + type + "' cannot be sent to an OpenAI-compatible provider");
  }
}

// A user-side block that is not a tool_result (text, image, document) → parts. Other types
// are dropped with a note (forward compatibility), never silently.
void append_block(const Node& block, Parts& parts, Context& ctx) {
  const std::string type = block_type(block);
  note_cache_control(block, ctx);
  if (type == "text") {
    parts.push_back(text_part(block.string("text", "text block without text")));
  } else if (type == "image") {
    parts.push_back(image_part(block));
  } else if (type == "document") {
    append_document(block, parts, ctx);
  } else {
    ctx.notes.add("'" + type + "' blocks dropped");
  }
}

// ---- User messages ----------------------------------------------------------------------

// A tool_result block → a role "tool" message. Its text content is joined; images (and
// files) cannot ride a tool message, so they go to `user_parts` (the user message that
// follows the tool messages) after a text part naming the tool call.
json tool_message(const Node& block, Parts& user_parts, Context& ctx) {
  const std::string id = block.string("tool_use_id", "tool_result without tool_use_id");
  const Node content = block["content"];
  Parts inner;
  if (content.value().is_string()) {
    inner.push_back(text_part(content.value().get<std::string>()));
  } else if (content.value().is_array()) {
    for (std::size_t i = 0; i < content.size(); ++i) {
      append_block(content[i], inner, ctx);
    }
  } else if (!content.value().is_null()) {
    content.fail("tool_result content must be a string or an array of blocks");
  }
  std::vector<std::string> texts;
  Parts media;
  for (json& part : inner) {
    if (is_text_part(part)) {
      texts.push_back(part["text"].get<std::string>());
    } else {
      media.push_back(std::move(part));
    }
  }
  std::string text = join(texts, "\n\n");
  if (!media.empty()) {
    const bool images =
        std::all_of(media.begin(), media.end(), [](const json& part) { return part["type"] == "image_url"; });
    const std::string what = images ? "Images" : "Files";
    user_parts.push_back(text_part(what + " returned by tool call " + id + ":"));
    user_parts.insert(user_parts.end(), media.begin(), media.end());
    if (text.empty()) {
      text = "(" + (images ? std::string("images") : std::string("files")) + " attached in the next message)";
    }
  }
  // is_error has no field in an OpenAI tool message; the model still has to know the call
  // failed, so the content says so in words.
  if (block["is_error"].value() == true) {
    text = "Error: " + text;
  }
  return {{"role", "tool"}, {"tool_call_id", id}, {"content", text}};
}

// ---- Assistant messages -----------------------------------------------------------------

json tool_call(const Node& block) {
  const std::string id = block.string("id", "tool_use without id");
  const std::string name = block.string("name", "tool_use without name");
  const json& input = block["input"].value();
  return {{"id", id},
          {"type", "function"},
          {"function", {{"name", name}, {"arguments", input.is_null() ? "{}" : dump_compact(input)}}}};
}

// The pieces of one assistant message, gathered block by block.
struct AssistantParts {
  std::vector<std::string> texts;
  std::vector<std::string> reasoning;
  json::array_t tool_calls;
};

void gather_assistant_block(const Node& block, AssistantParts& parts, Context& ctx) {
  const std::string type = block_type(block);
  note_cache_control(block, ctx);
  if (type == "text") {
    parts.texts.push_back(block.string("text", "text block without text"));
  } else if (type == "tool_use") {
    parts.tool_calls.push_back(tool_call(block));
  } else if (type == "thinking") {
    const std::string thinking = block.string_or("thinking");
    if (!ctx.options.send_reasoning_content) {
      ctx.notes.add("thinking blocks dropped");
    } else if (!thinking.empty()) {
      parts.reasoning.push_back(thinking);
    }
  } else if (type == "redacted_thinking") {
    ctx.notes.add("redacted_thinking blocks dropped");
  } else {
    ctx.notes.add("'" + type + "' blocks dropped");
  }
}

// ---- The message list ----------------------------------------------------------------

// The OpenAI messages as they are gathered, merged so that roles alternate: content of a user
// turn that follows a user turn joins it (parts in order), an assistant turn that follows an
// assistant turn joins it (texts, tool calls and reasoning in order), and a tool message never
// lands after user content that follows the tool calls it answers (it goes right before it).
class MessageList {
 public:
  // Text for the top-level system message (system entries before the first turn).
  void add_system(std::string text) {
    if (!text.empty()) {
      system_.push_back(std::move(text));
    }
  }

  void add_user(Parts parts) {
    if (parts.empty()) {
      return;
    }
    if (turns_.empty() || turns_.back().role != Role::User) {
      turns_.push_back({Role::User, {}, {}, {}});
    }
    Parts& into = turns_.back().parts;
    into.insert(into.end(), std::make_move_iterator(parts.begin()), std::make_move_iterator(parts.end()));
  }

  void add_assistant(AssistantParts parts) {
    if (turns_.empty() || turns_.back().role != Role::Assistant) {
      turns_.push_back({Role::Assistant, {}, std::move(parts), {}});
      return;
    }
    AssistantParts& into = turns_.back().assistant;
    append(into.texts, parts.texts);
    append(into.reasoning, parts.reasoning);
    append(into.tool_calls, parts.tool_calls);
  }

  // A tool message after user content that itself follows the tool calls (or earlier tool
  // messages) goes before that content: OpenAI wants the tool messages right after the
  // assistant message with the tool_calls.
  void add_tool(json message) {
    Turn turn{Role::Tool, {}, {}, std::move(message)};
    const std::size_t n = turns_.size();
    if (n >= 2 && turns_[n - 1].role == Role::User &&
        (turns_[n - 2].role == Role::Tool ||
         (turns_[n - 2].role == Role::Assistant && !turns_[n - 2].assistant.tool_calls.empty()))) {
      turns_.insert(turns_.end() - 1, std::move(turn));
      return;
    }
    turns_.push_back(std::move(turn));
  }

  // No turn yet: a system entry here still belongs to the system prompt.
  bool started() const { return !turns_.empty(); }

  json::array_t finish() && {
    json::array_t out;
    if (!system_.empty()) {
      out.push_back({{"role", "system"}, {"content", join(system_, "\n\n")}});
    }
    for (Turn& turn : turns_) {
      if (turn.role == Role::User) {
        out.push_back({{"role", "user"}, {"content", collapse(turn.parts)}});
      } else if (turn.role == Role::Assistant) {
        out.push_back(assistant_message(std::move(turn.assistant)));
      } else {
        out.push_back(std::move(turn.tool));
      }
    }
    return out;
  }

 private:
  enum class Role { User, Assistant, Tool };
  struct Turn {
    Role role;
    Parts parts;               // User
    AssistantParts assistant;  // Assistant
    json tool;                 // Tool: the whole message
  };

  template <class T>
  static void append(std::vector<T>& into, std::vector<T>& from) {
    into.insert(into.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
  }

  // Text joined into `content` (null when there are only tool calls), tool_use → tool_calls
  // in block order, thinking → reasoning_content.
  static json assistant_message(AssistantParts parts) {
    json result = {{"role", "assistant"}};
    if (!parts.texts.empty()) {
      result["content"] = join(parts.texts, "\n\n");
    } else {
      result["content"] = parts.tool_calls.empty() ? json("") : json(nullptr);
    }
    if (!parts.tool_calls.empty()) {
      result["tool_calls"] = std::move(parts.tool_calls);
    }
    if (!parts.reasoning.empty()) {
      result["reasoning_content"] = join(parts.reasoning, "\n\n");
    }
    return result;
  }

  std::vector<std::string> system_;
  std::vector<Turn> turns_;
};

// A user message → its tool messages (in block order, as OpenAI wants them right after the
// assistant's tool_calls), then the rest as user content.
void convert_user(const Node& message, MessageList& out, Context& ctx) {
  const Node content = message["content"];
  if (content.value().is_string()) {
    out.add_user({text_part(content.value().get<std::string>())});
    return;
  }
  content.require_array("content must be a string or an array of blocks");
  Parts parts;
  for (std::size_t i = 0; i < content.size(); ++i) {
    const Node block = content[i];
    if (block_type(block) == "tool_result") {
      note_cache_control(block, ctx);
      out.add_tool(tool_message(block, parts, ctx));
    } else {
      append_block(block, parts, ctx);
    }
  }
  out.add_user(std::move(parts));
}

// An assistant message → its text, tool calls and reasoning.
void convert_assistant(const Node& message, MessageList& out, Context& ctx) {
  const Node content = message["content"];
  AssistantParts parts;
  if (content.value().is_string()) {
    parts.texts.push_back(content.value().get<std::string>());
  } else {
    content.require_array("content must be a string or an array of blocks");
    for (std::size_t i = 0; i < content.size(); ++i) {
      gather_assistant_block(content[i], parts, ctx);
    }
  }
  out.add_assistant(std::move(parts));
}

// ---- System and messages ----------------------------------------------------------------

// Claude Code's first system block is billing metadata for Anthropic; it means nothing to
// another provider and, as it changes with the client version, only spoils its prefix cache.
constexpr std::string_view kBillingHeader = "x-anthropic-billing-header:";

// The text of a system prompt: a string, or text blocks joined with "\n\n" (without the
// billing header block).
std::string system_text(const Node& system, Context& ctx) {
  if (system.value().is_string() || system.value().is_null()) {
    return system.value().is_string() ? system.value().get<std::string>() : "";
  }
  system.require_array("must be a string or an array of text blocks");
  std::vector<std::string> texts;
  for (std::size_t i = 0; i < system.size(); ++i) {
    const Node block = system[i];
    note_cache_control(block, ctx);
    if (block_type(block) != "text") {
      block.fail("system blocks must be text");
    }
    std::string text = block.string("text", "text block without text");
    if (text.rfind(kBillingHeader, 0) == 0) {
      ctx.notes.add("Claude Code billing header block dropped");
      continue;
    }
    texts.push_back(std::move(text));
  }
  return join(texts, "\n\n");
}

// A system entry inside `messages` (Claude Code sends environment and reminder blocks this
// way, after the prompt and after tool results). Before the first turn it is part of the system
// prompt. Later, many OpenAI-compatible servers (vLLM chat templates of Qwen, Mistral, …) reject
// a system message that is not first, so it becomes user content marked the way Claude Code
// marks injected context, merged into the neighbouring user turn in its place.
void convert_system_entry(const Node& message, MessageList& out, Context& ctx) {
  std::string text = system_text(message["content"], ctx);
  if (!out.started()) {
    ctx.notes.add("system message before the first turn merged into the system prompt");
    out.add_system(std::move(text));
    return;
  }
  if (text.rfind("<system-reminder>", 0) != 0) {
    text = "<system-reminder>\n" + text + "\n</system-reminder>";
  }
  ctx.notes.add("mid-conversation system message sent as a user message");
  out.add_user({text_part(std::move(text))});
}

json convert_messages(const Node& request, Context& ctx) {
  MessageList out;
  out.add_system(system_text(request["system"], ctx));
  const Node messages = request["messages"];
  messages.require_array("must be an array");
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const Node message = messages[i];
    message.require_object("must be an object");
    const std::string role = message.string_or("role");
    if (role == "user") {
      convert_user(message, out, ctx);
    } else if (role == "assistant") {
      convert_assistant(message, out, ctx);
    } else if (role == "system") {
      convert_system_entry(message, out, ctx);
    } else {
      message.fail("role must be \"user\", \"assistant\" or \"system\"");
    }
  }
  return std::move(out).finish();
}

}  // namespace

json anthropic_request_to_openai(const json& request, std::string_view upstream_model, const ConverterOptions& options,
                                 Notes& notes) {
  const Node root(request, "");
  root.require_object("the request must be a JSON object");
  Context ctx{options, notes};
  json body = json::object();
  body["model"] = upstream_model.empty() ? root.string("model", "model is required") : std::string(upstream_model);
  body["messages"] = convert_messages(root, ctx);
  convert_request_settings(root, body, ctx);
  return body;
}

}  // namespace balancer::detail
