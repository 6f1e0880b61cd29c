// OpenAI-compatible providers through the real in-process balancer server (spec §7, issue 5):
// Anthropic requests in, converted /chat/completions requests out to fake OpenAI upstreams on
// 127.0.0.1:0, Anthropic responses and streams back to real libcurl clients; failover between
// OpenAI and Anthropic providers in both directions; count_tokens forwarded or estimated.
#include <string>
#include <vector>

#include <fmt/format.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "anthropic_stream_grammar.h"
#include "fake_upstream.h"
#include "test_balancer.h"
#include "test_client.h"

namespace balancer::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr auto kDeadline = 10s;

HeaderList client_headers() { return {{"Content-Type", "application/json"}, {"anthropic-version", "2023-06-01"}}; }

std::string request_body(bool stream, std::string_view extra = "") {
  return fmt::format(
      R"({{"model":"claude-sonnet-4-5","max_tokens":64,"stream":{},"system":"Be brief.",{}"messages":[{{"role":"user","content":"What is in notes.txt?"}}],"tools":[{{"name":"Read","description":"Reads a file","input_schema":{{"type":"object","properties":{{"file_path":{{"type":"string"}}}},"required":["file_path"]}}}}]}})",
      stream ? "true" : "false", extra);
}

// `providers`: (name, type, url) in priority order, all on route "*".
std::string config(const std::vector<std::tuple<std::string, std::string, std::string>>& providers,
                   std::string_view route_model = "passthrough") {
  std::string yaml = "providers:\n";
  for (const auto& [name, type, url] : providers) {
    yaml += fmt::format(
        "  - name: \"{}\"\n    type: \"{}\"\n    base_url: \"{}\"\n    auth_type: \"api_key\"\n    auth_value: "
        "\"key-{}\"\n",
        name, type, url, name);
  }
  yaml += "model_routes:\n  \"*\":\n";
  int priority = 1;
  for (const auto& [name, type, url] : providers) {
    const std::string model = type == "openai" ? std::string(route_model) : "passthrough";
    yaml += fmt::format("    - {{provider: \"{}\", model: \"{}\", priority: {}}}\n", name, model, priority++);
  }
  return yaml + test_settings_yaml("  unhealthy_threshold: 1\n");
}

std::string chunk(const json& delta, const json& finish_reason = nullptr) {
  const json c = {{"id", "chatcmpl-abc123"},
                  {"object", "chat.completion.chunk"},
                  {"created", 1764000000},
                  {"model", "gpt-test"},
                  {"choices", json::array({json{{"index", 0}, {"delta", delta}, {"finish_reason", finish_reason}}})}};
  return "data: " + c.dump() + "\n\n";
}

// A streamed answer: text, then a Read call whose arguments arrive in three fragments, then the
// usage chunk and [DONE].
std::vector<std::string> tool_call_stream(bool with_done = true) {
  std::vector<std::string> events = {
      chunk({{"role", "assistant"}, {"content", ""}}),
      chunk({{"content", "Let me "}}),
      chunk({{"content", "look."}}),
      chunk({{"tool_calls", json::array({json{{"index", 0},
                                              {"id", "call_1"},
                                              {"type", "function"},
                                              {"function", {{"name", "Read"}, {"arguments", ""}}}}})}}),
      chunk({{"tool_calls", json::array({json{{"index", 0}, {"function", {{"arguments", "{\"file_"}}}}})}}),
      chunk({{"tool_calls", json::array({json{{"index", 0}, {"function", {{"arguments", "path\":\"/tmp/"}}}}})}}),
      chunk({{"tool_calls", json::array({json{{"index", 0}, {"function", {{"arguments", "notes.txt\"}"}}}}})}}),
      chunk(json::object(), "tool_calls"),
      "data: " +
          json{{"id", "chatcmpl-abc123"},
               {"object", "chat.completion.chunk"},
               {"choices", json::array()},
               {"usage", {{"prompt_tokens", 120}, {"completion_tokens", 30}, {"total_tokens", 150}}}}
              .dump() +
          "\n\n",
  };
  if (with_done) {
    events.push_back("data: [DONE]\n\n");
  }
  return events;
}

