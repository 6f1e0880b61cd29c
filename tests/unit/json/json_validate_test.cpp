// Tests of detail::find_json_error (the allocation-free JSON validator) and of
// inspect_request_body built on it: a table of edge cases checked against nlohmann's own
// acceptance, exact error offsets, and a differential test over realistic Claude Code bodies
// and thousands of deterministic mutations of them, against nlohmann::json::accept and against
// the SAX implementation inspect_request_body had before (kept below as the oracle).
#include <catch2/catch.hpp>

#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "json/client_request.h"

#include "json/json_validate.h"
#include "sax_request_oracle.h"

using balancer::ErrorCode;
using balancer::inspect_request_body;
using balancer::MessageRequestInfo;
using balancer::Result;
using balancer::detail::find_json_error;
using balancer::detail::kMaxJsonDepth;
using namespace std::string_literals;

namespace {

// ---- The oracle: inspect_request_body as it was, one nlohmann SAX pass. ----

using balancer::test::old_inspect_request_body;

// ---- Helpers ----

// splitmix64: a fixed, portable sequence (std distributions are implementation-defined).
class Prng {
 public:
  explicit Prng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(next() % n); }

 private:
  std::uint64_t state_;
};

// A printable form of (part of) a byte string for failure messages.
std::string printable(std::string_view s, std::size_t limit = 400) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out += static_cast<char>(c);
    } else {
      static const char* const kHex = "0123456789ABCDEF";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  if (s.size() > limit) {
    out += "... (" + std::to_string(s.size()) + " bytes)";
  }
  return out;
}

std::string describe(const Result<MessageRequestInfo>& r) {
  if (!r) {
    return "error(" + std::string(balancer::to_string(r.error().code)) + "): " + r.error().message;
  }
  return "model=" + r->model + " provider=" + (r->pinned_provider ? *r->pinned_provider : "<none>") +
         " stream=" + (r->stream ? "true" : "false") + " user_id=" + r->user_id;
}

// Same outcome: same fields, or the same error (messages equal, except that invalid-JSON
// messages come from different parsers and only need to both say so).
bool same_outcome(const Result<MessageRequestInfo>& a, const Result<MessageRequestInfo>& b) {
  if (a.has_value() != b.has_value()) {
    return false;
  }
  if (a) {
    return a->model == b->model && a->pinned_provider == b->pinned_provider && a->stream == b->stream &&
           a->user_id == b->user_id;
  }
  if (a.error().code != b.error().code) {
    return false;
  }
  const bool a_json = a.error().message.find("not valid JSON") != std::string::npos;
  const bool b_json = b.error().message.find("not valid JSON") != std::string::npos;
  if (a_json || b_json) {
    return a_json && b_json;
  }
  return a.error().message == b.error().message;
}

// ---- Realistic bodies ----

const char* const kSourceFile =
    "#include <stdio.h>\n#include \"handlers.h\"\n\n"
    "/* Status 17 is reserved — see «docs/status.md» ✓ */\n"
    "int handle_request(const struct request* req) {\n"
    "\tif (req->status == 17) {\n"
    "\t\tfprintf(stderr, \"rejected: status=%d path=\\\"%s\\\"\\n\", req->status, req->path);\n"
    "\t\treturn -1;  // C:\\\\temp\\\\log\n"
    "\t}\n"
    "\treturn dispatch(req, 0x7f, 1.5e-3, -0.0);\n"
    "}\n";

const char* const kUnicodeText =
    "Réponse: naïve café — 日本語のテキスト, 中文, Ελληνικά, עברית, العربية; emoji "
    "😀🚀👍🏽; "
    "math ∑∫√∞ ≤ ≥; box ┌─┐; zero-width\u200Bjoiner; bell\a tab\t nul-free \x7F del.";

nlohmann::ordered_json tool(const std::string& name, const std::string& description,
                            const nlohmann::ordered_json& properties, const std::vector<std::string>& required) {
  return {{"name", name},
          {"description", description},
          {"input_schema",
           {{"type", "object"},
            {"properties", properties},
            {"required", required},
            {"additionalProperties", false},
            {"$schema", "http://json-schema.org/draft-07/schema#"}}}};
}

