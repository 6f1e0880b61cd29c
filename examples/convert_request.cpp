// convert_request: the Converter alone. Turns an Anthropic Messages request that offers a tool
// into an OpenAI chat-completions request, then turns an OpenAI answer that calls the tool back
// into an Anthropic message. Pure JSON in, JSON out. Exits 0 when the fields checked below
// came out as claimed.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include <balancer/converter.h>

namespace {

using nlohmann::json;

const json kAnthropicRequest = json::parse(R"({
  "model": "claude-sonnet-4-5",
  "max_tokens": 1024,
  "system": "Answer with the tool when you can.",
  "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
  "tools": [{
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
  }]
})");

const json kOpenAIResponse = json::parse(R"({
  "id": "chatcmpl-abc123",
  "object": "chat.completion",
  "model": "gpt-4o",
  "choices": [{
    "index": 0,
    "finish_reason": "tool_calls",
    "message": {
      "role": "assistant",
      "content": null,
      "tool_calls": [{"id": "call_1", "type": "function",
                      "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]
    }
  }],
  "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49}
})");

// The value at a JSON pointer such as "/tools/0/type", or null when there is none.
json at(const json& document, const char* pointer) {
  const json::json_pointer path(pointer);
  return document.contains(path) ? document.at(path) : json();
}

// Prints one check and returns whether it held.
bool check(bool held, const char* what) {
  std::printf("  [%s] %s\n", held ? "ok" : "FAILED", what);
  return held;
}

}  // namespace

int main() {
  const balancer::Converter converter;  // default ConverterOptions: max_tokens, no cap

  // Anthropic -> OpenAI: the route's upstream model replaces the client's.
  auto conversion = converter.anthropic_to_openai_request(kAnthropicRequest, "gpt-4o");
  if (!conversion) {
    std::fprintf(stderr, "request: %s\n", conversion.error().message.c_str());
    return 1;
  }
  const json& openai = conversion->body;
  std::printf("OpenAI request:\n%s\n", openai.dump(2).c_str());
  for (const std::string& note : conversion->notes) {
    std::printf("note: %s\n", note.c_str());
  }
  bool ok = true;
  ok &= check(at(openai, "/model") == "gpt-4o", "model is the upstream model");
  ok &= check(at(openai, "/messages/0/role") == "system", "the system prompt became the first message");
  ok &= check(at(openai, "/tools/0/type") == "function" && at(openai, "/tools/0/function/name") == "get_weather" &&
                  at(openai, "/tools/0/function/parameters") == at(kAnthropicRequest, "/tools/0/input_schema"),
              "the tool became a function whose parameters are the input_schema");

  // OpenAI -> Anthropic: the answer carries the model the client asked for.
  auto message = converter.openai_to_anthropic_response(kOpenAIResponse, "claude-sonnet-4-5");
  if (!message) {
    std::fprintf(stderr, "response: %s\n", message.error().message.c_str());
    return 1;
  }
  std::printf("Anthropic message:\n%s\n", message->dump(2).c_str());
  json tool_use;
  for (const json& block : at(*message, "/content")) {
    if (at(block, "/type") == "tool_use") {
      tool_use = block;
    }
  }
  ok &= check(at(*message, "/model") == "claude-sonnet-4-5", "model is the client's model");
  ok &= check(at(*message, "/stop_reason") == "tool_use", "finish_reason tool_calls became stop_reason tool_use");
  ok &= check(at(tool_use, "/name") == "get_weather" && at(tool_use, "/input") == json{{"city", "Paris"}},
              "the tool call became a tool_use block with its arguments parsed into input");
  ok &= check(at(*message, "/usage/input_tokens") == 42 && at(*message, "/usage/output_tokens") == 7,
              "usage was carried over");

  std::printf("%s\n", ok ? "OK" : "FAILED");
  return ok ? 0 : 1;
}