std::string completion_json(std::string_view text) {
  return json{{"id", "chatcmpl-xyz"},
              {"object", "chat.completion"},
              {"model", "gpt-test"},
              {"choices",
               json::array({json{
                   {"index", 0}, {"message", {{"role", "assistant"}, {"content", text}}}, {"finish_reason", "stop"}}})},
              {"usage", {{"prompt_tokens", 11}, {"completion_tokens", 5}, {"total_tokens", 16}}}}
      .dump();
}

Reply openai_error(int status, std::string_view message) {
  return Reply::json(
      json{{"error", {{"message", message}, {"type", "invalid_request_error"}, {"code", nullptr}}}}.dump(), status);
}

// Every `data:` JSON of an Anthropic SSE body, in order.
std::vector<json> events_of(const std::string& sse) {
  std::vector<json> out;
  std::size_t pos = 0;
  while ((pos = sse.find("data: ", pos)) != std::string::npos) {
    const std::size_t end = sse.find('\n', pos);
    out.push_back(json::parse(sse.substr(pos + 6, end - pos - 6)));
    pos = end;
  }
  return out;
}

}  // namespace

TEST_CASE("openai provider: a non-streaming request is converted both ways", "[openai]") {
  FakeUpstream openai([](const RecordedRequest&) { return Reply::json(completion_json("Hello from OpenAI.")); });
  TestBalancer balancer(config({{"oai", "openai", openai.url() + "/v1"}}, "gpt-test"));

  const ClientResponse response = post(balancer.url("/v1/messages"), request_body(false), client_headers());

  REQUIRE(response.status == 200);
  const json message = json::parse(response.body);
  CHECK(message.at("type") == "message");
  CHECK(message.at("model") == "claude-sonnet-4-5");  // the model the client asked for
  CHECK(message.at("id").get<std::string>().rfind("msg_", 0) == 0);
  CHECK(message.at("content").at(0).at("text") == "Hello from OpenAI.");
  CHECK(message.at("stop_reason") == "end_turn");
  CHECK(message.at("usage").at("input_tokens") == 11);
  CHECK(response.header("x-balancer-provider") == "oai");

  REQUIRE(openai.request_count() == 1);
  const RecordedRequest sent = openai.requests().at(0);
  CHECK(sent.path == "/v1/chat/completions");
  CHECK(sent.header("authorization") == "Bearer key-oai");
  CHECK_FALSE(sent.has_header("x-api-key"));
  CHECK_FALSE(sent.has_header("anthropic-version"));
  const json body = json::parse(sent.body);
  CHECK(body.at("model") == "gpt-test");
  CHECK(body.at("messages").at(0) == json{{"role", "system"}, {"content", "Be brief."}});
  CHECK(body.at("tools").at(0).at("function").at("name") == "Read");
  CHECK(body.at("max_tokens") == 64);
}

TEST_CASE("openai provider: a stream with text and a tool call becomes a valid Anthropic stream", "[openai]") {
  FakeUpstream openai([](const RecordedRequest&) { return Reply::sse(tool_call_stream(), 5ms); });
  TestBalancer balancer(config({{"oai", "openai", openai.url()}}));

  const ClientResponse response = post(balancer.url("/v1/messages"), request_body(true), client_headers());

  REQUIRE(response.status == 200);
  CHECK(response.header("content-type").value_or("").rfind("text/event-stream", 0) == 0);
  const StreamCheck check = check_anthropic_stream(response.body);
  INFO(response.body);
  CHECK(check.violation.empty());
  CHECK(check.completed);
  const auto events = events_of(response.body);
  std::string text, tool_json;
  json tool_start, delta;
  for (const json& e : events) {
    if (e.at("type") == "content_block_delta" && e.at("delta").at("type") == "text_delta") {
      text += e.at("delta").at("text").get<std::string>();
    } else if (e.at("type") == "content_block_delta" && e.at("delta").at("type") == "input_json_delta") {
      tool_json += e.at("delta").at("partial_json").get<std::string>();
    } else if (e.at("type") == "content_block_start" && e.at("content_block").at("type") == "tool_use") {
      tool_start = e.at("content_block");
    } else if (e.at("type") == "message_delta") {
      delta = e;
    }
  }
  CHECK(text == "Let me look.");
  CHECK(tool_start.at("id") == "call_1");
  CHECK(tool_start.at("name") == "Read");
  CHECK(tool_start.at("input") == json::object());
  CHECK(json::parse(tool_json) == json{{"file_path", "/tmp/notes.txt"}});
  CHECK(delta.at("delta").at("stop_reason") == "tool_use");
  CHECK(delta.at("usage").at("output_tokens") == 30);
  const json sent = json::parse(openai.requests().at(0).body);
  CHECK(sent.at("stream") == true);
  CHECK(sent.at("stream_options").at("include_usage") == true);
}