// A Claude Code-like Messages request of at least `target_bytes` (compact dump).
nlohmann::ordered_json claude_code_request(std::size_t target_bytes) {
  using nlohmann::ordered_json;
  ordered_json body;
  body["model"] = "claude-sonnet-4-5-20250929";
  body["max_tokens"] = 32000;
  body["temperature"] = 1;
  body["system"] =
      ordered_json::array({{{"type", "text"},
                            {"text", "You are Claude Code, Anthropic's official CLI for Claude."},
                            {"cache_control", {{"type", "ephemeral"}}}},
                           {{"type", "text"},
                            {"text", std::string("You are an interactive CLI tool that helps users with software "
                                                 "engineering tasks.\n\n# Tone and style\n- Be concise.\n") +
                                         kUnicodeText}}});
  ordered_json tools = ordered_json::array();
  tools.push_back(tool("Read", "Reads a file from the local filesystem.\n- The file_path must be absolute.",
                       {{"file_path", {{"type", "string"}, {"description", "The absolute path"}}},
                        {"offset", {{"type", "number"}, {"minimum", 0}}},
                        {"limit", {{"type", "number"}, {"exclusiveMinimum", 0.5}, {"maximum", 2e3}}}},
                       {"file_path"}));
  tools.push_back(tool("Bash", "Executes a bash command with an optional timeout (ms).",
                       {{"command", {{"type", "string"}}},
                        {"timeout", {{"type", "number"}, {"maximum", 600000}}},
                        {"run_in_background", {{"type", "boolean"}, {"default", false}}}},
                       {"command"}));
  tools.push_back(tool("Edit", "Performs exact string replacements in files.",
                       {{"file_path", {{"type", "string"}}},
                        {"old_string", {{"type", "string"}}},
                        {"new_string", {{"type", "string"}}},
                        {"replace_all", {{"type", "boolean"}, {"default", false}}}},
                       {"file_path", "old_string", "new_string"}));
  tools.push_back(tool("Grep", "A powerful search tool built on ripgrep.",
                       {{"pattern", {{"type", "string"}}},
                        {"output_mode", {{"type", "string"}, {"enum", {"content", "files_with_matches", "count"}}}},
                        {"-n", {{"type", "boolean"}}},
                        {"head_limit", {{"type", "number"}}}},
                       {"pattern"}));
  tools.push_back(tool("TodoWrite", "Create and manage a structured task list.",
                       {{"todos",
                         {{"type", "array"},
                          {"items",
                           {{"type", "object"},
                            {"properties",
                             {{"content", {{"type", "string"}, {"minLength", 1}}},
                              {"status", {{"type", "string"}, {"enum", {"pending", "in_progress", "completed"}}}}}},
                            {"required", {"content", "status"}}}}}}},
                       {"todos"}));
  body["tools"] = tools;
  body["metadata"] = {{"user_id", "user_5f1c0a9e_account_3b2d_session_7e4a9c10-1d2e-4f3a-9b8c-0d1e2f3a4b5c"}};
  body["stream"] = true;
  body["messages"] = ordered_json::array();
  ordered_json& messages = body["messages"];
  std::size_t turn = 0;
  while (body.dump().size() < target_bytes) {
    const std::string id = "toolu_01Turn" + std::to_string(turn) + "XyZ";
    messages.push_back({{"role", "user"},
                        {"content",
                         {{{"type", "text"},
                           {"text", "<system-reminder>Context for turn " + std::to_string(turn) +
                                        ": the project uses CMake.</system-reminder>"}},
                          {{"type", "text"},
                           {"text", "Why does the handler reject status 17? \"Quote\" and back\\slash. " +
                                        std::string(kUnicodeText)}}}}});
    messages.push_back(
        {{"role", "assistant"},
         {"content",
          {{{"type", "text"}, {"text", "Let me read the file — ✓."}},
           {{"type", "tool_use"},
            {"id", id},
            {"name", turn % 2 == 0 ? "Read" : "Bash"},
            {"input", turn % 2 == 0 ? ordered_json{{"file_path", "/home/dev/project/src/handlers.c"}, {"limit", 2000}}
                                    : ordered_json{{"command", "grep -rn \"status == 17\" src/ | head -n 20"},
                                                   {"timeout", 120000},
                                                   {"ratio", -1.25e-7}}}}}}});
    messages.push_back(
        {{"role", "user"},
         {"content", ordered_json::array({{{"type", "tool_result"},
                                           {"tool_use_id", id},
                                           {"content", std::string(kSourceFile) + "\x01\x1F control bytes\n"},
                                           {"is_error", turn % 3 == 0}}})}});
    ++turn;
  }
  return body;
}

