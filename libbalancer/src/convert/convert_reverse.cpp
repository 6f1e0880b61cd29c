// convert_reverse.cpp — OpenAI /chat/completions request → Anthropic /v1/messages request, for
// gateways that speak OpenAI inbound (the reverse of convert_request.cpp). Adjacent messages
// of one role are merged (Anthropic wants user and assistant turns to alternate).
#include <set>

#include "convert/convert_common.h"

namespace balancer::detail {
namespace {

constexpr int kDefaultMaxTokens = 4096;  // Anthropic requires max_tokens; OpenAI does not

// ---- User content -----------------------------------------------------------------------

// "data:<media>;base64,<data>" → {media, data}; fails on other data URLs.
std::pair<std::string, std::string> split_data_url(const std::string& url, const Node& at) {
  const std::size_t comma = url.find(',');
  const std::string meta = comma == std::string::npos ? "" : url.substr(5, comma - 5);
  const std::string suffix = ";base64";
  const bool base64 =
      meta.size() > suffix.size() && meta.compare(meta.size() - suffix.size(), suffix.size(), suffix) == 0;
  if (!base64) {
    at.fail("data URL must be base64 with a media type");
  }
  return {meta.substr(0, meta.size() - suffix.size()), url.substr(comma + 1)};
}

json image_block(const Node& part) {
  const Node image = part["image_url"];
  const std::string url =
      image.value().is_string() ? image.value().get<std::string>() : image.string("url", "image_url without url");
  if (url.rfind("data:", 0) == 0) {
    auto [media, data] = split_data_url(url, image);
    return {{"type", "image"}, {"source", {{"type", "base64"}, {"media_type", media}, {"data", data}}}};
  }
  return {{"type", "image"}, {"source", {{"type", "url"}, {"url", url}}}};
}

// A "file" part with inline file_data → a base64 document (filename as its title).
json document_block(const Node& part) {
  const Node file = part["file"];
  file.require_object("file part without file");
  if (!file.has("file_data")) {
    file.fail("file parts need file_data (a file_id cannot be sent to an Anthropic provider)");
  }
  auto [media, data] = split_data_url(file.string("file_data", "file_data must be a string"), file);
  json block = {{"type", "document"}, {"source", {{"type", "base64"}, {"media_type", media}, {"data", data}}}};
  if (file.has("filename")) {
    block["title"] = file.string("filename", "filename must be a string");
  }
  return block;
}

json user_content(const Node& content, Notes& notes) {
  if (content.value().is_string()) {
    return content.value();
  }
  content.require_array("content must be a string or an array of parts");
  json::array_t blocks;
  for (std::size_t i = 0; i < content.size(); ++i) {
    const Node part = content[i];
    part.require_object("content part must be an object");
    const std::string type = part.string("type", "content part without type");
    if (type == "text") {
      blocks.push_back({{"type", "text"}, {"text", part.string("text", "text part without text")}});
    } else if (type == "image_url") {
      blocks.push_back(image_block(part));
    } else if (type == "file") {
      blocks.push_back(document_block(part));
    } else {
      notes.add("'" + type + "' content parts dropped");
    }
  }
  return blocks;
}

// ---- Assistant and tool messages --------------------------------------------------------

json tool_use_block(const Node& call) {
  call.require_object("tool call must be an object");
  const Node function = call["function"];
  function.require_object("tool call without function");
  const Node arguments = function["arguments"];
  json input = json::object();
  if (arguments.value().is_string() && !arguments.value().get_ref<const std::string&>().empty()) {
    input = json::parse(arguments.value().get<std::string>(), nullptr, false);
  }
  if (!input.is_object()) {
    arguments.fail("must be a JSON object in a string");
  }
  return {{"type", "tool_use"},
          {"id", call.string("id", "tool call without id")},
          {"name", function.string("name", "tool call without name")},
          {"input", std::move(input)}};
}

// ---- The message list -------------------------------------------------------------------

// The Anthropic messages as they are gathered, merged so that roles alternate: a message of the
// role of the one before joins it (its content becomes blocks, in order). tool_result blocks go
// after the tool_results already at the start of their user turn and before any other content,
// as Anthropic requires.
class MessageList {
 public:
  void add(const std::string& role, json content) {
    if (out_.empty() || out_.back()["role"] != role) {
      out_.push_back({{"role", role}, {"content", std::move(content)}});
      return;
    }
    json& into = as_blocks(out_.back()["content"]);
    for (json& block : as_blocks(content)) {
      into.push_back(std::move(block));
    }
  }

