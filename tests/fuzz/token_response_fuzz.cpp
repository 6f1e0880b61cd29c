// token_response_fuzz.cpp — fuzz target over the OAuth token endpoint parsers
// (detail::parse_token_response, detail::parse_token_error). Built as a libFuzzer binary with
// clang (-DBALANCER_FUZZ=ON: token_response_fuzz) and, always, as fuzz_replay_oauth, which runs
// the committed corpus tests/fuzz/token_corpus in ctest (replay_main.cpp).
//
// Oracles beyond "no crash, no sanitizer report": a parsed grant has a non-empty access token and
// 0 < expires_in <= the cap, parsing is deterministic, and an error description is at most
// kMaxErrorDescription bytes with no control characters.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "oauth/oauth_token_response.h"

namespace {

[[noreturn]] void oracle_failed(const char* what) {
  std::fprintf(stderr, "fuzz oracle failed: %s\n", what);
  std::abort();
}

bool has_control(std::string_view text) {
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) {
      return true;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace balancer::detail;
  const std::string_view body(reinterpret_cast<const char*>(data), size);

  const auto grant = parse_token_response(body);
  if (grant) {
    if (grant->access_token.empty()) {
      oracle_failed("a grant without an access token");
    }
    if (grant->expires_in.count() <= 0 || grant->expires_in > kMaxTokenLifetime) {
      oracle_failed("expires_in out of range");
    }
    for (const auto& scope : grant->scopes) {
      if (scope.empty() || scope.find(' ') != std::string::npos) {
        oracle_failed("a scope that is empty or holds a space");
      }
    }
  } else if (grant.error().message.empty()) {
    oracle_failed("an error without a message");
  }
  const auto again = parse_token_response(body);
  if (again.has_value() != grant.has_value() ||
      (grant && (again->access_token != grant->access_token || again->expires_in != grant->expires_in))) {
    oracle_failed("parse_token_response is not deterministic");
  }

  const TokenError error = parse_token_error(body);
  if (error.description.size() > kMaxErrorDescription || has_control(error.description) || has_control(error.error) ||
      error.error.size() > 64) {
    oracle_failed("an error code or description that is too long or holds control characters");
  }
  return 0;
}