// Small bodies that exercise the routing fields: types, duplicates, escaped keys, null.
std::vector<std::string> routing_bodies() {
  return {
      R"({"model":"claude-opus-4","stream":true,"provider":"B","messages":[{"role":"user","content":"hi","model":"not-this"}],"metadata":{"nested":{"user_id":"no"},"user_id":"user_abc_session_1"}})",
      R"({"model":"m","messages":[]})",
      R"({"model":"a","model":"b"})",
      R"({"model":1,"model":"b"})",
      R"({"model":"a","model":[1]})",
      R"({"model":null})",
      R"({"mod\u0065l":"esc\u00e9\"q","pro\u0076ider":"p\\q"})",
      R"({"model":"m","provider":null})",
      R"({"model":"m","provider":"A","provider":null})",
      R"({"model":"m","provider":{"name":"A"}})",
      R"({"model":"m","provider":["A"]})",
      R"({"model":"m","provider":true})",
      R"({"model":"m","provider":-1.5e3})",
      R"({"model":"m","stream":false,"stream":true,"stream":"yes","stream":1})",
      R"({"model":"m","stream":true,"stream":false})",
      R"({"model":"m","metadata":{"user_id":"a","user_id":5}})",
      R"({"model":"m","metadata":{"user_id":"a"},"metadata":{}})",
      R"({"model":"m","metadata":{"user_id":"a"},"metadata":{"user_id":"b"}})",
      R"({"model":"m","metadata":[{"user_id":"arr"}]})",
      R"({"model":"m","metadata":"user_id"})",
      R"({"model":"m","metadata":{"user_id":["x"],"u":{"user_id":"deep"}}})",
      R"({"model":"m","metadata":{"user_\u0069d":"escaped key \ud83d\ude00"}})",
      R"({"model":"m","x":{"model":5,"provider":7,"metadata":{"user_id":"no"}},"y":[{"stream":true}]})",
      "{\"model\":\"m\"}\0trailing after NUL"s,
      "\xEF\xBB\xBF{\"model\":\"bom\"}",
      " \n\t{ \"model\" : \"spaced\" , \"stream\" : true } \r\n",
      R"({"messages":[],"provider":7})",
      R"({"model":{"a":1},"provider":7})",
      R"({})",
      R"([{"model":"m"}])",
      R"("model")",
      R"(null)",
      R"(12)",
  };
}

const std::vector<std::string_view>& interesting_tokens() {
  static const std::vector<std::string_view> tokens = {
      "\\u",
      "\\ud83d",
      "\\ude00",
      "\\ud83d\\ude00",
      "\\ud83d\\u0041",
      "\\u00e9",
      "\\x",
      "\\",
      "1e400",
      "-1e-400",
      "01",
      "1.",
      ".5",
      "-",
      "1e",
      "1E+5",
      "-0",
      "\xEF\xBB\xBF",
      "null",
      "true",
      "fals",
      ",",
      "\"\":",
      "{}",
      "[]",
      "\xC3\x28",
      "\xC0\x80",
      "\xE0\x80\x80",
      "\xF4\x90\x80\x80",
      "\xED\xA0\x80",
      "\xF0\x9F\x98\x80",
      "\"model\":1,",
      "\"provider\":null,",
      "\"stream\":false,",
      "\"model\":\"x\",",
      "\"provider\":\"p\",",
      "\"metadata\":{\"user_id\":\"u\"},",
      "\"",
      "\":",
      "]",
      "}",
      std::string_view("\0", 1),
  };
  return tokens;
}