TEST_CASE("openai provider: a streaming client gets a stream when the provider answers with JSON", "[openai]") {
  FakeUpstream openai([](const RecordedRequest&) { return Reply::json(completion_json("Hello from OpenAI.")); });
  TestBalancer balancer(config({{"oai", "openai", openai.url()}}));

  const ClientResponse response = post(balancer.url("/v1/messages"), request_body(true), client_headers());

  REQUIRE(response.status == 200);
  CHECK(response.header("content-type").value_or("").rfind("text/event-stream", 0) == 0);
  const StreamCheck check = check_anthropic_stream(response.body);
  INFO(response.body);
  CHECK(check.violation.empty());
  CHECK(check.completed);
  CHECK(response.body.find(R"("text":"Hello from OpenAI.")") != std::string::npos);
}

TEST_CASE("openai provider: an answer broken before it reached the client fails over", "[openai]") {
  // One short read holds a text chunk and then an error chunk: nothing has been sent yet, so the
  // request moves to the next provider and the failure counts against the first.
  FakeUpstream openai([](const RecordedRequest&) {
    return Reply::sse({chunk({{"role", "assistant"}, {"content", "Hel"}}) +
                       "data: {\"error\":{\"message\":\"upstream overloaded\",\"type\":\"server_error\"}}\n\n"});
  });
  FakeUpstream anthropic([](const RecordedRequest&) { return Reply::sse(message_stream({"Hi"})); });
  TestBalancer balancer(config({{"oai", "openai", openai.url()}, {"ant", "anthropic", anthropic.url()}}));

  const ClientResponse response = post(balancer.url("/v1/messages"), request_body(true), client_headers());

  CHECK(response.status == 200);
  CHECK(response.header("x-balancer-provider") == "ant");
  CHECK(check_anthropic_stream(response.body).completed);
  const json providers = json::parse(get(balancer.url("/providers")).body);
  for (const json& p : providers.at("providers")) {
    if (p.at("name") == "oai") {
      CHECK(p.at("failures") == 1);
      CHECK(p.at("healthy") == false);  // threshold 1
    }
  }
}

TEST_CASE("openai provider: the next OpenAI provider gets the same conversion after a failure", "[openai]") {
  // The body is parsed once per request; the second provider's request is built from the same
  // document as the first's, model aside.
  FakeUpstream first([](const RecordedRequest&) { return Reply::error(500, "server_error", "boom"); });
  FakeUpstream second([](const RecordedRequest&) { return Reply::json(completion_json("From the second.")); });
  TestBalancer balancer(config({{"one", "openai", first.url()}, {"two", "openai", second.url()}}, "gpt-test"));

  const ClientResponse response = post(balancer.url("/v1/messages"), request_body(false), client_headers());

  REQUIRE(response.status == 200);
  CHECK(response.header("x-balancer-provider") == "two");
  CHECK(json::parse(response.body).at("content").at(0).at("text") == "From the second.");
  REQUIRE(first.request_count() == 1);
  REQUIRE(second.request_count() == 1);
  const json one = json::parse(first.requests().at(0).body);
  const json two = json::parse(second.requests().at(0).body);
  CHECK(one == two);
  CHECK(two.at("messages").at(0) == json{{"role", "system"}, {"content", "Be brief."}});
  CHECK(two.at("tools").at(0).at("function").at("name") == "Read");
}

TEST_CASE("openai provider: a stream that ends without [DONE] ends with an error event", "[openai]") {
  FakeUpstream openai([](const RecordedRequest&) { return Reply::sse(tool_call_stream(false)); });
  TestBalancer balancer(config({{"oai", "openai", openai.url()}}));

  const ClientResponse response = post(balancer.url("/v1/messages"), request_body(true), client_headers());

  REQUIRE(response.status == 200);
  const StreamCheck check = check_anthropic_stream(response.body);
  INFO(response.body);
  CHECK(check.violation.empty());
  CHECK(check.errored);
  CHECK_FALSE(check.completed);
  CHECK(response.body.find("message_stop") == std::string::npos);
}

