// token_estimator_test.cpp — the local count_tokens estimate: accuracy against the committed
// reference counts (tests/data/tokens/reference_counts.json, made by
// tests/tools/token_reference.mjs with cl100k_base), every block kind counted, image sizes from
// headers, PDFs by page, and robustness against malformed requests.
#include "tokens/token_estimator.h"
#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "convert/media_size.h"
#include "tokens/token_text.h"

using balancer::estimate_input_tokens;
using nlohmann::json;
namespace fs = std::filesystem;
namespace detail = balancer::detail;

namespace {

// ---- Fixtures ---------------------------------------------------------------------------------

const fs::path& token_data_dir() {
  static const fs::path dir = fs::path(BALANCER_SOURCE_DIR) / "tests" / "data" / "tokens";
  return dir;
}

json read_fixture(const std::string& name) {
  std::ifstream in(token_data_dir() / name, std::ios::binary);
  INFO("reading " << (token_data_dir() / name).string());
  REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  return json::parse(text.str());
}

// The band every realistic fixture must hit: undercounting is the dangerous direction. Against
// the (older, public) Claude tokenizer only the lower bound is as strict.
constexpr double kLowestRatio = 0.95;
constexpr double kHighestRatio = 1.15;
constexpr double kHighestClaudeRatio = 1.20;

double ratio_to(const json& request, std::int64_t reference) {
  return static_cast<double>(estimate_input_tokens(request)) / static_cast<double>(reference);
}

// ---- Building requests and media ----------------------------------------------------------------

json user_text_request(const std::string& text) {
  return {{"model", "m"}, {"messages", json::array({{{"role", "user"}, {"content", text}}})}};
}

// English-like filler of exactly `length` characters.
std::string prose_of_length(std::size_t length) {
  static const std::string sentence =
      "The balancer forwards each request to the healthiest provider and retries another one "
      "when the first answer is a rate limit or an overload. ";
  std::string text;
  while (text.size() < length)
    text += sentence;
  text.resize(length);
  return text;
}

std::string base64_encode(const std::vector<std::uint8_t>& bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::uint32_t chunk = (std::uint32_t{bytes[i]} << 16) |
                                (i + 1 < bytes.size() ? std::uint32_t{bytes[i + 1]} << 8 : 0u) |
                                (i + 2 < bytes.size() ? std::uint32_t{bytes[i + 2]} : 0u);
    out += kAlphabet[(chunk >> 18) & 63u];
    out += kAlphabet[(chunk >> 12) & 63u];
    out += i + 1 < bytes.size() ? kAlphabet[(chunk >> 6) & 63u] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[chunk & 63u] : '=';
  }
  return out;
}

void append_big_endian(std::vector<std::uint8_t>& bytes, std::uint32_t value, int length) {
  for (int shift = (length - 1) * 8; shift >= 0; shift -= 8) {
    bytes.push_back(static_cast<std::uint8_t>(value >> shift));
  }
}