const unsigned char kInterestingBytes[] = {'"',  '\\', '{',  '}',  '[',  ']',  ',',  ':',  '0',  '1',  '9',  'e',
                                           'E',  '-',  '+',  '.',  'u',  't',  'n',  ' ',  '\n', 0x00, 0x01, 0x1F,
                                           0x7F, 0x80, 0xBF, 0xC0, 0xC2, 0xE0, 0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF};

std::string mutate(const std::string& in, Prng& rng) {
  std::string s = in;
  const std::size_t edits = 1 + rng.below(3);
  for (std::size_t e = 0; e < edits; ++e) {
    const std::size_t p = rng.below(s.size() + 1);
    switch (rng.below(7)) {
      case 0:  // replace a byte with an interesting one
        if (p < s.size()) {
          s[p] = static_cast<char>(kInterestingBytes[rng.below(sizeof kInterestingBytes)]);
        }
        break;
      case 1:  // replace a byte with any byte
        if (p < s.size()) {
          s[p] = static_cast<char>(rng.below(256));
        }
        break;
      case 2:  // flip one bit
        if (p < s.size()) {
          s[p] = static_cast<char>(static_cast<unsigned char>(s[p]) ^ (1U << rng.below(8)));
        }
        break;
      case 3:  // truncate
        s.resize(p);
        break;
      case 4: {  // insert an interesting token
        const auto& tokens = interesting_tokens();
        s.insert(p, tokens[rng.below(tokens.size())]);
        break;
      }
      case 5:  // delete a short range
        s.erase(p, 1 + rng.below(8));
        break;
      default: {  // duplicate a short slice elsewhere
        const std::size_t from = rng.below(s.size() + 1);
        const std::string slice = s.substr(from, 1 + rng.below(24));
        s.insert(p, slice);
        break;
      }
    }
  }
  return s;
}

struct Corpus {
  std::string name;
  std::string body;
  std::size_t mutations;
};

// Checks one text against both oracles; returns a failure description or "".
std::string check_agreement(const std::string& text) {
  const bool accepted = nlohmann::json::accept(text);
  const auto error = find_json_error(text);
  if (error.has_value() == accepted) {
    return "find_json_error=" + (error ? std::to_string(*error) : std::string("valid")) +
           " but nlohmann::json::accept=" + (accepted ? "true" : "false") + " for: " + printable(text);
  }
  if (error && *error > text.size()) {
    return "error offset past the end for: " + printable(text);
  }
  const auto old_result = old_inspect_request_body(text);
  const auto new_result = inspect_request_body(text);
  if (!same_outcome(old_result, new_result)) {
    return "inspect_request_body: old " + describe(old_result) + " / new " + describe(new_result) +
           " for: " + printable(text);
  }
  return "";
}

}  // namespace

