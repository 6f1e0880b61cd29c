// converter_fuzz.cpp — one fuzz target over the converter, the streaming translator, the token
// estimator and the incremental SSE parser. The first input byte picks what to exercise; the
// rest is the payload. Built as a libFuzzer binary with clang (-DBALANCER_FUZZ=ON) and, always,
// as a replay binary that runs the committed corpus in ctest (replay_main.cpp).
//
// Oracles beyond "no crash, no sanitizer report": the translator's output must not depend on
// where the input was split, and must be a valid Anthropic event stream (grammar checker).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <balancer/converter.h>
#include <balancer/stream_translator.h>
#include "tokens/token_estimator.h"

#include "anthropic_stream_grammar.h"
#include "stream/sse_parser.h"

namespace {

[[noreturn]] void oracle_failed(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz oracle failed: %s\n%s\n", what, detail.c_str());
  std::abort();
}

void fuzz_json_conversions(int which, std::string_view payload) {
  const auto input = nlohmann::json::parse(payload, nullptr, false);
  if (input.is_discarded()) {
    return;
  }
  const balancer::Converter converter;
  switch (which) {
    case 0:
      if (auto r = converter.anthropic_to_openai_request(input, "fuzz-model")) {
        (void)r->body.dump();
      }
      (void)balancer::estimate_input_tokens(input);
      break;
    case 1:
      if (auto r = converter.openai_to_anthropic_response(input, "claude-fuzz")) {
        (void)r->dump();
      }
      break;
    case 2:
      if (auto r = converter.openai_to_anthropic_request(input)) {
        (void)r->body.dump();
      }
      if (auto r = converter.anthropic_to_openai_response(input)) {
        (void)r->dump();
      }
      break;
    default: break;
  }
}

std::string translate(std::string_view stream, std::size_t split) {
  balancer::StreamTranslator translator("claude-fuzz");
  std::string out;
  translator.feed(stream.substr(0, split), out);
  translator.feed(stream.substr(split), out);
  translator.finish(out);
  return out;
}

void fuzz_stream(std::uint8_t selector, std::string_view payload) {
  const std::string whole = translate(payload, payload.size());
  const std::size_t split = payload.empty() ? 0 : (selector * 131u) % (payload.size() + 1);
  if (translate(payload, split) != whole) {
    oracle_failed("translator output depends on the split point", std::string(payload));
  }
  const auto check = balancer::test::check_anthropic_stream(whole);
  if (!check.ok()) {
    oracle_failed(check.violation.c_str(), whole);
  }
}

void fuzz_errors_and_parser(std::string_view payload) {
  (void)balancer::Converter::openai_to_anthropic_error(static_cast<int>(payload.size() % 600), payload).dump();
  (void)balancer::Converter::anthropic_to_openai_error(429, payload).dump();
  balancer::detail::SseParser parser;
  std::size_t events = 0;
  parser.feed(payload, [&](const balancer::detail::SseEvent&) { ++events; });
  if (parser.pending_bytes() > payload.size()) {
    oracle_failed("pending_bytes larger than the input", std::string(payload));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::string_view payload(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 5) {
    case 0:
    case 1:
    case 2: fuzz_json_conversions(data[0] % 5, payload); break;
    case 3: fuzz_stream(data[0], payload); break;
    default: fuzz_errors_and_parser(payload); break;
  }
  return 0;
}