  void add_tool_result(json block) {
    if (out_.empty() || out_.back()["role"] != "user") {
      out_.push_back({{"role", "user"}, {"content", json::array({std::move(block)})}});
      return;
    }
    json& into = as_blocks(out_.back()["content"]);
    auto at = into.begin();
    while (at != into.end() && at->value("type", "") == "tool_result") {
      ++at;
    }
    into.insert(at, std::move(block));
  }

  bool started() const { return !out_.empty(); }

  json::array_t finish() && { return std::move(out_); }

 private:
  // `content` as an array of blocks: a string becomes one text block (none when empty).
  static json& as_blocks(json& content) {
    if (content.is_string()) {
      std::string text = content.get<std::string>();
      content = json::array();
      if (!text.empty()) {
        content.push_back({{"type", "text"}, {"text", std::move(text)}});
      }
    }
    return content;
  }

  json::array_t out_;
};

// Assistant text (string or text/refusal parts) + tool_calls → an Anthropic assistant
// message; an assistant message with neither is dropped (Anthropic rejects empty content).
void convert_assistant(const Node& message, MessageList& out, Notes& notes) {
  if (message.has("reasoning_content") || message.has("reasoning")) {
    notes.add("assistant reasoning dropped (Anthropic needs signed thinking blocks)");
  }
  if (message.has("function_call")) {
    notes.add("legacy function_call dropped");
  }
  const std::string text = openai_text(message["content"].value(), "\n\n");
  const Node calls = message["tool_calls"];
  if (calls.size() == 0) {
    if (text.empty()) {
      notes.add("empty assistant message dropped");
      return;
    }
    out.add("assistant", text);
    return;
  }
  json::array_t blocks;
  if (!text.empty()) {
    blocks.push_back({{"type", "text"}, {"text", text}});
  }
  for (std::size_t i = 0; i < calls.size(); ++i) {
    blocks.push_back(tool_use_block(calls[i]));
  }
  out.add("assistant", std::move(blocks));
}

// A role "tool" message → a tool_result block in the user turn that follows the tool calls
// (consecutive tool messages, and user content after them, share one).
void convert_tool(const Node& message, MessageList& out) {
  out.add_tool_result({{"type", "tool_result"},
                       {"tool_use_id", message.string("tool_call_id", "tool message without tool_call_id")},
                       {"content", openai_text(message["content"].value(), "\n\n")}});
}

// A system or developer message: before the first turn, part of the top-level system prompt;
// later, user text in <system-reminder> tags where it stood (hoisting it into the system prompt
// would move it and change the cached prefix of the whole conversation).
void convert_system(const Node& message, MessageList& out, std::vector<std::string>& system, Notes& notes) {
  std::string text = openai_text(message["content"].value(), "\n\n");
  if (text.empty()) {
    return;
  }
  if (!out.started()) {
    system.push_back(std::move(text));
    return;
  }
  if (text.rfind("<system-reminder>", 0) != 0) {
    text = "<system-reminder>\n" + text + "\n</system-reminder>";
  }
  notes.add("mid-conversation system message sent as user text");
  out.add("user", json::array({{{"type", "text"}, {"text", std::move(text)}}}));
}

// ---- Messages ---------------------------------------------------------------------------

void convert_messages(const Node& request, json& body, Notes& notes) {
  const Node messages = request["messages"];
  messages.require_array("must be an array");
  std::vector<std::string> system;
  MessageList out;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const Node message = messages[i];
    message.require_object("must be an object");
    const std::string role = message.string("role", "message without role");
    if (message.has("name")) {
      notes.add("message names dropped");
    }
    if (role == "system" || role == "developer") {
      convert_system(message, out, system, notes);
    } else if (role == "user") {
      out.add("user", user_content(message["content"], notes));
    } else if (role == "assistant") {
      convert_assistant(message, out, notes);
    } else if (role == "tool") {
      convert_tool(message, out);
    } else {
      message.fail("role must be system, developer, user, assistant or tool");
    }
  }
  if (!system.empty()) {
    body["system"] = join(system, "\n\n");
  }
  body["messages"] = std::move(out).finish();
}

// ---- Tools and parameters ---------------------------------------------------------------

void convert_tools(const Node& request, json& body, Notes& notes) {
  const Node tools = request["tools"];
  json::array_t out;
  for (std::size_t i = 0; i < tools.size(); ++i) {
    const Node tool = tools[i];
    if (tool.string_or("type") != "function") {
      notes.add("'" + tool.string_or("type", "unknown") + "' tools dropped");
      continue;
    }
    const Node function = tool["function"];
    function.require_object("function tool without function");
    json converted = {{"name", function.string("name", "function without name")}};
    if (function.has("description")) {
      converted["description"] = function["description"].value();
    }
    converted["input_schema"] = function.has("parameters") ? function["parameters"].value()
                                                           : json{{"type", "object"}, {"properties", json::object()}};
    out.push_back(std::move(converted));
  }
  if (!out.empty()) {
    body["tools"] = std::move(out);
  }
}

void convert_tool_choice(const Node& request, json& body) {
  if (!body.contains("tools")) {
    return;
  }
  const Node choice = request["tool_choice"];
  json result;
  if (choice.value() == "auto" || choice.value() == "required" || choice.value() == "none") {
    const std::string mode = choice.value().get<std::string>();
    result = {{"type", mode == "required" ? "any" : mode}};
  } else if (choice.value().is_object()) {
    result = {{"type", "tool"}, {"name", choice["function"].string("name", "tool_choice without name")}};
  } else if (!choice.value().is_null()) {
    choice.fail("must be auto, required, none or a function");
  }
  const bool none = result.is_object() && result["type"] == "none";
  if (request["parallel_tool_calls"].value() == false && !none) {
    if (result.is_null()) {
      result = {{"type", "auto"}};
    }
    result["disable_parallel_tool_use"] = true;
  }
  if (!result.is_null()) {
    body["tool_choice"] = std::move(result);
  }
}

void convert_parameters(const Node& request, json& body, Notes& notes) {
  const Node limit = request.has("max_completion_tokens") ? request["max_completion_tokens"] : request["max_tokens"];
  if (limit.value().is_number_integer()) {
    body["max_tokens"] = limit.value();
  } else {
    body["max_tokens"] = kDefaultMaxTokens;
    notes.add("max_tokens defaulted to " + std::to_string(kDefaultMaxTokens));
  }
  const json& stop = request["stop"].value();
  if (stop.is_string()) {
    body["stop_sequences"] = json::array({stop});
  } else if (stop.is_array() && !stop.empty()) {
    body["stop_sequences"] = stop;
  }
  if (request["temperature"].value().is_number()) {
    const double temperature = request["temperature"].value().get<double>();
    body["temperature"] = request["temperature"].value();
    if (temperature > 1.0) {
      body["temperature"] = 1.0;  // OpenAI allows up to 2, Anthropic up to 1
      notes.add("temperature capped at 1");
    }
  }
  if (request.has("top_p") && body.contains("temperature")) {
    notes.add("top_p dropped (recent Claude models take temperature or top_p, not both)");
  } else if (request.has("top_p")) {
    body["top_p"] = request["top_p"].value();
  }
  if (request["user"].value().is_string()) {
    body["metadata"] = {{"user_id", request["user"].value()}};
  }
  if (request["stream"].value() == true) {
    body["stream"] = true;
  }
}

void note_dropped_fields(const Node& request, Notes& notes) {
  static const std::set<std::string, std::less<>> kHandled = {"model",
                                                              "messages",
                                                              "max_tokens",
                                                              "max_completion_tokens",
                                                              "stop",
                                                              "temperature",
                                                              "top_p",
                                                              "user",
                                                              "stream",
                                                              "stream_options",
                                                              "tools",
                                                              "tool_choice",
                                                              "parallel_tool_calls"};
  for (const auto& [key, value] : request.value().items()) {
    if (kHandled.count(key) != 0 || (key == "n" && value == 1)) {
      continue;
    }
    notes.add(key == "n" ? "n=" + value.dump() + " dropped (one choice only)" : "'" + key + "' dropped");
  }
}

}  // namespace

json openai_request_to_anthropic(const json& request, Notes& notes) {
  const Node root(request, "");
  root.require_object("the request must be a JSON object");
  json body = {{"model", root.string("model", "model is required")}};
  convert_messages(root, body, notes);
  convert_tools(root, body, notes);
  convert_tool_choice(root, body);
  convert_parameters(root, body, notes);
  note_dropped_fields(root, notes);
  return body;
}

}  // namespace balancer::detail