TEST_CASE("openai provider: a connection dropped mid-stream ends with an error event", "[openai]") {
  FakeUpstream openai([](const RecordedRequest&) {
    Reply reply = Reply::sse(tool_call_stream());
    reply.drop_after = 4;
    return reply;
  });
  TestBalancer balancer(config({{"oai", "openai", openai.url()}}));

  const ClientResponse response = post(balancer.url("/v1/messages"), request_body(true), client_headers());

  REQUIRE(response.status == 200);
  const StreamCheck check = check_anthropic_stream(response.body);
  INFO(response.body);
  CHECK(check.violation.empty());
  CHECK(check.errored);
}

TEST_CASE("openai provider: failover from OpenAI to Anthropic and back", "[openai]") {
  FakeUpstream openai([](const RecordedRequest&) { return openai_error(500, "internal error"); });
  FakeUpstream anthropic;  // answers a small Anthropic message

  SECTION("an OpenAI 500 moves the request to the Anthropic provider") {
    TestBalancer balancer(config({{"oai", "openai", openai.url()}, {"ant", "anthropic", anthropic.url()}}));
    const ClientResponse response = post(balancer.url("/v1/messages"), request_body(false), client_headers());
    CHECK(response.status == 200);
    CHECK(response.header("x-balancer-provider") == "ant");
    CHECK(response.header("x-balancer-attempts") == "2");
    CHECK(openai.request_count() == 1);
    // The Anthropic provider got the client's bytes, not the OpenAI form.
    CHECK(anthropic.requests().at(0).body == request_body(false));
  }
  SECTION("an Anthropic 529 moves a stream to the OpenAI provider") {
    anthropic.set_behaviour([](const RecordedRequest&) { return Reply::error(529, "overloaded_error", "Overloaded"); });
    openai.set_behaviour([](const RecordedRequest&) { return Reply::sse(tool_call_stream()); });
    TestBalancer balancer(config({{"ant", "anthropic", anthropic.url()}, {"oai", "openai", openai.url()}}));
    const ClientResponse response = post(balancer.url("/v1/messages"), request_body(true), client_headers());
    CHECK(response.status == 200);
    CHECK(response.header("x-balancer-provider") == "oai");
    CHECK(check_anthropic_stream(response.body).completed);
  }
  SECTION("a conversation with OpenAI-produced thinking continues on the Anthropic provider") {
    // Claude Code sends back the unsigned thinking block the OpenAI provider produced; the
    // Anthropic provider must not see it (Anthropic refuses unsigned thinking).
    const std::string history =
        R"({"model":"claude-sonnet-4-5","max_tokens":64,"messages":[)"
        R"({"role":"user","content":"q"},)"
        R"({"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":""},)"
        R"({"type":"tool_use","id":"call_1","name":"Read","input":{"file_path":"a"}}]},)"
        R"({"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1","content":"A"}]}]})";
    TestBalancer balancer(config({{"oai", "openai", openai.url()}, {"ant", "anthropic", anthropic.url()}}));
    const ClientResponse response = post(balancer.url("/v1/messages"), history, client_headers());
    CHECK(response.status == 200);
    CHECK(response.header("x-balancer-provider") == "ant");
    const json sent = json::parse(anthropic.requests().at(0).body);
    CHECK(
        sent.at("messages").at(1).at("content") ==
        json::array({json{{"type", "tool_use"}, {"id", "call_1"}, {"name", "Read"}, {"input", {{"file_path", "a"}}}}}));
    // The OpenAI provider got the thinking back as reasoning_content.
    const json to_openai = json::parse(openai.requests().at(0).body);
    CHECK(to_openai.at("messages").at(1).at("reasoning_content") == "hmm");
  }
  SECTION("an OpenAI error chunk before any content fails over") {
    openai.set_behaviour([](const RecordedRequest&) {
      return Reply::sse({"data: {\"error\":{\"message\":\"Insufficient credits\",\"type\":\"billing\"}}\n\n"});
    });
    TestBalancer balancer(config({{"oai", "openai", openai.url()}, {"ant", "anthropic", anthropic.url()}}));
    const ClientResponse response = post(balancer.url("/v1/messages"), request_body(true), client_headers());
    CHECK(response.status == 200);
    CHECK(response.header("x-balancer-provider") == "ant");
  }
  SECTION("a 200 without choices (fake success) fails over") {
    openai.set_behaviour(
        [](const RecordedRequest&) { return Reply::json(R"({"id":"x","object":"chat.completion","choices":[]})"); });
    TestBalancer balancer(config({{"oai", "openai", openai.url()}, {"ant", "anthropic", anthropic.url()}}));
    const ClientResponse response = post(balancer.url("/v1/messages"), request_body(false), client_headers());
    CHECK(response.status == 200);
    CHECK(response.header("x-balancer-provider") == "ant");
  }
}

