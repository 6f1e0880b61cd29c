// convert_request_settings.cpp — the non-message parts of an Anthropic request → OpenAI:
// tools (server tools left out), tool_choice, max_tokens, sampling parameters, and notes for
// every top-level field that cannot be carried over.
#include <set>

#include "convert/convert_common.h"

namespace balancer::detail {
namespace {

using Context = RequestContext;

// ---- Tools ------------------------------------------------------------------------------

// Tools with an input_schema → functions (their names into `names`); server tools (no
// schema: web_search, bash, text_editor, code_execution, …) are left out with a note.
json convert_tools(const Node& tools, std::set<std::string>& names, Context& ctx) {
  json::array_t out;
  tools.require_array("must be an array");
  for (std::size_t i = 0; i < tools.size(); ++i) {
    const Node tool = tools[i];
    tool.require_object("must be an object");
    note_cache_control(tool, ctx);
    if (!tool.has("input_schema")) {
      const std::string type = tool.string_or("type", "unknown");
      ctx.notes.add("server tool '" + tool.string_or("name", type) + "' (" + type + ") left out");
      continue;
    }
    json function = {{"name", tool.string("name", "tool without name")}, {"parameters", tool["input_schema"].value()}};
    if (tool.has("description")) {
      function["description"] = tool["description"].value();
    }
    names.insert(function["name"].get<std::string>());
    out.push_back({{"type", "function"}, {"function", std::move(function)}});
  }
  return out;
}

void convert_tool_choice(const Node& choice, const std::set<std::string>& names, json& body, Context& ctx) {
  choice.require_object("must be an object");
  const std::string type = choice.string("type", "tool_choice without type");
  if (type == "auto") {
    body["tool_choice"] = "auto";
  } else if (type == "any") {
    body["tool_choice"] = "required";
  } else if (type == "none") {
    body["tool_choice"] = "none";
  } else if (type == "tool") {
    const std::string name = choice.string("name", "tool_choice of type tool without name");
    if (names.count(name) == 0) {
      ctx.notes.add("tool_choice for left-out tool '" + name + "' dropped");
      return;
    }
    body["tool_choice"] = {{"type", "function"}, {"function", {{"name", name}}}};
  } else {
    ctx.notes.add("tool_choice type '" + type + "' dropped");
  }
  if (choice["disable_parallel_tool_use"].value() == true) {
    body["parallel_tool_calls"] = false;
  }
}

void convert_tooling(const Node& request, json& body, Context& ctx) {
  if (!request.has("tools")) {
    if (request.has("tool_choice")) {
      ctx.notes.add("tool_choice without tools dropped");
    }
    return;
  }
  std::set<std::string> names;
  json tools = convert_tools(request["tools"], names, ctx);
  if (tools.empty()) {
    if (request.has("tool_choice")) {
      ctx.notes.add("tool_choice dropped (no tools left)");
    }
    return;
  }
  body["tools"] = std::move(tools);
  if (request.has("tool_choice")) {
    convert_tool_choice(request["tool_choice"], names, body, ctx);
  }
}

// ---- Sampling and the rest --------------------------------------------------------------

void convert_max_tokens(const Node& max_tokens, json& body, Context& ctx) {
  if (!max_tokens.value().is_number_integer()) {
    max_tokens.fail("must be an integer");
  }
  std::int64_t value = max_tokens.value().get<std::int64_t>();
  const std::int64_t cap = ctx.options.max_output_tokens;
  if (cap > 0 && value > cap) {
    ctx.notes.add("max_tokens " + std::to_string(value) + " lowered to " + std::to_string(cap));
    value = cap;
  }
  body[ctx.options.max_completion_tokens ? "max_completion_tokens" : "max_tokens"] = value;
}

void convert_parameters(const Node& request, json& body, Context& ctx) {
  if (request.has("max_tokens")) {
    convert_max_tokens(request["max_tokens"], body, ctx);
  }
  const json& stop = request["stop_sequences"].value();
  if (stop.is_array() && !stop.empty()) {
    body["stop"] = stop;
  }
  for (const char* key : {"temperature", "top_p"}) {
    if (request.has(key)) {
      body[key] = request[key].value();
    }
  }
  const json& user = request["metadata"]["user_id"].value();
  if (user.is_string() && !user.get_ref<const std::string&>().empty()) {
    body["user"] = user;
  }
  if (request["stream"].value() == true) {
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
  }
}

// Top-level fields: handled above, dropped quietly (Anthropic-only settings that change
// nothing the provider could honour), or dropped with a note.
void note_dropped_fields(const Node& request, Context& ctx) {
  static const std::set<std::string, std::less<>> kHandled = {
      "model",       "messages",     "system",    "max_tokens",  "stop_sequences",
      "temperature", "top_p",        "metadata",  "stream",      "tools",
      "tool_choice", "service_tier", "container", "mcp_servers", "context_management",
      "provider"};
  for (const auto& [key, value] : request.value().items()) {
    if (kHandled.count(key) != 0) {
      continue;
    }
    if (key == "thinking") {
      ctx.notes.add("thinking config dropped");
    } else if (key == "cache_control") {
      ctx.notes.add("cache_control dropped");
    } else {
      ctx.notes.add("'" + key + "' dropped");
    }
  }
}

}  // namespace

void note_cache_control(const Node& node, RequestContext& ctx) {
  if (node.has("cache_control")) {
    ctx.notes.add("cache_control dropped");
  }
}

void convert_request_settings(const Node& request, json& body, RequestContext& ctx) {
  convert_tooling(request, body, ctx);
  convert_parameters(request, body, ctx);
  note_dropped_fields(request, ctx);
}

}  // namespace balancer::detail
