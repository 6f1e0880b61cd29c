// stream_translator_test.cpp — the OpenAI → Anthropic stream translator: golden fixtures
// (tests/data/streams/openai; BALANCER_UPDATE_GOLDEN=1 rewrites the *.anthropic.sse files),
// the Anthropic stream grammar checker itself, chunk-boundary invariance and edge cases.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <balancer/stream_translator.h>

#include "anthropic_stream_grammar.h"
#include "json/json_cursor.h"
#include "stream/openai_chunk.h"

namespace {

using balancer::StreamTranslator;
using balancer::test::check_anthropic_stream;
using nlohmann::json;

constexpr const char* kModel = "claude-sonnet-4-5";

// ---------------------------------------------------------------------------------------------
// Helpers

std::filesystem::path fixture_dir() {
  return std::filesystem::path(BALANCER_SOURCE_DIR) / "tests" / "data" / "streams" / "openai";
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

void write_file(const std::filesystem::path& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary) << contents;
}

// Feeds `input` in the pieces delimited by `cuts` (ascending offsets), then calls finish().
std::string translate_pieces(const std::string& input, const std::vector<std::size_t>& cuts) {
  StreamTranslator translator(kModel);
  std::string out;
  std::size_t begin = 0;
  for (const std::size_t cut : cuts) {
    translator.feed(std::string_view(input).substr(begin, cut - begin), out);
    begin = cut;
  }
  translator.feed(std::string_view(input).substr(begin), out);
  translator.finish(out);
  return out;
}

std::string translate(const std::string& input) { return translate_pieces(input, {}); }

std::vector<balancer::test::grammar_detail::RawEvent> split_raw(const std::string& sse) {
  std::vector<balancer::test::grammar_detail::RawEvent> raw;
  REQUIRE(balancer::test::grammar_detail::split_events(sse, raw).empty());
  return raw;
}

// The data of each output event, parsed (the output is strictly framed, see the grammar).
std::vector<json> events_of(const std::string& sse) {
  std::vector<json> events;
  for (const auto& event : split_raw(sse)) {
    events.push_back(json::parse(event.data));
  }
  return events;
}

// "content_block_delta" → "content_block_delta:text_delta", so sequences read at a glance.
std::vector<std::string> shape_of(const std::string& sse) {
  std::vector<std::string> shape;
  for (const json& event : events_of(sse)) {
    std::string entry = event["type"];
    if (event.contains("content_block")) {
      entry += ":" + event["content_block"]["type"].get<std::string>();
    }
    if (event.contains("delta") && event["delta"].contains("type")) {
      entry += ":" + event["delta"]["type"].get<std::string>();
    }
    shape.push_back(entry);
  }
  return shape;
}

// One OpenAI chunk for choice 0 with `delta` and `finish_reason` (JSON texts).
std::string chunk(const std::string& delta, const std::string& finish_reason = "null") {
  return R"(data: {"id":"chatcmpl-T3st","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":)" +
         delta + R"(,"logprobs":null,"finish_reason":)" + finish_reason + "}]}\n\n";
}

std::string text_chunk(const std::string& text) { return chunk(json{{"content", text}}.dump()); }

std::string tool_chunk(int index, const std::string& id, const std::string& name, const std::string& arguments) {
  json call = {{"index", index}, {"function", {{"arguments", arguments}}}};
  if (!id.empty()) {
    call["id"] = id;
    call["type"] = "function";
  }
  if (!name.empty()) {
    call["function"]["name"] = name;
  }
  return chunk(json{{"tool_calls", json::array({call})}}.dump());
}

const std::string kDone = "data: [DONE]\n\n";

// ---------------------------------------------------------------------------------------------
// Fixtures

struct Fixture {
  const char* name;
  bool completed;  // else it ends with an error event
  bool started;    // message_start was produced
};

constexpr std::array<Fixture, 7> kFixtures = {{
    {"text_only", true, true},
    {"text_and_two_parallel_tool_calls", true, true},
    {"reasoning_then_text", true, true},
    {"usage_after_finish_reason", true, true},
    {"missing_done", false, true},
    {"error_mid_stream", false, true},
    {"error_first", false, false},
}};

std::string fixture_input(const Fixture& fixture) {
  return read_file(fixture_dir() / (std::string(fixture.name) + ".sse"));
}

// Builds one event for the grammar tests; its name is the data's type.
std::string ev(const json& data) {
  return "event: " + data["type"].get<std::string>() + "\ndata: " + data.dump() + "\n\n";
}

std::string raw_ev(const std::string& name, const std::string& data) {
  return "event: " + name + "\ndata: " + data + "\n\n";
}

const std::string kStart = ev(json::parse(
    R"({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}})"));

std::string block_start(int index, const json& block) {
  return ev({{"type", "content_block_start"}, {"index", index}, {"content_block", block}});
}
std::string text_start(int index) { return block_start(index, {{"type", "text"}, {"text", ""}}); }
std::string tool_start(int index, const std::string& name = "Bash", const json& input = json::object()) {
  return block_start(index, {{"type", "tool_use"}, {"id", "toolu_1"}, {"name", name}, {"input", input}});
}
std::string delta(int index, const json& delta_object) {
  return ev({{"type", "content_block_delta"}, {"index", index}, {"delta", delta_object}});
}
std::string text_delta(int index) { return delta(index, {{"type", "text_delta"}, {"text", "hi"}}); }
std::string json_delta(int index, const std::string& partial) {
  return delta(index, {{"type", "input_json_delta"}, {"partial_json", partial}});
}
std::string block_stop(int index) { return ev({{"type", "content_block_stop"}, {"index", index}}); }
std::string message_delta(const std::string& reason = "end_turn") {
  return ev({{"type", "message_delta"},
             {"delta", {{"stop_reason", reason}, {"stop_sequence", nullptr}}},
             {"usage", {{"output_tokens", 3}}}});
}
const std::string kMessageStop = ev({{"type", "message_stop"}});
const std::string kError = ev(json::parse(R"({"type":"error","error":{"type":"api_error","message":"boom"}})"));
const std::string kPing = ev({{"type", "ping"}});

}  // namespace

// ---------------------------------------------------------------------------------------------
// The grammar checker