TEST_CASE("openai provider: a client error is passed through as an Anthropic error with its status", "[openai]") {
  FakeUpstream openai([](const RecordedRequest&) { return openai_error(400, "max_tokens is too large: 999999"); });
  TestBalancer balancer(config({{"oai", "openai", openai.url()}}));

  const ClientResponse response = post(balancer.url("/v1/messages"), request_body(false), client_headers());

  CHECK(response.status == 400);
  CHECK(anthropic_error_type(response.body) == "invalid_request_error");
  CHECK(anthropic_error_message(response.body).find("max_tokens is too large") != std::string::npos);
  CHECK(openai.request_count() == 1);
}

TEST_CASE("openai provider: a request that cannot be converted is the client's 400", "[openai]") {
  FakeUpstream openai;
  TestBalancer balancer(config({{"oai", "openai", openai.url()}}));
  const std::string body =
      R"({"model":"m","max_tokens":8,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"url","url":"https://example.com/a.pdf"}}]}]})";

  const ClientResponse response = post(balancer.url("/v1/messages"), body, client_headers());

  CHECK(response.status == 400);
  CHECK(anthropic_error_type(response.body) == "invalid_request_error");
  CHECK(openai.request_count() == 0);
}

TEST_CASE("count_tokens: estimated for OpenAI routes, forwarded to Anthropic providers", "[openai][count_tokens]") {
  FakeUpstream anthropic([](const RecordedRequest& r) {
    return r.path == "/v1/messages/count_tokens" ? Reply::json(R"({"input_tokens":4242})")
                                                 : Reply::json(message_json("hi"));
  });
  FakeUpstream openai;

  SECTION("an OpenAI route gets a local estimate, no upstream call") {
    TestBalancer balancer(config({{"oai", "openai", openai.url()}}));
    const ClientResponse response =
        post(balancer.url("/v1/messages/count_tokens"), request_body(false), client_headers());
    REQUIRE(response.status == 200);
    CHECK(json::parse(response.body).at("input_tokens").get<long>() > 20);
    CHECK(response.header("x-balancer-token-count").value_or("").rfind("estimate", 0) == 0);
    CHECK(openai.request_count() == 0);
  }
  SECTION("an Anthropic provider counts") {
    TestBalancer balancer(config({{"ant", "anthropic", anthropic.url()}}));
    const ClientResponse response =
        post(balancer.url("/v1/messages/count_tokens"), request_body(false), client_headers());
    REQUIRE(response.status == 200);
    CHECK(json::parse(response.body).at("input_tokens") == 4242);
    CHECK_FALSE(response.header("x-balancer-token-count"));
  }
  SECTION("a provider answering 404 is remembered as unsupported, without a health penalty") {
    anthropic.set_behaviour([](const RecordedRequest& r) {
      return r.path == "/v1/messages/count_tokens" ? Reply::error(404, "not_found_error", "no such endpoint")
                                                   : Reply::json(message_json("hi"));
    });
    FakeUpstream backup;
    TestBalancer balancer(config({{"ant", "anthropic", anthropic.url()}, {"backup", "anthropic", backup.url()}}));
    for (int i = 0; i < 3; ++i) {
      const ClientResponse response =
          post(balancer.url("/v1/messages/count_tokens"), request_body(false), client_headers());
      REQUIRE(response.status == 200);
      CHECK(json::parse(response.body).at("input_tokens").get<long>() > 20);
    }
    CHECK(anthropic.request_count() == 1);  // asked once, then remembered
    CHECK(backup.request_count() == 0);
    // Still healthy (threshold 1, so one penalty would have put it in cooldown): messages go to
    // it, not to the backup.
    const ClientResponse message = post(balancer.url("/v1/messages"), request_body(false), client_headers());
    CHECK(message.status == 200);
    CHECK(message.header("x-balancer-provider") == "ant");
  }
}

}  // namespace balancer::test
