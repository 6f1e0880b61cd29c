#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "json/json_splice.h"

using balancer::detail::scan_top_level_members;
using balancer::detail::splice_request_body;

TEST_CASE("scan_top_level_members finds keys and value spans", "[unit][splice]") {
  const std::string body = R"( { "model" : "m", "a": {"model":"inner","x":[1,"}"]}, "s":"q\"uote", "n": -1.5e3 } )";
  auto members = scan_top_level_members(body);
  REQUIRE(members);
  REQUIRE(members->size() == 4);
  CHECK((*members)[0].key == "model");
  CHECK(body.substr((*members)[0].value_begin, (*members)[0].value_end - (*members)[0].value_begin) == "\"m\"");
  CHECK((*members)[1].key == "a");
  CHECK(body.substr((*members)[1].value_begin, (*members)[1].value_end - (*members)[1].value_begin) ==
        R"({"model":"inner","x":[1,"}"]})");
  CHECK(body.substr((*members)[3].value_begin, (*members)[3].value_end - (*members)[3].value_begin) == "-1.5e3");
}

TEST_CASE("scan_top_level_members decodes escaped keys", "[unit][splice]") {
  auto members = scan_top_level_members(R"({"mod\u0065l":"x"})");
  REQUIRE(members);
  CHECK((*members)[0].key == "model");
}

TEST_CASE("scan_top_level_members rejects what is not an object", "[unit][splice]") {
  CHECK_FALSE(scan_top_level_members("[1,2]"));
  CHECK_FALSE(scan_top_level_members(R"({"a":)"));
  CHECK_FALSE(scan_top_level_members(R"({"a" 1})"));
}

TEST_CASE("the validating pass records the root object's members and nothing deeper", "[unit][splice]") {
  using balancer::detail::diagnose_json;
  using balancer::detail::MemberSpan;
  std::vector<MemberSpan> members;
  auto span = [](std::string_view text, const MemberSpan& m) {
    return text.substr(m.value_begin, m.value_end - m.value_begin);
  };
  SECTION("empty containers, literals and a nested object closing at the end") {
    const std::string body = "\xEF\xBB\xBF {\"e\":{} ,\"a\":[],\"t\":true,\"z\":{\"k\":[{}]}}";
    REQUIRE_FALSE(diagnose_json(body, members));
    REQUIRE(members.size() == 4);
    CHECK(span(body, members[0]) == "{}");
    CHECK(span(body, members[1]) == "[]");
    CHECK(span(body, members[2]) == "true");
    CHECK(span(body, members[3]) == R"({"k":[{}]})");
    CHECK(body.substr(members[0].key_begin, 3) == "\"e\"");  // offsets count the BOM
  }
  SECTION("a root array or scalar has no members") {
    members.push_back({});
    REQUIRE_FALSE(diagnose_json(R"([{"model":"x"}])", members));
    CHECK(members.empty());
    REQUIRE_FALSE(diagnose_json("12", members));
    CHECK(members.empty());
  }
  SECTION("an invalid text leaves no members behind") {
    REQUIRE(diagnose_json(R"({"model":"x","messages":[1,})", members));
    CHECK(members.empty());
  }
  SECTION("what the scanner used to let through is refused") {
    CHECK_FALSE(scan_top_level_members(R"({"model":"x","n":01})"));
    CHECK_FALSE(
        scan_top_level_members("{\"model\":\"a\xFF"
                               "b\"}"));
  }
}

TEST_CASE("model rewrite keeps every other byte", "[unit][splice]") {
  const std::string body =
      "{\n  \"model\":   \"claude-sonnet-4-5\",\n  \"messages\": [{\"role\":\"user\",\"content\":"
      "[{\"type\":\"text\",\"text\":\"héllo ✓ \\u00e9\",\"cache_control\":{\"type\":\"ephemeral\"}}]}],"
      "\n  \"unknown_field\": {\"model\": \"keep-me\"}, \"max_tokens\": 1024\n}";
  auto out = splice_request_body(body, std::string("glm-4.6"), false);
  REQUIRE(out);
  std::string expected = body;
  const std::string from = "\"claude-sonnet-4-5\"";
  expected.replace(expected.find(from), from.size(), "\"glm-4.6\"");
  CHECK(*out == expected);
  CHECK(out->find("\"keep-me\"") != std::string::npos);
}

TEST_CASE("model rewrite JSON-escapes the new model", "[unit][splice]") {
  auto out = splice_request_body(R"({"model":"a"})", std::string("we\"ird\\"), false);
  REQUIRE(out);
  CHECK(nlohmann::json::parse(*out)["model"] == "we\"ird\\");
}

TEST_CASE("provider removal leaves valid JSON with the rest intact", "[unit][splice]") {
  struct Case {
    std::string in;
    std::string out;
  };
  const Case cases[] = {
      {R"({"provider":"A","model":"m"})", R"({"model":"m"})"},
      {R"({"model":"m", "provider":"A"})", R"({"model":"m"})"},
      {R"({"model":"m", "provider":"A", "x":1})", R"({"model":"m", "x":1})"},
      {R"({"provider":"A"})", R"({})"},
      {R"({"model":"m","provider":"A","provider":"B"})", R"({"model":"m"})"},
      {R"({"provider":"A","provider":"B","model":"m"})", R"({"model":"m"})"},
      {R"({"model":"m","meta":{"provider":"inner"}})", R"({"model":"m","meta":{"provider":"inner"}})"},
  };
  for (const auto& c : cases) {
    INFO(c.in);
    auto out = splice_request_body(c.in, std::nullopt, true);
    REQUIRE(out);
    CHECK(*out == c.out);
    CHECK_NOTHROW(nlohmann::json::parse(*out));
  }
}

TEST_CASE("rewrite and removal together", "[unit][splice]") {
  auto out = splice_request_body(R"({"provider": "B", "model": "x", "stream": true})", std::string("y"), true);
  REQUIRE(out);
  CHECK(*out == R"({"model": "y", "stream": true})");
}

TEST_CASE("a leading UTF-8 BOM is kept and does not stop splicing", "[unit][splice]") {
  auto out = splice_request_body("\xEF\xBB\xBF{\"model\":\"a\",\"provider\":\"p\"}", std::string("b"), true);
  REQUIRE(out);
  CHECK(*out == "\xEF\xBB\xBF{\"model\":\"b\"}");
}

// Found by splice_fuzz: a configured model name comes from the YAML text as it is, and yaml-cpp
// passes invalid UTF-8 through; the strict dump threw nlohmann's type_error 316 out of a
// function that returns a Result (the forwarder then counted it against the provider).
TEST_CASE("model rewrite with a new model that is not valid UTF-8 does not throw", "[unit][splice]") {
  auto out = splice_request_body(R"({"model":"a","provider":"p"})", std::string("bad\xFF\xC0\x80"), true);
  REQUIRE(out);
  CHECK(*out == "{\"model\":\"bad\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"}");
  CHECK_NOTHROW(nlohmann::json::parse(*out));
}