TEST_CASE("Anthropic stream grammar: valid streams and how they ended", "[stream_translator]") {
  const std::string complete = kStart + kPing + text_start(0) + text_delta(0) + block_stop(0) + tool_start(1) +
                               json_delta(1, R"({"command")") + json_delta(1, R"(:"ls"})") + block_stop(1) +
                               tool_start(2) + block_stop(2) + message_delta("tool_use") + kMessageStop;
  auto check = check_anthropic_stream(complete);
  INFO(check.violation);
  CHECK(check.ok());
  CHECK(check.completed);
  CHECK_FALSE(check.errored);

  check = check_anthropic_stream(kError);
  CHECK(check.ok());
  CHECK(check.errored);
  CHECK_FALSE(check.completed);

  check = check_anthropic_stream(kStart + text_start(0) + text_delta(0) + kError);
  CHECK(check.ok());
  CHECK(check.errored);

  const std::string thinking = kStart + block_start(0, {{"type", "thinking"}, {"thinking", ""}, {"signature", ""}}) +
                               delta(0, {{"type", "thinking_delta"}, {"thinking", "hmm"}}) +
                               delta(0, {{"type", "signature_delta"}, {"signature", "sig"}}) + block_stop(0) +
                               message_delta() + kMessageStop;
  CHECK(check_anthropic_stream(thinking).ok());
}

TEST_CASE("Anthropic stream grammar: every rule can fail", "[stream_translator]") {
  struct Case {
    const char* rule;
    std::string stream;
    const char* violation;  // a part of the expected message
  };
  const std::string body = text_start(0) + text_delta(0) + block_stop(0);
  const std::string end = message_delta() + kMessageStop;
  const std::vector<Case> cases = {
      {"framing: no blank line at the end", kStart.substr(0, kStart.size() - 1), "event #0: not terminated"},
      {"framing: no data line", "event: ping\n\n", "not of the form"},
      {"framing: two data lines", "event: ping\ndata: {}\ndata: {}\n\n", "more than one data line"},
      {"framing: data not JSON", raw_ev("ping", "{"), "data is not JSON"},
      {"framing: name differs from type", raw_ev("ping", R"({"type":"message_stop"})"), "not the event name"},
      {"empty stream", "", "the stream is empty"},
      {"message_start first", text_start(0) + kStart,
       "event #0 (content_block_start): the first event must be message_start"},
      {"ping only after message_start", kPing + kStart, "event #0 (ping): the first event"},
      {"message_start once", kStart + kStart + end, "event #1 (message_start): message_start after"},
      {"message id prefix",
       ev(json::parse(
           R"({"type":"message_start","message":{"id":"chatcmpl-1","type":"message","role":"assistant","model":"m","content":[],"usage":{}}})")),
       "msg_"},
      {"model non-empty",
       ev(json::parse(
           R"({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"","content":[],"usage":{}}})")),
       "model is empty"},
      {"content empty",
       ev(json::parse(
           R"({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":""}],"usage":{}}})")),
       "content is not []"},
      {"usage present",
       ev(json::parse(
           R"({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[]}})")),
       "usage is missing"},
      {"indices start at 0", kStart + text_start(1) + text_delta(1) + block_stop(1) + end, "index is not 0"},
      {"indices consecutive", kStart + body + text_start(2) + block_stop(2) + end, "index is not 1"},
      {"no overlap", kStart + text_start(0) + text_start(1) + block_stop(1) + block_stop(0) + end,
       "while block 0 is open"},
      {"delta kind matches block", kStart + tool_start(0) + text_delta(0) + block_stop(0) + end,
       "text_delta in a tool_use block"},
      {"thinking delta not in text",
       kStart + text_start(0) + delta(0, {{"type", "thinking_delta"}, {"thinking", "x"}}) + block_stop(0) + end,
       "thinking_delta in a text block"},
      {"delta field present", kStart + text_start(0) + delta(0, {{"type", "text_delta"}}) + block_stop(0) + end,
       "without a text string"},
      {"delta for the open index", kStart + text_start(0) + text_delta(1) + block_stop(0) + end, "not open"},
      {"stop for the open index", kStart + text_start(0) + block_stop(1) + end,
       "content_block_stop for a block that is not open"},
      {"no block left open", kStart + text_start(0) + end, "message_delta while block 0 is open"},
      {"tool_use input is {}", kStart + tool_start(0, "Bash", {{"a", 1}}) + block_stop(0) + end, "input is not {}"},
      {"tool_use name non-empty", kStart + tool_start(0, "") + block_stop(0) + end, "non-empty id and name"},
      {"tool arguments form an object", kStart + tool_start(0) + json_delta(0, R"({"a":)") + block_stop(0) + end,
       "is not a JSON object"},
      {"tool arguments not an array", kStart + tool_start(0) + json_delta(0, "[1]") + block_stop(0) + end,
       "is not a JSON object"},
      {"known block types", kStart + block_start(0, {{"type", "image"}}) + block_stop(0) + end,
       "unknown content block type"},
      {"known stop reasons", kStart + body + message_delta("stop") + kMessageStop, "stop_reason 'stop'"},
      {"usage.output_tokens integer",
       kStart + body +
           ev({{"type", "message_delta"},
               {"delta", {{"stop_reason", "end_turn"}}},
               {"usage", {{"output_tokens", "3"}}}}) +
           kMessageStop,
       "output_tokens"},
      {"one message_delta", kStart + body + message_delta() + message_delta() + kMessageStop, "a second message_delta"},
      {"no block after message_delta", kStart + message_delta() + text_start(0) + block_stop(0) + kMessageStop,
       "after message_delta"},
      {"message_stop after message_delta", kStart + body + kMessageStop, "message_stop before message_delta"},
      {"nothing after message_stop", kStart + body + end + kPing, "event after message_stop"},
      {"nothing after error", kStart + kError + kPing, "event after error"},
      {"error shape", kStart + raw_ev("error", R"({"type":"error","error":{"message":"x"}})"), "error.type"},
      {"a stream must end", kStart + body, "ended without message_stop or error"},
      {"unknown events", kStart + raw_ev("surprise", R"({"type":"surprise"})"), "unknown event type"},
  };
  for (const Case& c : cases) {
    const auto check = check_anthropic_stream(c.stream);
    INFO(c.rule << ": " << check.violation);
    CHECK_THAT(check.violation, Catch::Contains(c.violation));
    CHECK_FALSE(check.completed);
    CHECK_FALSE(check.errored);
  }
}

// ---------------------------------------------------------------------------------------------
// Golden fixtures

