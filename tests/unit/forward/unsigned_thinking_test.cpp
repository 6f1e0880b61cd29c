// Unsigned thinking blocks (from OpenAI-format providers) are removed before a request goes to
// an Anthropic provider; everything else stays byte-identical.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "forward/unsigned_thinking.h"

using balancer::detail::may_have_unsigned_thinking;
using balancer::detail::strip_unsigned_thinking;
using nlohmann::json;

TEST_CASE("unsigned thinking: bodies without it stay byte-identical", "[unsigned_thinking]") {
  const std::string plain = R"({"model":"m",  "messages":[{"role":"user","content":"hi"}]})";
  CHECK_FALSE(may_have_unsigned_thinking(plain));
  CHECK(strip_unsigned_thinking(plain) == plain);

  const std::string signed_thinking =
      R"({"model":"m","messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"EqQBCkYIARgCIkB"},{"type":"text","text":"x"}]}]})";
  CHECK_FALSE(may_have_unsigned_thinking(signed_thinking));
  CHECK(strip_unsigned_thinking(signed_thinking) == signed_thinking);

  // The pattern inside a string value is a false alarm of the byte scan: nothing is removed and
  // the bytes are kept.
  const std::string in_text =
      R"({"model":"m", "messages":[{"role":"user","content":"the field \"signature\":\"\" is empty"}]})";
  CHECK(strip_unsigned_thinking(in_text) == in_text);
}

TEST_CASE("unsigned thinking: empty or missing signatures are removed", "[unsigned_thinking]") {
  const std::string body = R"({"model":"m","messages":[
    {"role":"user","content":"q"},
    {"role":"assistant","content":[
      {"type":"thinking","thinking":"from an OpenAI provider","signature": ""},
      {"type":"text","text":"Let me look."},
      {"type":"tool_use","id":"call_1","name":"Read","input":{"file_path":"a"}}]},
    {"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1","content":"A"}]},
    {"role":"assistant","content":[
      {"type":"thinking","thinking":"signed","signature":"sig"},
      {"type":"thinking","thinking":"no signature at all"},
      {"type":"text","text":"done"}]}]})";
  REQUIRE(may_have_unsigned_thinking(body));
  const json out = json::parse(strip_unsigned_thinking(body));
  const json& messages = out.at("messages");
  CHECK(messages.at(1).at("content").size() == 2);
  CHECK(messages.at(1).at("content").at(0).at("type") == "text");
  CHECK(messages.at(3).at("content").size() == 2);
  CHECK(messages.at(3).at("content").at(0).at("signature") == "sig");
  CHECK(messages.at(2) == json::parse(body).at("messages").at(2));
}

TEST_CASE("unsigned thinking: a body that is not a request is left alone", "[unsigned_thinking]") {
  for (const std::string& body : {std::string(R"({"signature":""})"), std::string(R"([{"signature":""}])"),
                                  std::string(R"({"signature":"", broken)")}) {
    CHECK(strip_unsigned_thinking(body) == body);
  }
}