TEST_CASE("find_json_error agrees with nlohmann on a table of edge cases", "[unit][json]") {
  struct Case {
    std::string text;
    bool valid;
  };
  const std::string deep_ok = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  const Case cases[] = {
      // whole documents
      {"", false},
      {" ", false},
      {" \t\r\n", false},
      {"{}", true},
      {"[]", true},
      {" \t\r\n{ } \t\r\n", true},
      {"\f{}", false},
      {"{}\v", false},
      {"\xC2\xA0{}", false},  // no-break space is not whitespace
      {"0", true},
      {"\"\"", true},
      {"null", true},
      {"true", true},
      {"false", true},
      {"nul", false},
      {"True", false},
      {"nulll", false},
      {"{} {}", false},
      {"{}x", false},
      {"{},", false},
      {"[1] ]", false},
      {"\xEF\xBB\xBF{}", true},    // UTF-8 BOM at the start
      {" \xEF\xBB\xBF{}", false},  // ... but only there
      {"\xEF\xBB{}", false},
      {"\xEF\xBB\xBF", false},
      {"\xEF\xBB\xBF\xEF\xBB\xBF{}", false},
      {"{}\0"s, true},  // a NUL ends the input for nlohmann
      {"{}\0garbage"s, true},
      {"{} \0 [[["s, true},
      {"1\0x"s, true},
      {"\0"s, false},
      {" \0"s, false},
      {"[1,\0]"s, false},
      {"[1\0]"s, false},
      // numbers
      {"-0", true},
      {"-0.0e-0", true},
      {"1e5", true},
      {"1E+5", true},
      {"1e-5", true},
      {"1.25", true},
      {"123456789012345678901234567890", true},
      {"-9223372036854775809", true},
      {"18446744073709551616", true},
      {"01", false},
      {"-01", false},
      {"00", false},
      {"1.", false},
      {"1.e5", false},
      {".5", false},
      {"+1", false},
      {"-", false},
      {"--1", false},
      {"1e", false},
      {"1e+", false},
      {"1e5.5", false},
      {"0x10", false},
      {"1_000", false},
      {"NaN", false},
      {"Infinity", false},
      {"-Infinity", false},
      {"[1,]", false},
      {"[1 2]", false},
      {"1e400", false},  // overflows to infinity: nlohmann rejects it
      {"-1e400", false},
      {"1e-400", true},  // underflows to zero: accepted
      {"0e99999999999999999999", true},
      {"1e99999999999999999999", false},
      {"0.0000001e314", true},
      {"0.00000001e317", false},
      {"1" + std::string(308, '0'), true},
      {"1" + std::string(309, '0'), false},
      {"1" + std::string(307, '0') + ".5e1", true},
      {"1.7976931348623157e308", true},  // DBL_MAX
      {"1.7976931348623157e+308", true},
      {"1.7976931348623158e308", true},   // rounds to DBL_MAX
      {"1.7976931348623159e308", false},  // rounds to infinity
      {"-1.7976931348623159e308", false},
      {"17976931348623157" + std::string(292, '0'), true},
      {"17976931348623159" + std::string(292, '0'), false},
      {"0." + std::string(400, '0') + "1", true},
      // strings
      {"\"\\u00e9\"", true},
      {"\"\\u00E9\"", true},
      {"\"\\ud83d\\ude00\"", true},
      {"\"\\uD83D\\uDE00\"", true},
      {"\"\\ud83d\"", false},  // lone high surrogate
      {"\"\\ude00\"", false},  // lone low surrogate
      {"\"\\ud83d\\u0041\"", false},
      {"\"\\ud83d\\ud83d\"", false},
      {"\"\\ud83dx\"", false},
      {"\"\\ud83d\\n\"", false},
      {"\"\\u0000\"", true},
      {"\"\\uFFFF\"", true},
      {"\"\\u12\"", false},
      {"\"\\u12G4\"", false},
      {"\"\\x41\"", false},
      {"\"\\'\"", false},
      {"\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"", true},
      {"\"\\\"", false},
      {"\"abc", false},
      {"'abc'", false},
      {"\"tab\there\"", false},  // raw control characters
      {"\"line\nbreak\"", false},
      {"\"nul\0byte\""s, false},
      {"\"\x1F\"", false},
      {"\"\x7F\"", true},  // DEL is not a control character for JSON
      {"\"é ✓ 😀\"", true},
      {"\"\xC3\x28\"", false},  // bad continuation
      {"\"\xC3\"", false},
      {"\"\xC0\x80\"", false},          // overlong NUL
      {"\"\xC1\xBF\"", false},          // overlong
      {"\"\xE0\x80\xAF\"", false},      // overlong '/'
      {"\"\xE0\xA0\x80\"", true},       // U+0800
      {"\"\xED\x9F\xBF\"", true},       // U+D7FF
      {"\"\xED\xA0\x80\"", false},      // encoded surrogate U+D800
      {"\"\xEF\xBF\xBE\"", true},       // U+FFFE, a noncharacter, is accepted
      {"\"\xF0\x8F\xBF\xBF\"", false},  // overlong
      {"\"\xF0\x90\x80\x80\"", true},   // U+10000
      {"\"\xF4\x8F\xBF\xBF\"", true},   // U+10FFFF
      {"\"\xF4\x90\x80\x80\"", false},  // above U+10FFFF
      {"\"\xF5\x80\x80\x80\"", false},
      {"\"\x80\"", false},  // lone continuation byte
      {"\"\xFF\"", false},
      {"\"\xE2\x9C\"", false},  // truncated sequence
      {"\"0123456789abcdef0123456789abcdef\xC3\xA9\"", true},
      {"\"0123456789abcdef0123456789abcde\x01\"", false},
      // objects and arrays
      {"{\"a\":1,\"a\":2}", true},
      {"{\"a\" : [ 1 , { \"b\" : null } ] }", true},
      {"{\"a\"}", false},
      {"{\"a\":}", false},
      {"{\"a\":1,}", false},
      {"{,}", false},
      {"{1:2}", false},
      {"{a:1}", false},
      {"{\"a\":1 \"b\":2}", false},
      {"[", false},
      {"]", false},
      {"[}", false},
      {"{]", false},
      {"[[]", false},
      {"[\"a\":1]", false},
      {"/* comment */ {}", false},
      {"{} // comment", false},
      {deep_ok, true},
  };
  for (const auto& c : cases) {
    INFO(printable(c.text, 80));
    CHECK(nlohmann::json::accept(c.text) == c.valid);
    const auto error = find_json_error(c.text);
    CHECK(error.has_value() == !c.valid);
    if (error) {
      CHECK(*error <= c.text.size());
    }
  }
}

TEST_CASE("find_json_error reports the offset of the first bad byte", "[unit][json]") {
  struct Case {
    std::string text;
    std::size_t offset;
  };
  const Case cases[] = {
      {"", 0},
      {"   ", 3},
      {"{\"a\":1,}", 7},
      {"[1,2", 4},
      {"{\"a\":1", 6},
      {"{\"model\":\"m\"} trailing", 14},
      {"\"\\x\"", 2},
      {"\"a\x01\"", 2},
      {"01", 1},
      {"1.", 2},
      {"1.x", 2},
      {"-x", 1},
      {"{}x", 2},
      {"\"\xC3\x28\"", 2},
      {"\"\xC0\x80\"", 1},
      {"\"ab\xE2\x9C", 5},
      {"[1e400]", 1},
      {"tru", 3},
      {"trve", 2},
      {"\"\\ude00\"", 1},
      {"\"\\ud83d\\u0041\"", 7},
      {"\"\\ud83dx\"", 7},
      {"\"\\u12G4\"", 5},
      {"\xEF\xBB{}", 2},
      {"[1,\0]"s, 3},
  };
  for (const auto& c : cases) {
    INFO(printable(c.text, 80));
    const auto error = find_json_error(c.text);
    REQUIRE(error);
    CHECK(*error == c.offset);
  }
}

TEST_CASE("find_json_error caps nesting depth without recursing", "[unit][json]") {
  const std::size_t n = kMaxJsonDepth;
  CHECK_FALSE(find_json_error(std::string(n, '[') + std::string(n, ']')));
  std::string objects;
  for (std::size_t i = 0; i < n; ++i) {
    objects += "{\"a\":";
  }
  objects += "0" + std::string(n, '}');
  CHECK_FALSE(find_json_error(objects));

  // One level deeper is reported at the bracket that opens it (nlohmann itself has no limit).
  const std::string too_deep = std::string(n + 1, '[') + std::string(n + 1, ']');
  CHECK(find_json_error(too_deep) == n);
  const std::string very_deep = std::string(1000000, '[');
  CHECK(find_json_error(very_deep) == n);
  auto info = inspect_request_body("{\"model\":\"m\",\"x\":" + too_deep + "}");
  REQUIRE_FALSE(info);
  CHECK_THAT(info.error().message, Catch::Contains("not valid JSON") && Catch::Contains("too deep"));
}

TEST_CASE("every strict prefix of a request errors exactly at its end", "[unit][json]") {
  const std::string body = claude_code_request(30000).dump();
  REQUIRE_FALSE(find_json_error(body));
  Prng rng(7);
  for (int i = 0; i < 400; ++i) {
    const std::size_t k = rng.below(body.size());
    const auto error = find_json_error(std::string_view(body).substr(0, k));
    INFO("prefix length " << k << ": ..." << printable(body.substr(k > 40 ? k - 40 : 0, 40)));
    REQUIRE(error);
    REQUIRE(*error == k);
  }
}

TEST_CASE("find_json_error and inspect_request_body agree with nlohmann and the old parser", "[unit][json][request]") {
  std::vector<Corpus> corpora;
  const auto big = claude_code_request(100 * 1024);
  corpora.push_back({"100 KB compact", big.dump(), 150});
  corpora.push_back({"100 KB ascii-escaped", big.dump(-1, ' ', /*ensure_ascii=*/true), 60});
  const auto small = claude_code_request(3000);
  corpora.push_back({"3 KB compact", small.dump(), 2500});
  corpora.push_back({"3 KB pretty", small.dump(2), 1200});
  corpora.push_back({"3 KB ascii-escaped", small.dump(-1, ' ', true), 1200});
  {
    std::ifstream file(BALANCER_SOURCE_DIR "/bench/request-body.json", std::ios::binary);
    std::stringstream content;
    content << file.rdbuf();
    if (!content.str().empty()) {
      corpora.push_back({"bench/request-body.json", content.str(), 200});
    }
  }
  for (const auto& body : routing_bodies()) {
    corpora.push_back({"routing: " + printable(body, 60), body, 150});
  }

  Prng rng(20250101);
  std::size_t checked = 0;
  std::size_t valid_mutants = 0;
  for (const auto& corpus : corpora) {
    INFO(corpus.name);
    const std::string failure = check_agreement(corpus.body);
    if (!failure.empty()) {
      FAIL(failure);
    }
    for (std::size_t m = 0; m < corpus.mutations; ++m) {
      const std::string mutant = mutate(corpus.body, rng);
      const std::string mutant_failure = check_agreement(mutant);
      if (!mutant_failure.empty()) {
        FAIL("mutation " << m << ": " << mutant_failure);
      }
      ++checked;
      valid_mutants += find_json_error(mutant) ? 0 : 1;
    }
  }
  INFO("valid mutants: " << valid_mutants << " of " << checked);
  CHECK(checked > 8000);
  CHECK(valid_mutants > 500);  // the valid side is exercised too
}

TEST_CASE("inspect_request_body agrees with the old parser on random routing fields", "[unit][json][request]") {
  const char* const keys[] = {"model",       "provider",       "stream", "metadata", "messages",
                              "mod\\u0065l", "pro\\u0076ider", "x",      "Model",    "stream "};
  const char* const values[] = {"\"claude\"",
                                "\"cl\\u00e9\\\"x\"",
                                "\"\"",
                                "\"\xF0\x9F\x98\x80\"",
                                "42",
                                "-1.5e3",
                                "null",
                                "true",
                                "false",
                                "{\"a\":[1]}",
                                "[\"m\"]",
                                "[]",
                                "{}",
                                "{\"user_id\":\"u1\"}",
                                "{\"user_id\":5,\"user_id\":\"u2\"}",
                                "{\"user_id\":\"a\",\"user_id\":null}",
                                "{\"nested\":{\"user_id\":\"no\"}}",
                                "{\"user_\\u0069d\":\"esc\"}",
                                "{\"user_id\":[\"x\"]}",
                                "[{\"user_id\":\"arr\"}]",
                                "[{\"role\":\"user\",\"content\":\"hi\",\"model\":\"inner\"}]"};
  const char* const spaces[] = {"", " ", "\n  ", "\t"};
  Prng rng(99);
  for (int i = 0; i < 3000; ++i) {
    std::string body = "{";
    const std::size_t members = rng.below(7);
    for (std::size_t m = 0; m < members; ++m) {
      if (m > 0) {
        body += ",";
      }
      body += spaces[rng.below(4)];
      body += "\"" + std::string(keys[rng.below(std::size(keys))]) + "\"";
      body += spaces[rng.below(4)];
      body += ":";
      body += spaces[rng.below(4)];
      body += values[rng.below(std::size(values))];
      body += spaces[rng.below(4)];
    }
    body += "}";
    INFO(body);
    REQUIRE(nlohmann::json::accept(body));
    const auto old_result = old_inspect_request_body(body);
    const auto new_result = inspect_request_body(body);
    INFO("old: " << describe(old_result) << "\nnew: " << describe(new_result));
    REQUIRE(same_outcome(old_result, new_result));
  }
}