TEST_CASE("StreamTranslator: every fixture is listed", "[stream_translator]") {
  std::set<std::string> listed;
  for (const Fixture& fixture : kFixtures) {
    listed.insert(fixture.name);
  }
  std::set<std::string> on_disk;
  for (const auto& entry : std::filesystem::directory_iterator(fixture_dir())) {
    const std::string file = entry.path().filename().string();
    if (entry.path().extension() == ".sse" && file.find(".anthropic.") == std::string::npos) {
      on_disk.insert(entry.path().stem().string());
    }
  }
  CHECK(on_disk == listed);
}

TEST_CASE("StreamTranslator: fixtures translate to their golden Anthropic streams", "[stream_translator]") {
  const bool update = std::getenv("BALANCER_UPDATE_GOLDEN") != nullptr;
  for (const Fixture& fixture : kFixtures) {
    DYNAMIC_SECTION(fixture.name) {
      const std::string input = fixture_input(fixture);
      REQUIRE_FALSE(input.empty());
      StreamTranslator translator(kModel);
      std::string output;
      translator.feed(input, output);
      translator.finish(output);
      const auto golden = fixture_dir() / (std::string(fixture.name) + ".anthropic.sse");
      if (update) {
        write_file(golden, output);
      }
      CHECK(output == read_file(golden));
      for (const auto& event : split_raw(output)) {  // compact, in Anthropic's key order
        CHECK(nlohmann::ordered_json::parse(event.data).dump() == event.data);
      }
      const auto check = check_anthropic_stream(output);
      INFO(check.violation);
      CHECK(check.ok());
      CHECK(check.completed == fixture.completed);
      CHECK(check.errored == !fixture.completed);
      CHECK(translator.done());
      CHECK(translator.completed() == fixture.completed);
      CHECK(translator.started() == fixture.started);
      CHECK(translator.failure().empty() == fixture.completed);
    }
  }
}