void append_little_endian(std::vector<std::uint8_t>& bytes, std::uint32_t value, int length) {
  for (int i = 0; i < length; ++i)
    bytes.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

void append_text(std::vector<std::uint8_t>& bytes, std::string_view text) {
  bytes.insert(bytes.end(), text.begin(), text.end());
}

std::string png_base64(std::uint32_t width, std::uint32_t height) {
  std::vector<std::uint8_t> bytes{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  append_big_endian(bytes, 13, 4);
  append_text(bytes, "IHDR");
  append_big_endian(bytes, width, 4);
  append_big_endian(bytes, height, 4);
  bytes.insert(bytes.end(), {8, 6, 0, 0, 0, 0x12, 0x34, 0x56, 0x78});  // depth, colour, CRC
  return base64_encode(bytes);
}

// SOI, an APP0 (JFIF) and an APP1 (EXIF) segment of `exif_bytes`, then SOF0 with the size.
std::string jpeg_base64(std::uint32_t width, std::uint32_t height, std::uint32_t exif_bytes) {
  std::vector<std::uint8_t> bytes{0xFF, 0xD8, 0xFF, 0xE0};
  append_big_endian(bytes, 16, 2);
  append_text(bytes, std::string_view("JFIF\0\1\1\0\0\1\0\1\0\0", 14));
  bytes.insert(bytes.end(), {0xFF, 0xE1});
  append_big_endian(bytes, exif_bytes + 2, 2);
  bytes.insert(bytes.end(), exif_bytes, 0x2A);
  bytes.insert(bytes.end(), {0xFF, 0xC0});
  append_big_endian(bytes, 17, 2);
  bytes.push_back(8);
  append_big_endian(bytes, height, 2);
  append_big_endian(bytes, width, 2);
  bytes.insert(bytes.end(), {3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1});
  return base64_encode(bytes);
}

std::string gif_base64(std::uint32_t width, std::uint32_t height) {
  std::vector<std::uint8_t> bytes;
  append_text(bytes, "GIF89a");
  append_little_endian(bytes, width, 2);
  append_little_endian(bytes, height, 2);
  bytes.insert(bytes.end(), {0xF7, 0, 0});
  return base64_encode(bytes);
}

std::vector<std::uint8_t> webp_header(std::string_view chunk) {
  std::vector<std::uint8_t> bytes;
  append_text(bytes, "RIFF");
  append_little_endian(bytes, 1000, 4);
  append_text(bytes, "WEBP");
  append_text(bytes, chunk);
  append_little_endian(bytes, 100, 4);
  return bytes;
}

std::string webp_lossy_base64(std::uint32_t width, std::uint32_t height) {
  std::vector<std::uint8_t> bytes = webp_header("VP8 ");
  bytes.insert(bytes.end(), {0x30, 0x01, 0x00, 0x9D, 0x01, 0x2A});  // frame tag, start code
  append_little_endian(bytes, width, 2);
  append_little_endian(bytes, height, 2);
  return base64_encode(bytes);
}

std::string webp_lossless_base64(std::uint32_t width, std::uint32_t height) {
  std::vector<std::uint8_t> bytes = webp_header("VP8L");
  bytes.push_back(0x2F);
  append_little_endian(bytes, (width - 1) | ((height - 1) << 14), 4);
  return base64_encode(bytes);
}

std::string webp_extended_base64(std::uint32_t width, std::uint32_t height) {
  std::vector<std::uint8_t> bytes = webp_header("VP8X");
  append_little_endian(bytes, 0, 4);  // flags
  append_little_endian(bytes, width - 1, 3);
  append_little_endian(bytes, height - 1, 3);
  return base64_encode(bytes);
}

json base64_image(const std::string& media_type, const std::string& data) {
  return {{"type", "image"}, {"source", {{"type", "base64"}, {"media_type", media_type}, {"data", data}}}};
}

json request_with_blocks(json blocks) {
  return {{"messages", json::array({{{"role", "user"}, {"content", std::move(blocks)}}})}};
}

json text_block(const std::string& text) { return {{"type", "text"}, {"text", text}}; }

// Tokens that `block` adds to a one-message request holding a short text.
std::int64_t added_by(const json& block) {
  const json base = request_with_blocks(json::array({text_block("Describe this.")}));
  const json with = request_with_blocks(json::array({text_block("Describe this."), block}));
  return estimate_input_tokens(with) - estimate_input_tokens(base);
}

std::string minimal_pdf_base64(int pages) {
  std::string pdf =
      "%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
      "2 0 obj\n<< /Type /Pages /Count " +
      std::to_string(pages) + " >>\nendobj\n";
  for (int page = 0; page < pages; ++page) {
    pdf += std::to_string(page + 3) + " 0 obj\n<< /Type /Page /Parent 2 0 R >>\nendobj\n";
  }
  pdf += "%%EOF\n";
  return base64_encode(std::vector<std::uint8_t>(pdf.begin(), pdf.end()));
}

}  // namespace

// ---- Accuracy against the reference tokenizer ---------------------------------------------------

TEST_CASE("every fixture is estimated within -5 % .. +15 % of its cl100k count", "[token_estimator]") {
  const json references = read_fixture("reference_counts.json");
  REQUIRE(references.size() >= 7);
  for (const auto& [name, counts] : references.items()) {
    const json request = read_fixture(name);
    const std::int64_t estimate = estimate_input_tokens(request);
    const auto cl100k = counts.at("cl100k").get<std::int64_t>();
    const double ratio = ratio_to(request, cl100k);
    std::printf("token_estimator %-24s estimate %6lld cl100k %6lld (%+5.1f %%)", name.c_str(),
                static_cast<long long>(estimate), static_cast<long long>(cl100k), (ratio - 1.0) * 100.0);
    INFO(name << ": estimate " << estimate << ", cl100k " << cl100k);
    CHECK(ratio >= kLowestRatio);
    CHECK(ratio <= kHighestRatio);
    if (counts.contains("claude")) {
      const auto claude = counts.at("claude").get<std::int64_t>();
      const double claude_ratio = ratio_to(request, claude);
      std::printf(" claude %6lld (%+5.1f %%)", static_cast<long long>(claude), (claude_ratio - 1.0) * 100.0);
      CHECK(claude_ratio >= kLowestRatio);
      CHECK(claude_ratio <= kHighestClaudeRatio);
    }
    std::printf("\n");
  }
}

TEST_CASE("text estimate follows the character classes", "[token_estimator]") {
  CHECK(detail::estimate_text_tokens("") == 0.0);
  // Common English words: about one token each.
  CHECK(detail::estimate_text_tokens(" the quick brown fox jumps over the lazy dog") == Approx(9 * 1.05).epsilon(0.05));
  // Digits in groups of three.
  CHECK(detail::estimate_text_tokens("123456789") == Approx(3 * 1.05));
  // Han characters cost about one token each; a long run never collapses.
  CHECK(detail::estimate_text_tokens("负载均衡器转发请求") >= 9.0);
  // Base64-like runs cost far more than prose of the same length.
  CHECK(detail::estimate_text_tokens("KCBEseByJ7YwyYCmgu9OyN59H9IYIGPoKv8tXyQXinkeGDI") > 20.0);
  // Invalid UTF-8 is priced, not skipped.
  CHECK(detail::estimate_text_tokens("\xff\xfe\xfd") >= 1.0);
}

// ---- Every part of the request counts -----------------------------------------------------------

TEST_CASE("tool definitions alone are counted, in proportion to their size", "[token_estimator]") {
  json request = read_fixture("tools_only.json");
  const json tools = request["tools"];
  REQUIRE(tools.size() > 8);
  const std::int64_t all_tools = estimate_input_tokens(request);
  CHECK(all_tools > 1000);

  json doubled = tools;
  for (const json& tool : tools)
    doubled.push_back(tool);
  request["tools"] = doubled;
  const std::int64_t twice = estimate_input_tokens(request);
  CHECK(static_cast<double>(twice) == Approx(2.0 * static_cast<double>(all_tools)).epsilon(0.02));

  request["tools"] = json::array({tools[0]});
  const std::int64_t one_tool = estimate_input_tokens(request);
  CHECK(one_tool > 20);
  CHECK(one_tool < all_tools / 4);
}

TEST_CASE("a tool_result of N characters adds about N/4 tokens", "[token_estimator]") {
  for (const std::size_t length : {400u, 4000u, 40000u}) {
    const std::string text = prose_of_length(length);
    const json as_string = {{"type", "tool_result"}, {"tool_use_id", "toolu_1"}, {"content", text}};
    const json as_blocks = {
        {"type", "tool_result"}, {"tool_use_id", "toolu_1"}, {"content", json::array({text_block(text)})}};
    const auto added = static_cast<double>(added_by(as_string));
    INFO("length " << length << " added " << added);
    CHECK(added >= static_cast<double>(length) / 5.5);
    CHECK(added <= static_cast<double>(length) / 3.0);
    CHECK(added_by(as_blocks) == added_by(as_string));
  }
}

TEST_CASE("tool_use counts its name and JSON input", "[token_estimator]") {
  const json small = {{"type", "tool_use"}, {"id", "toolu_1"}, {"name", "Bash"}, {"input", {{"command", "ls"}}}};
  const json large = {{"type", "tool_use"},
                      {"id", "toolu_1"},
                      {"name", "Write"},
                      {"input", {{"file_path", "/tmp/a.txt"}, {"content", prose_of_length(4000)}}}};
  CHECK(added_by(small) >= 5);
  CHECK(added_by(large) >= 4000 / 5);
}

TEST_CASE("system, thinking, redacted thinking, documents and tool_choice count", "[token_estimator]") {
  const std::string text = prose_of_length(2000);
  const json base = user_text_request("hi");
  json with_system = base;
  with_system["system"] = text;
  json with_system_blocks = base;
  with_system_blocks["system"] = json::array({text_block(text)});
  CHECK(estimate_input_tokens(with_system) - estimate_input_tokens(base) >= 2000 / 6);
  CHECK(estimate_input_tokens(with_system_blocks) == estimate_input_tokens(with_system));

  CHECK(added_by({{"type", "thinking"}, {"thinking", text}, {"signature", "abc"}}) >= 2000 / 6);
  CHECK(added_by({{"type", "redacted_thinking"}, {"data", std::string(4000, 'A')}}) >= 1000);
  CHECK(added_by({{"type", "document"},
                  {"source", {{"type", "text"}, {"media_type", "text/plain"}, {"data", text}}}}) >= 2000 / 6);
  CHECK(added_by({{"type", "search_result"},
                  {"source", "https://example.com"},
                  {"title", "Example"},
                  {"content", json::array({text_block(text)})}}) >= 2000 / 6);

  json with_choice = base;
  with_choice["tool_choice"] = {{"type", "tool"}, {"name", "get_weather"}};
  CHECK(estimate_input_tokens(with_choice) > estimate_input_tokens(base));
}

// ---- Images and PDFs ----------------------------------------------------------------------------

TEST_CASE("image headers give the pixel size", "[token_estimator]") {
  const auto check_size = [](const std::string& base64, std::uint32_t width, std::uint32_t height) {
    const auto size = detail::base64_image_size(base64);
    REQUIRE(size.has_value());
    CHECK(size->width == width);
    CHECK(size->height == height);
  };
  check_size(png_base64(1000, 500), 1000, 500);
  check_size(jpeg_base64(4000, 3000, 20), 4000, 3000);
  check_size(jpeg_base64(1024, 768, 30000), 1024, 768);  // SOF after a large EXIF segment
  check_size(gif_base64(640, 480), 640, 480);
  check_size(webp_lossy_base64(800, 600), 800, 600);
  check_size(webp_lossless_base64(320, 200), 320, 200);
  check_size(webp_extended_base64(3000, 2000), 3000, 2000);
  check_size("data:image/png;base64," + png_base64(10, 20), 10, 20);

  CHECK_FALSE(detail::base64_image_size("").has_value());
  CHECK_FALSE(detail::base64_image_size("not base64 at all!").has_value());
  CHECK_FALSE(detail::base64_image_size(base64_encode({'B', 'M', 0, 0, 0, 0})).has_value());
  CHECK_FALSE(detail::base64_image_size(png_base64(1000, 500).substr(0, 20)).has_value());
}

TEST_CASE("image tokens follow width x height / 750 after scaling", "[token_estimator]") {
  CHECK(detail::image_tokens({1000, 500}) == 667);
  CHECK(detail::image_tokens({200, 200}) == 54);
  CHECK(detail::image_tokens({1568, 700}) == 1464);
  CHECK(detail::image_tokens({4000, 3000}) == 1600);  // long edge → 1568, then the cap
  CHECK(detail::image_tokens({10000, 100}) == 33);    // 1568 × 15.68
  CHECK(detail::image_tokens({1, 1}) == 1);

  CHECK(added_by(base64_image("image/png", png_base64(1000, 500))) == 667);
  CHECK(added_by(base64_image("image/jpeg", jpeg_base64(4000, 3000, 100))) == 1600);
  CHECK(added_by(base64_image("image/gif", gif_base64(640, 480))) == 410);
  CHECK(added_by(base64_image("image/webp", webp_lossy_base64(800, 600))) == 640);
  CHECK(added_by(base64_image("image/bmp", base64_encode({'B', 'M', 1, 2, 3, 4}))) == 1600);
  CHECK(added_by({{"type", "image"}, {"source", {{"type", "url"}, {"url", "https://x/y.png"}}}}) == 1600);
  const json result_with_image = {{"type", "tool_result"},
                                  {"tool_use_id", "toolu_1"},
                                  {"content", json::array({base64_image("image/png", png_base64(1000, 500))})}};
  CHECK(added_by(result_with_image) >= 667);
}

TEST_CASE("PDF documents are priced by page", "[token_estimator]") {
  CHECK(detail::base64_pdf_page_count(minimal_pdf_base64(1)) == 1);
  CHECK(detail::base64_pdf_page_count(minimal_pdf_base64(7)) == 7);
  CHECK(detail::base64_pdf_page_count(base64_encode({'%', 'P', 'D', 'F'})) == 0);
  CHECK(detail::base64_decoded_size(base64_encode(std::vector<std::uint8_t>(10, 1))) == 10);
  CHECK(detail::base64_decoded_size(base64_encode(std::vector<std::uint8_t>(12, 1))) == 12);

  // Many pages: markers straddle the decoder's chunk boundaries and are each seen once.
  CHECK(detail::base64_pdf_page_count(minimal_pdf_base64(400)) == 400);

  const auto pdf_block = [](const std::string& data) {
    const json source = {{"type", "base64"}, {"media_type", "application/pdf"}, {"data", data}};
    return json{{"type", "document"}, {"source", source}};
  };
  const std::int64_t three_pages = added_by(pdf_block(minimal_pdf_base64(3)));
  CHECK(three_pages >= 3 * 1500);
  CHECK(added_by(pdf_block(minimal_pdf_base64(6))) == 2 * three_pages);
  // No visible page objects: priced from the size, at least one page.
  CHECK(added_by(pdf_block(base64_encode(std::vector<std::uint8_t>(300000, 7)))) >= 3 * 1500);
}

// ---- Robustness ---------------------------------------------------------------------------------

TEST_CASE("an empty or minimal request is at least one token", "[token_estimator]") {
  CHECK(estimate_input_tokens(json::parse(R"({"messages":[]})")) >= 1);
  CHECK(estimate_input_tokens(json::parse(R"({"messages":[{"role":"user","content":""}]})")) >= 1);
  CHECK(estimate_input_tokens(json::object()) >= 1);
  CHECK(estimate_input_tokens(json()) >= 1);
  CHECK(estimate_input_tokens(json::array({1, 2})) >= 1);
}

TEST_CASE("malformed parts are ignored without throwing", "[token_estimator]") {
  const char* const malformed[] = {
      R"({"messages": "hello"})",
      R"({"messages": [1, null, "x", [], {"role": "user"}]})",
      R"({"messages": [{"role": "user", "content": 42}]})",
      R"({"messages": [{"role": "user", "content": [null, 1, "bare string", {"type": 5},
          {"type": "text"}, {"type": "text", "text": 7}, {"type": "tool_use"},
          {"type": "tool_use", "name": 3, "input": "not an object"},
          {"type": "tool_result", "content": {"weird": true}},
          {"type": "tool_result", "content": [null, {"type": "image"}]},
          {"type": "image", "source": "nope"}, {"type": "image", "source": {"type": "base64"}},
          {"type": "image", "source": {"type": "base64", "data": "@@@@@@@@@@@@"}},
          {"type": "document", "source": {"type": "base64", "data": 12}},
          {"type": "document", "source": {"type": "content", "content": "inline"}},
          {"type": "redacted_thinking", "data": null}, {"type": "thinking"}]}]})",
      R"({"system": 12, "tools": {"name": "x"}, "tool_choice": "auto", "messages": []})",
      R"({"system": [null, {"type": "text", "text": ["a"]}], "tools": [1, null, {}],
          "messages": []})",
  };
  for (const char* text : malformed) {
    INFO(text);
    const json request = json::parse(text);
    std::int64_t tokens = 0;
    CHECK_NOTHROW(tokens = estimate_input_tokens(request));
    CHECK(tokens >= 1);
  }
  // Invalid UTF-8 can live in a json built in code (not parsed): still priced, no throw.
  json invalid = user_text_request(std::string("caf\xc3 \xff\xfe ok"));
  invalid["tools"] = json::array({{{"name", std::string("t\xff")}, {"input_schema", json::object()}}});
  std::int64_t tokens = 0;
  CHECK_NOTHROW(tokens = estimate_input_tokens(invalid));
  CHECK(tokens > 5);
}

TEST_CASE("a large request is the sum of its parts", "[token_estimator]") {
  // ~2 MB of code and JSON history (speed is for a benchmark, not a unit test): the estimate of
  // N copies of a conversation is N times the estimate of its messages, plus the fixed framing (rounding aside).
  const json fixture = read_fixture("code_conversation.json");
  json request = fixture;
  const std::size_t copies = 2'000'000 / fixture.dump().size();
  for (std::size_t copy = 0; copy < copies; ++copy) {
    for (const json& message : fixture["messages"])
      request["messages"].push_back(message);
  }
  json no_messages = fixture;
  no_messages["messages"] = json::array();
  const std::int64_t fixed = estimate_input_tokens(no_messages);
  const std::int64_t one = estimate_input_tokens(fixture) - fixed;
  const std::int64_t tokens = estimate_input_tokens(request);
  CHECK(tokens > 400000);
  // Equal up to the rounding of the final scale factor.
  CHECK(static_cast<double>(tokens - fixed) ==
        Approx(static_cast<double>(copies + 1) * static_cast<double>(one)).epsilon(0.001));
}