TEST_CASE("StreamTranslator: fixture details", "[stream_translator]") {
  const auto run = [](const char* name, StreamTranslator& translator) {
    std::string out;
    translator.feed(read_file(fixture_dir() / (std::string(name) + ".sse")), out);
    translator.finish(out);
    return events_of(out);
  };
  SECTION("parallel tool calls: ids, names, arguments, stop reason and cached usage") {
    StreamTranslator translator(kModel);
    const auto events = run("text_and_two_parallel_tool_calls", translator);
    CHECK(events.front()["message"]["id"] == "msg_chatcmplBHx2PcR7tLm4Wq9Zs1Yv8Nk3Jd6Fa");
    CHECK(events.front()["message"]["model"] == kModel);
    std::vector<json> tools;
    std::map<int, std::string> arguments;
    for (const json& event : events) {
      if (event["type"] == "content_block_start" && event["content_block"]["type"] == "tool_use") {
        tools.push_back(event["content_block"]);
      }
      if (event["type"] == "content_block_delta" && event["delta"]["type"] == "input_json_delta") {
        arguments[event["index"].get<int>()] += event["delta"]["partial_json"].get<std::string>();
      }
    }
    REQUIRE(tools.size() == 2);
    CHECK(tools[0]["id"] == "call_3kP9sQ1mXvB7nR2tY6wZ8cLd");
    CHECK(tools[1]["id"] == "call_Hq4Wn8Jd2Ls5Vx7Bc9Tf1Rm0");
    CHECK(json::parse(arguments[1]) == json{{"file_path", "/src/main.cpp"}});
    CHECK(json::parse(arguments[2]) == json{{"file_path", "/src/util.h"}, {"limit", 200}});
    const json& message_delta = events[events.size() - 2];
    CHECK(message_delta["delta"]["stop_reason"] == "tool_use");
    CHECK(message_delta["usage"] ==
          json{{"input_tokens", 307}, {"cache_read_input_tokens", 1536}, {"output_tokens", 64}});
    REQUIRE(translator.usage());
    CHECK(translator.usage()->input_tokens == 307);
    CHECK(translator.usage()->cache_read_input_tokens == 1536);
    CHECK(translator.usage()->output_tokens == 64);
  }
  SECTION("OpenRouter `reasoning`, finish_reason length, usage after it") {
    StreamTranslator translator(kModel);
    const auto events = run("usage_after_finish_reason", translator);
    CHECK(events[1]["content_block"]["type"] == "thinking");
    const json& message_delta = events[events.size() - 2];
    CHECK(message_delta["delta"]["stop_reason"] == "max_tokens");
    CHECK(message_delta["usage"]["input_tokens"] == 1024);
    CHECK(message_delta["usage"]["cache_read_input_tokens"] == 4096);
  }
  SECTION("an error before anything: only the error event, mapped to rate_limit_error") {
    StreamTranslator translator(kModel);
    const auto events = run("error_first", translator);
    REQUIRE(events.size() == 1);
    CHECK(events[0]["error"]["type"] == "rate_limit_error");
    CHECK_THAT(events[0]["error"]["message"].get<std::string>(), Catch::Contains("Rate limit reached"));
    CHECK_THAT(translator.upstream_error(), Catch::StartsWith(R"({"error":{"message":"Rate limit)"));
    CHECK_FALSE(translator.usage());
  }
  SECTION("an error mid-stream ends the stream; the [DONE] after it is ignored") {
    StreamTranslator translator(kModel);
    const auto events = run("error_mid_stream", translator);
    CHECK(events.back()["type"] == "error");
    CHECK(events.back()["error"]["type"] == "api_error");
    CHECK_THAT(translator.failure(), Catch::Contains("Provider disconnected unexpectedly"));
    CHECK_THAT(translator.upstream_error(), Catch::Contains("server_error"));
  }
  SECTION("a missing [DONE] is an error, not a success") {
    StreamTranslator translator(kModel);
    const auto events = run("missing_done", translator);
    CHECK(events.back()["error"]["message"] == "the stream ended before [DONE]");
    CHECK(translator.failure() == "the stream ended before [DONE]");
  }
}

// ---------------------------------------------------------------------------------------------
// Chunk-boundary invariance

TEST_CASE("StreamTranslator: output does not depend on how the input is split", "[stream_translator]") {
  std::mt19937 random(20240917);
  for (const Fixture& fixture : kFixtures) {
    DYNAMIC_SECTION(fixture.name) {
      const std::string input = fixture_input(fixture);
      const std::string whole = translate(input);
      std::size_t mismatches = 0;
      std::size_t first_mismatch = 0;
      for (std::size_t offset = 0; offset <= input.size(); ++offset) {
        if (translate_pieces(input, {offset}) != whole && mismatches++ == 0) {
          first_mismatch = offset;
        }
      }
      INFO("two pieces, first differing split at " << first_mismatch);
      CHECK(mismatches == 0);

      std::vector<std::size_t> every_byte(input.size());
      for (std::size_t i = 0; i < input.size(); ++i) {
        every_byte[i] = i;
      }
      CHECK(translate_pieces(input, every_byte) == whole);

      for (int run = 0; run < 200; ++run) {
        const int pieces = std::uniform_int_distribution<int>(3, 6)(random);
        std::vector<std::size_t> cuts;
        for (int i = 1; i < pieces; ++i) {
          cuts.push_back(std::uniform_int_distribution<std::size_t>(0, input.size())(random));
        }
        std::sort(cuts.begin(), cuts.end());
        if (translate_pieces(input, cuts) != whole) {
          FAIL_CHECK("random split differs, run " << run);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Edge cases of the state machine

TEST_CASE("StreamTranslator: a tool name that arrives after the id", "[stream_translator]") {
  StreamTranslator translator(kModel);
  std::string out;
  translator.feed(chunk(R"({"role":"assistant","content":null})") + tool_chunk(0, "call_late", "", R"({"com)"), out);
  CHECK(shape_of(out) == std::vector<std::string>{"message_start"});
  translator.feed(tool_chunk(0, "", "", R"(mand")"), out);  // still no name: still buffered
  CHECK(shape_of(out) == std::vector<std::string>{"message_start"});
  translator.feed(
      tool_chunk(0, "", "Bash", R"(:"ls")") + tool_chunk(0, "", "", "}") + chunk("{}", R"("tool_calls")") + kDone, out);
  CHECK(shape_of(out) == std::vector<std::string>{"message_start", "content_block_start:tool_use",
                                                  "content_block_delta:input_json_delta",
                                                  "content_block_delta:input_json_delta", "content_block_stop",
                                                  "message_delta", "message_stop"});
  const auto events = events_of(out);
  CHECK(events.at(1).at("content_block") ==
        json{{"type", "tool_use"}, {"id", "call_late"}, {"name", "Bash"}, {"input", json::object()}});
  CHECK(events.at(2).at("delta").at("partial_json") == R"({"command":"ls")");  // the buffer, at once
  CHECK(events.at(3).at("delta").at("partial_json") == "}");
  CHECK(check_anthropic_stream(out).completed);
}

TEST_CASE("StreamTranslator: an index reused with a new id is a new tool call", "[stream_translator]") {
  const std::string out =
      translate(tool_chunk(0, "call_a", "Read", R"({"file_path":"a"})") +
                tool_chunk(0, "call_a", "", "") +  // repeated id: same call
                tool_chunk(0, "call_b", "Read", R"({"file_path":"b"})") + chunk("{}", R"("stop")") + kDone);
  const auto events = events_of(out);
  CHECK(shape_of(out) == std::vector<std::string>{"message_start", "content_block_start:tool_use",
                                                  "content_block_delta:input_json_delta", "content_block_stop",
                                                  "content_block_start:tool_use",
                                                  "content_block_delta:input_json_delta", "content_block_stop",
                                                  "message_delta", "message_stop"});
  CHECK(events[1]["content_block"]["id"] == "call_a");
  CHECK(events[4]["content_block"]["id"] == "call_b");
  CHECK(events[4]["index"] == 1);
  CHECK(events[7]["delta"]["stop_reason"] == "tool_use");  // "stop" after tool calls
  CHECK(check_anthropic_stream(out).completed);
}

TEST_CASE("StreamTranslator: interleaved tool arguments end the stream with an error", "[stream_translator]") {
  StreamTranslator translator(kModel);
  std::string out;
  translator.feed(tool_chunk(0, "call_a", "Read", R"({"file_path":)") +
                      tool_chunk(1, "call_b", "Read", R"({"file_path":"b"})") +
                      tool_chunk(0, "", "", "") +  // an empty fragment for a closed call: ignored
                      tool_chunk(0, "", "", R"("a"})") + text_chunk("never sent") + kDone,
                  out);
  // Call 1 begins while call 0's arguments are still incomplete: block 0 cannot be closed with
  // unusable input, so the stream ends there with an error (block 0 left open, no stop).
  const auto check = check_anthropic_stream(out);
  CHECK(check.ok());
  CHECK(check.errored);
  CHECK(shape_of(out) == std::vector<std::string>{"message_start", "content_block_start:tool_use",
                                                  "content_block_delta:input_json_delta", "error"});
  CHECK(out.find("never sent") == std::string::npos);
  CHECK(translator.started());
  CHECK(translator.done());
  CHECK_FALSE(translator.completed());
  CHECK_THAT(translator.failure(), Catch::Contains("not a JSON object"));
  CHECK(translator.upstream_error().empty());
}

TEST_CASE("StreamTranslator: more arguments for a call whose block was closed complete end the stream",
          "[stream_translator]") {
  StreamTranslator translator(kModel);
  std::string out;
  translator.feed(tool_chunk(0, "call_a", "Read", R"({"file_path":"a"})") +
                      tool_chunk(1, "call_b", "Read", R"({"file_path":"b"})") + tool_chunk(0, "", "", R"(  )") + kDone,
                  out);
  const auto check = check_anthropic_stream(out);
  CHECK(check.ok());
  CHECK(check.errored);
  CHECK_THAT(translator.failure(), Catch::Contains("interleaved"));
}

TEST_CASE("StreamTranslator: tool arguments that are not a JSON object end the stream with an error",
          "[stream_translator]") {
  for (const char* arguments : {R"({"file_path":)", R"([1,2])", R"("text")", R"({"a":1}})"}) {
    StreamTranslator translator(kModel);
    std::string out;
    translator.feed(tool_chunk(0, "call_a", "Read", arguments) + kDone, out);
    INFO(arguments);
    const auto check = check_anthropic_stream(out);
    CHECK(check.ok());
    CHECK(check.errored);
    CHECK_FALSE(translator.completed());
    CHECK_THAT(translator.failure(), Catch::Contains("not a JSON object"));
  }
}

TEST_CASE("StreamTranslator: a tool call whose name never arrives is an error", "[stream_translator]") {
  StreamTranslator translator(kModel);
  std::string out;
  translator.feed(text_chunk("Hi") + tool_chunk(0, "call_a", "", "{}") + kDone, out);
  CHECK(check_anthropic_stream(out).errored);
  CHECK_THAT(translator.failure(), Catch::Contains("without a name"));
}

TEST_CASE("StreamTranslator: an empty upstream stream", "[stream_translator]") {
  StreamTranslator translator(kModel);
  std::string out;
  translator.feed("", out);
  translator.finish(out);
  CHECK(out == R"(event: error
data: {"type":"error","error":{"type":"api_error","message":"the upstream stream was empty"}}

)");
  CHECK_FALSE(translator.started());
  CHECK(translator.done());
  CHECK_FALSE(translator.completed());
  CHECK(translator.failure() == "the upstream stream was empty");
  CHECK(check_anthropic_stream(out).errored);
}

TEST_CASE("StreamTranslator: a body with comments only, or that is not SSE", "[stream_translator]") {
  SECTION("comments only") {
    StreamTranslator translator(kModel);
    std::string out;
    translator.feed(": keep-alive\n\n: keep-alive\n\n", out);
    translator.finish(out);
    CHECK(translator.failure() == "the upstream stream ended without any SSE event");
    CHECK_FALSE(translator.started());
  }
  SECTION("a plain JSON error body is an upstream error") {
    StreamTranslator translator(kModel);
    std::string out;
    const std::string body = R"({"error":{"message":"Overloaded","type":"overloaded_error","code":529}})";
    translator.feed(body + "\n", out);
    translator.finish(out);
    CHECK(events_of(out).at(0)["error"]["type"] == "overloaded_error");
    CHECK(translator.upstream_error() == body);
    CHECK_FALSE(translator.started());
  }
}

TEST_CASE("StreamTranslator: fail() mid-stream", "[stream_translator]") {
  StreamTranslator translator(kModel);
  std::string out;
  translator.feed(text_chunk("Hello") + text_chunk(" wor"), out);
  translator.fail("connection_error: reset by peer", out);
  const auto events = events_of(out);
  CHECK(events.back() ==
        json{{"type", "error"},
             {"error",
              {{"type", "api_error"}, {"message", "the upstream stream failed: connection_error: reset by peer"}}}});
  CHECK(check_anthropic_stream(out).errored);
  CHECK(translator.started());
  CHECK(translator.done());
  CHECK_FALSE(translator.completed());
  CHECK_THAT(translator.failure(), Catch::Contains("reset by peer"));
  const std::string before = out;
  translator.feed(text_chunk("more") + kDone, out);
  translator.finish(out);
  translator.fail("again", out);
  CHECK(out == before);
}

TEST_CASE("StreamTranslator: bytes after [DONE] are ignored; finish() after it adds nothing", "[stream_translator]") {
  const std::string stream = text_chunk("Hi") + chunk("{}", R"("stop")") + kDone;
  StreamTranslator translator(kModel);
  std::string out;
  translator.feed(stream + text_chunk("late") + "data: {not json}\n\n", out);
  CHECK(out == translate(stream));
  CHECK(translator.done());
  CHECK(translator.completed());
  const std::string before = out;
  translator.finish(out);
  translator.feed(text_chunk("later"), out);
  CHECK(out == before);
  CHECK(translator.failure().empty());
}

TEST_CASE("StreamTranslator: observers before, during and after a stream", "[stream_translator]") {
  StreamTranslator translator(kModel);
  CHECK_FALSE(translator.started());
  CHECK_FALSE(translator.done());
  CHECK_FALSE(translator.completed());
  CHECK(translator.failure().empty());
  CHECK(translator.upstream_error().empty());
  CHECK_FALSE(translator.usage());
  std::string out;
  translator.feed(chunk(R"({"role":"assistant","content":""})"), out);
  CHECK(translator.started());
  CHECK_FALSE(translator.done());
  translator.feed(chunk("{}", R"("stop")"), out);
  translator.feed(
      R"(data: {"id":"chatcmpl-T3st","choices":[],"usage":{"prompt_tokens":100,"completion_tokens":7,"prompt_cache_hit_tokens":60}})"
      "\n\n",
      out);
  REQUIRE(translator.usage());
  CHECK(translator.usage()->input_tokens == 40);  // DeepSeek's cache-hit count, without details
  CHECK(translator.usage()->cache_read_input_tokens == 60);
  CHECK(translator.usage()->output_tokens == 7);
  translator.feed(kDone, out);
  CHECK(translator.done());
  CHECK(translator.completed());
  CHECK(events_of(out).at(1)["usage"] ==
        json{{"input_tokens", 40}, {"cache_read_input_tokens", 60}, {"output_tokens", 7}});
}

TEST_CASE("StreamTranslator: upstream error events", "[stream_translator]") {
  SECTION("`event: error` before anything") {
    StreamTranslator translator(kModel);
    std::string out;
    translator.feed("event: error\ndata: {\"error\":{\"message\":\"too many\",\"code\":429}}\n\n", out);
    CHECK(translator.done());
    CHECK_FALSE(translator.started());
    CHECK_FALSE(translator.failure().empty());
    CHECK(translator.upstream_error() == R"({"error":{"message":"too many","code":429}})");
    CHECK(out ==
          "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\","
          "\"message\":\"upstream error: too many\"}}\n\n");
  }
  SECTION("an error chunk after message_start closes nothing") {
    StreamTranslator translator(kModel);
    std::string out;
    translator.feed(text_chunk("Hi") + R"(data: {"error":{"message":"overloaded","type":"server_error"}})"
                                       "\n\n",
                    out);
    CHECK(shape_of(out) == std::vector<std::string>{"message_start", "content_block_start:text",
                                                    "content_block_delta:text_delta", "error"});
    CHECK(events_of(out).back()["error"]["type"] == "api_error");
    CHECK(translator.started());
  }
  SECTION("an unparsable chunk") {
    StreamTranslator translator(kModel);
    std::string out;
    translator.feed(text_chunk("Hi") + "data: {\"choices\":[\n\n", out);
    CHECK(check_anthropic_stream(out).errored);
    CHECK_THAT(translator.failure(), Catch::StartsWith("invalid chunk from upstream"));
    CHECK(translator.upstream_error().empty());
  }
}

TEST_CASE("StreamTranslator: noise is ignored", "[stream_translator]") {
  const std::string noise =
      ": OPENROUTER PROCESSING\n\ndata:\n\nevent: ping\ndata: {}\n\n"
      "data: {\"id\":\"x\",\"choices\":[],\"usage\":null}\n\n";
  StreamTranslator translator(kModel);
  std::string out;
  translator.feed(noise, out);
  CHECK(out.empty());
  CHECK_FALSE(translator.started());
  translator.feed(text_chunk("Hi") + noise + text_chunk("!") + kDone, out);
  CHECK(shape_of(out) == std::vector<std::string>{"message_start", "content_block_start:text",
                                                  "content_block_delta:text_delta", "content_block_delta:text_delta",
                                                  "content_block_stop", "message_delta", "message_stop"});
  CHECK(events_of(out)[0]["message"]["id"] == "msg_chatcmplT3st");
}

TEST_CASE("StreamTranslator: kinds alternate into new blocks", "[stream_translator]") {
  const std::string out = translate(chunk(R"({"reasoning_content":"think","reasoning":"think"})") +  // both: sent once
                                    text_chunk("a") + tool_chunk(0, "call_a", "Bash", "{}") + text_chunk("b") +
                                    chunk(R"({"reasoning":"again"})") + chunk("{}", R"("stop")") + kDone);
  CHECK(shape_of(out) ==
        std::vector<std::string>{"message_start", "content_block_start:thinking", "content_block_delta:thinking_delta",
                                 "content_block_stop", "content_block_start:text", "content_block_delta:text_delta",
                                 "content_block_stop", "content_block_start:tool_use",
                                 "content_block_delta:input_json_delta", "content_block_stop",
                                 "content_block_start:text", "content_block_delta:text_delta", "content_block_stop",
                                 "content_block_start:thinking", "content_block_delta:thinking_delta",
                                 "content_block_stop", "message_delta", "message_stop"});
  CHECK(events_of(out)[2]["delta"]["thinking"] == "think");
  CHECK(check_anthropic_stream(out).completed);
}

TEST_CASE("StreamTranslator: ids when the upstream sends none", "[stream_translator]") {
  const std::string out = translate(
      "data: "
      "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"function\":{\"name\":\"Bash\",\"arguments\":{\"command\":\"ls\"}}}]"
      "}}]}\n\n" +
      kDone);
  const auto events = events_of(out);
  CHECK(events[0]["message"]["id"] == "msg_openai");
  CHECK(events[1]["content_block"]["id"] == "toolu_openai_0");
  CHECK(events[2]["delta"]["partial_json"] == R"({"command":"ls"})");  // an object, not a string
  CHECK(check_anthropic_stream(out).completed);
}

TEST_CASE("StreamTranslator: the legacy function_call delta", "[stream_translator]") {
  const std::string out =
      translate(chunk(R"({"function_call":{"name":"Read","arguments":""}})") +
                chunk(R"({"function_call":{"arguments":"{}"}})") + chunk("{}", R"("function_call")") + kDone);
  CHECK(shape_of(out)[1] == "content_block_start:tool_use");
  CHECK(events_of(out)[4]["delta"]["stop_reason"] == "tool_use");
}

TEST_CASE("StreamTranslator: finish_reason to stop_reason", "[stream_translator]") {
  const std::vector<std::pair<std::string, std::string>> table = {
      {R"("stop")", "end_turn"},
      {R"("length")", "max_tokens"},
      {R"("tool_calls")", "tool_use"},
      {R"("function_call")", "tool_use"},
      {R"("content_filter")", "refusal"},
      {R"("other")", "end_turn"},
      {"null", "end_turn"},
  };
  for (const auto& [finish_reason, stop_reason] : table) {
    const auto events = events_of(translate(text_chunk("x") + chunk("{}", finish_reason) + kDone));
    INFO(finish_reason);
    CHECK(events[events.size() - 2]["delta"]["stop_reason"] == stop_reason);
    CHECK(events[events.size() - 2]["usage"] ==
          json{{"input_tokens", 0}, {"cache_read_input_tokens", 0}, {"output_tokens", 0}});
  }
}

TEST_CASE("StreamTranslator: [DONE] alone, and [DONE] without its blank line", "[stream_translator]") {
  // Nothing but [DONE] (or chunks without content and without finish_reason) is an empty
  // answer, a fake success: an error, which the forwarder turns into a failover.
  const std::string alone = translate(kDone);
  CHECK(shape_of(alone) == std::vector<std::string>{"error"});
  CHECK(check_anthropic_stream(alone).errored);
  const std::string role_only = translate(chunk(R"({"role":"assistant","content":""})") + kDone);
  CHECK(check_anthropic_stream(role_only).errored);
  // An empty answer the upstream finished on purpose is a (valid, empty) message.
  const std::string finished_empty =
      translate(chunk(R"({"role":"assistant","content":""})") + chunk("{}", R"("length")") + kDone);
  CHECK(check_anthropic_stream(finished_empty).completed);

  StreamTranslator translator(kModel);
  std::string out;
  translator.feed(text_chunk("Hi") + "data: [DONE]", out);
  CHECK_FALSE(translator.done());
  translator.finish(out);
  CHECK(translator.completed());
  CHECK(check_anthropic_stream(out).completed);

  const std::string cut = translate(text_chunk("Hi") + R"(data: {"choices":[{"delta":{"content":"Hel)");
  CHECK(events_of(cut).back()["error"]["message"] == "the stream ended before [DONE]");
}

// ---------------------------------------------------------------------------------------------
// The chunk reader (JsonCursor over validated JSON) against nlohmann as an oracle

namespace {

using balancer::detail::ChunkKind;
using balancer::detail::OpenAiChunk;
using balancer::detail::OpenAiToolFragment;
using balancer::detail::parse_openai_chunk;

const json* oracle_member(const json& object, const char* key) {
  return object.is_object() && object.contains(key) ? &object[key] : nullptr;
}

std::string oracle_string(const json& object, const char* key) {
  const json* value = oracle_member(object, key);
  return value != nullptr && value->is_string() ? value->get<std::string>() : "";
}

std::int64_t oracle_count(const json& object, const char* key) {
  const json* value = oracle_member(object, key);
  const double number = value != nullptr && value->is_number() ? value->get<double>() : 0;
  return number > 0 && number < 9e18 ? std::llround(number) : 0;
}

OpenAiToolFragment oracle_fragment(const json& call, std::int64_t position) {
  OpenAiToolFragment fragment;
  const json* index = oracle_member(call, "index");
  const bool fits = index != nullptr && index->is_number_integer() &&
                    (!index->is_number_unsigned() || index->get<std::uint64_t>() <= INT64_MAX);
  fragment.index = fits ? index->get<std::int64_t>() : position;
  fragment.id = oracle_string(call, "id");
  const json* function = oracle_member(call, "function");
  if (function == nullptr || !function->is_object()) {
    return fragment;
  }
  fragment.name = oracle_string(*function, "name");
  const json* arguments = oracle_member(*function, "arguments");
  if (arguments != nullptr && arguments->is_string()) {
    fragment.arguments = arguments->get<std::string>();
  } else if (arguments != nullptr && arguments->is_structured()) {
    fragment.arguments = arguments->dump();
  }
  return fragment;
}

void oracle_delta(const json& delta, OpenAiChunk& chunk) {
  chunk.reasoning = oracle_string(delta, "reasoning_content");
  if (chunk.reasoning.empty()) {
    chunk.reasoning = oracle_string(delta, "reasoning");
  }
  chunk.content = oracle_string(delta, "content");
  const json* calls = oracle_member(delta, "tool_calls");
  const json* legacy = oracle_member(delta, "function_call");
  if (calls != nullptr && calls->is_array()) {
    for (std::size_t i = 0; i < calls->size(); ++i) {
      if ((*calls)[i].is_object()) {
        chunk.tool_calls.push_back(oracle_fragment((*calls)[i], static_cast<std::int64_t>(i)));
      }
    }
  } else if (legacy != nullptr && legacy->is_object()) {
    chunk.tool_calls.push_back(oracle_fragment(json{{"function", *legacy}}, 0));
  }
}

// What parse_openai_chunk should read, computed from nlohmann's DOM.
std::pair<ChunkKind, OpenAiChunk> oracle_read(const std::string& data) {
  const json root = json::parse(data, nullptr, false);
  if (!root.is_object()) {
    return {ChunkKind::Invalid, {}};
  }
  if (const json* error = oracle_member(root, "error"); error != nullptr && !error->is_null()) {
    return {ChunkKind::Error, {}};
  }
  OpenAiChunk chunk;
  chunk.id = oracle_string(root, "id");
  const json* choices = oracle_member(root, "choices");
  for (const json& choice : choices != nullptr && choices->is_array() ? *choices : json::array()) {
    const json* index = oracle_member(choice, "index");
    if (choice.is_object() && (index == nullptr || (index->is_number_integer() && *index == 0))) {
      chunk.has_choice = true;
      if (const json* delta = oracle_member(choice, "delta"); delta != nullptr && delta->is_object()) {
        oracle_delta(*delta, chunk);
      }
      chunk.finish_reason = oracle_string(choice, "finish_reason");
      break;
    }
  }
  if (const json* usage = oracle_member(root, "usage"); usage != nullptr && usage->is_object()) {
    chunk.has_usage = true;
    const json* details = oracle_member(*usage, "prompt_tokens_details");
    const bool has_cached = details != nullptr && details->is_object() && details->contains("cached_tokens");
    const std::int64_t prompt = oracle_count(*usage, "prompt_tokens");
    const std::int64_t cached = std::min(
        prompt, has_cached ? oracle_count(*details, "cached_tokens") : oracle_count(*usage, "prompt_cache_hit_tokens"));
    chunk.usage = {prompt - cached, oracle_count(*usage, "completion_tokens"), cached};
  }
  return {ChunkKind::Chunk, chunk};
}

// Arguments compare as JSON when both are JSON (the reader keeps an object's own spelling).
bool same_arguments(const std::string& read, const std::string& expected) {
  const json a = json::parse(read, nullptr, false);
  const json b = json::parse(expected, nullptr, false);
  return read == expected || (!a.is_discarded() && a == b);
}

// "" when the reader agrees with the oracle on `data`, else what differs.
std::string compare_with_oracle(const std::string& data) {
  const auto parsed = parse_openai_chunk(data);
  const auto [kind, expected] = oracle_read(data);
  if (parsed.kind != kind) {
    return "kind differs";
  }
  const OpenAiChunk& got = parsed.chunk;
  if (kind != ChunkKind::Chunk) {
    return "";
  }
  if (got.id != expected.id || got.has_choice != expected.has_choice || got.reasoning != expected.reasoning ||
      got.content != expected.content || got.finish_reason != expected.finish_reason ||
      got.has_usage != expected.has_usage) {
    return "fields differ";
  }
  if (got.usage.input_tokens != expected.usage.input_tokens ||
      got.usage.output_tokens != expected.usage.output_tokens ||
      got.usage.cache_read_input_tokens != expected.usage.cache_read_input_tokens) {
    return "usage differs";
  }
  if (got.tool_calls.size() != expected.tool_calls.size()) {
    return "tool call count differs";
  }
  for (std::size_t i = 0; i < got.tool_calls.size(); ++i) {
    const auto& a = got.tool_calls[i];
    const auto& b = expected.tool_calls[i];
    if (a.index != b.index || a.id != b.id || a.name != b.name || !same_arguments(a.arguments, b.arguments)) {
      return "tool call " + std::to_string(i) + " differs";
    }
  }
  return "";
}

// The data of every `data:` line of every fixture except [DONE].
std::vector<std::string> fixture_chunks() {
  std::vector<std::string> chunks;
  for (const Fixture& fixture : kFixtures) {
    std::istringstream lines(fixture_input(fixture));
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty() && line.back() == '\r') {
        line.pop_back();
      }
      if (line.rfind("data: ", 0) == 0 && line != "data: [DONE]") {
        chunks.push_back(line.substr(6));
      }
    }
  }
  return chunks;
}

}  // namespace

TEST_CASE("Chunk reader: tricky but valid chunks read as nlohmann reads them", "[stream_translator]") {
  const std::vector<std::string> chunks = {
      // pretty-printed, members in another order, choice 1 before choice 0, nested noise
      "{\n  \"choices\" : [ {\"index\":1,\"delta\":{\"content\":\"other\"}},\n"
      "    { \"logprobs\" : {\"content\":[{\"token\":\"}]\\\"[{\",\"bytes\":[1,2]}]},\n"
      "      \"delta\" : { \"content\" : \"caf\\u00e9 \\ud83d\\ude00 \\/ \\b\\f\\n\\r\\t \\u0000 \\\\\" },\n"
      "      \"finish_reason\" : \"stop\", \"index\" : 0 } ],\n"
      "  \"id\" : \"chatcmpl-\\u0041\" , \"usage\" : { \"prompt_tokens\" : 1e2, \"completion_tokens\" : 7.6,\n"
      "    \"prompt_tokens_details\" : { \"cached_tokens\" : 40 } } }",
      R"({"choices":[{"delta":{"tool_calls":[{"function":{"name":"A","arguments":{"x":[1,{"y":"}"}]}}},)"
      R"({"index":5,"id":"c","function":{"arguments":null}},7,{"index":-0}]}}]})",
      R"({"choices":[{"index":0.0,"delta":{"content":"not choice 0"}},{"index":"0"}],"usage":null})",
      R"({"choices":[{"delta":{"function_call":{"name":"Legacy","arguments":"{}"}},"finish_reason":null}]})",
      R"({"choices":[{"delta":{"reasoning":"r","reasoning_content":"","content":null}}]})",
      R"({"usage":{"prompt_tokens":-5,"completion_tokens":"3","prompt_cache_hit_tokens":2}})",
      R"({"usage":{"prompt_tokens":10,"prompt_tokens_details":{},"prompt_cache_hit_tokens":4}})",
      "\xEF\xBB\xBF{\"id\":\"bom\",\"choices\":[{}]}",
      R"({"error":null,"choices":[]})",
      R"({"id":"x","error":{"message":"m"}})",
      R"([{"choices":[]}])",
      R"("just a string")",
      R"({"choices":[{"delta":{"content":"cut)",
  };
  for (const std::string& chunk : chunks) {
    INFO(chunk);
    CHECK(compare_with_oracle(chunk).empty());
  }
  const auto parsed = parse_openai_chunk(chunks[0]);
  CHECK(parsed.chunk.content == "caf\xC3\xA9 \xF0\x9F\x98\x80 / \b\f\n\r\t " + std::string(1, '\0') + " \\");
  CHECK(parsed.chunk.usage.input_tokens == 60);
  CHECK(parsed.chunk.usage.output_tokens == 8);
}

namespace {

std::string utf8(std::uint32_t code_point) {
  std::string out;
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
  return out;
}

}  // namespace

TEST_CASE("Chunk reader: any string nlohmann writes reads back", "[stream_translator]") {
  std::mt19937 random(7);
  const std::vector<std::uint32_t> code_points = {0x01,  0x1F,  '"',    '\\',   '/',     'a',     0x7F,    0xE9,
                                                  0x7FF, 0x800, 0xFFFD, 0xFFFF, 0x10000, 0x1F600, 0x10FFFF};
  for (int run = 0; run < 500; ++run) {
    std::string text;
    const int length = std::uniform_int_distribution<int>(0, 12)(random);
    for (int i = 0; i < length; ++i) {
      const std::uint32_t code_point =
          code_points[std::uniform_int_distribution<std::size_t>(0, code_points.size() - 1)(random)];
      text += utf8(code_point);
    }
    for (const bool ensure_ascii : {false, true}) {
      const std::string data =
          "{\"choices\":[{\"delta\":{\"content\":" + json(text).dump(-1, ' ', ensure_ascii) + "}}]}";
      const auto parsed = parse_openai_chunk(data);
      REQUIRE(parsed.kind == ChunkKind::Chunk);
      CHECK(parsed.chunk.content == text);
    }
  }
}

TEST_CASE("Chunk reader: mutated fixture chunks agree with nlohmann, and never crash", "[stream_translator]") {
  std::mt19937 random(11);
  const std::string alphabet = "{}[]\":,0123456789-.eE \\ntrufalsn\t\n\xC3\xA9";
  std::size_t valid_mutants = 0;
  for (const std::string& original : fixture_chunks()) {
    for (int run = 0; run < 150; ++run) {
      std::string data = original;
      const int edits = std::uniform_int_distribution<int>(1, 3)(random);
      for (int i = 0; i < edits && !data.empty(); ++i) {
        const std::size_t at = std::uniform_int_distribution<std::size_t>(0, data.size() - 1)(random);
        const char c = alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(random)];
        switch (std::uniform_int_distribution<int>(0, 2)(random)) {
          case 0: data[at] = c; break;
          case 1: data.insert(data.begin() + static_cast<std::ptrdiff_t>(at), c); break;
          default: data.erase(at, 1); break;
        }
      }
      valid_mutants += json::accept(data) ? 1 : 0;
      const std::string difference = compare_with_oracle(data);
      if (!difference.empty()) {
        FAIL_CHECK(difference << " for " << data);
      }
    }
  }
  INFO(valid_mutants << " valid mutants");
  CHECK(valid_mutants > 1000);  // the comparison covered valid JSON, not only rejections
}

namespace {

// Reads every value of whatever `cursor` holds, at most `budget` steps (invalid text may not
// advance the cursor; it is only required to stay inside the text).
void walk(balancer::detail::JsonCursor& cursor, int& budget) {
  using balancer::detail::JsonKind;
  std::string key;
  switch (cursor.peek()) {
    case JsonKind::Object:
      cursor.enter_object();
      while (--budget > 0 && cursor.next_member(key)) {
        walk(cursor, budget);
      }
      break;
    case JsonKind::Array:
      cursor.enter_array();
      while (--budget > 0 && cursor.next_element()) {
        walk(cursor, budget);
      }
      break;
    case JsonKind::String: cursor.read_string(); break;
    default: cursor.read_integer(); break;
  }
}

}  // namespace

TEST_CASE("JsonCursor stays inside any text, even invalid", "[stream_translator]") {
  std::mt19937 random(5);
  std::vector<std::string> texts = {"",       "{",       "[",   "\"",  "\"\\", "\"\\u12",
                                    "{\"a\"", "{\"a\":", "[1,", "{,}", "}]",   "\"\\ud83d\\u"};
  for (const std::string& chunk : fixture_chunks()) {
    for (int run = 0; run < 20; ++run) {
      texts.push_back(chunk.substr(0, std::uniform_int_distribution<std::size_t>(0, chunk.size())(random)));
    }
  }
  for (const std::string& text : texts) {
    balancer::detail::JsonCursor cursor(text);
    int budget = 10000;
    walk(cursor, budget);
    balancer::detail::JsonCursor again(text);
    CHECK(again.skip().size() <= text.size());
  }
}
