// splice_fuzz.cpp — fuzz target over the byte splicer (detail::splice_request_body), which
// rewrites the top-level `model` and removes the balancer-only `provider` member of every body
// forwarded to an Anthropic-type provider. Built as a libFuzzer binary with clang
// (-DBALANCER_FUZZ=ON: splice_fuzz) and, always, as fuzz_replay_splice, which runs
// tests/fuzz/splice_corpus in ctest (replay_main.cpp).
//
// Input: byte 0 holds flags (bit 0: a new model is given, bit 1: remove `provider`); with bit 0,
// byte 1 is the new model's length L and the next L bytes are the model (any bytes: a config
// value may hold invalid UTF-8); the rest is the body.
//
// Oracles (any mismatch aborts): nothing is thrown, whatever the body and model. For a body the
// validator accepts that is an object (scan_top_level_members succeeds), splicing succeeds and
//  - the result is valid JSON for nlohmann (strict) and for the validator;
//  - its top-level members are the input's in the same order, every `provider` gone when asked,
//    each `model` value, when a new model is given, a JSON string that decodes to it (invalid
//    UTF-8 in it replaced as nlohmann's error_handler_t::replace does), and every other member
//    byte-identical, key, ':' and value;
//  - the bytes before the first member, between members and after the last are the input's
//    (so nothing changes when nothing is asked).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "json/json_splice.h"
#include "json/json_validate.h"

namespace {

using balancer::detail::MemberSpan;

[[noreturn]] void oracle_failed(const char* what, std::string_view body = {}) {
  std::fprintf(stderr, "fuzz oracle failed: %s\n%.*s\n", what,
               static_cast<int>(body.size() > 2000 ? 2000 : body.size()), body.data());
  std::abort();
}

std::string_view between(std::string_view text, std::size_t begin, std::size_t end) {
  return text.substr(begin, end - begin);
}

void check_splice(std::string_view body, const std::optional<std::string>& new_model, bool remove_provider) {
  balancer::Result<std::string> out = std::string();
  try {
    out = balancer::detail::splice_request_body(body, new_model, remove_provider);
  } catch (const std::exception& e) {
    oracle_failed(e.what(), body);
  }
  if (balancer::detail::find_json_error(body)) {
    return;  // invalid input: any result or error, as long as nothing is thrown or overrun
  }
  const auto in = balancer::detail::scan_top_level_members(body);
  if (!in) {
    return;  // valid JSON that is not an object: the caller has refused it already
  }
  if (!out) {
    oracle_failed("splice fails on a valid object", body);
  }
  const std::string& result = *out;
  if (nlohmann::json::parse(result, nullptr, false).is_discarded() || balancer::detail::find_json_error(result)) {
    oracle_failed("the spliced body is not valid JSON", result);
  }
  const auto spliced = balancer::detail::scan_top_level_members(result);
  if (!spliced) {
    oracle_failed("the spliced body is not an object", result);
  }
  const std::string model_json =
      new_model ? nlohmann::json(*new_model).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) : "";
  bool model_is_utf8 = false;  // nlohmann's strict dump throws on invalid UTF-8
  if (new_model) {
    try {
      (void)nlohmann::json(*new_model).dump();
      model_is_utf8 = true;
    } catch (const nlohmann::json::type_error&) {
    }
  }

  // The members kept, in order, and the separator after each in the input (up to the next
  // member, removed or not).
  std::vector<std::size_t> kept;
  for (std::size_t i = 0; i < in->size(); ++i) {
    if (!(remove_provider && (*in)[i].key == "provider")) {
      kept.push_back(i);
    }
  }
  if (spliced->size() != kept.size()) {
    oracle_failed("the spliced body has another number of members", result);
  }
  for (std::size_t j = 0; j < kept.size(); ++j) {
    const MemberSpan& a = (*in)[kept[j]];
    const MemberSpan& b = (*spliced)[j];
    if (between(body, a.key_begin, a.value_begin) != between(result, b.key_begin, b.value_begin)) {
      oracle_failed("a member's key changed", result);
    }
    const std::string_view value = between(result, b.value_begin, b.value_end);
    if (new_model && a.key == "model") {
      // The new model as a JSON string: decoded, it is the model (valid UTF-8) or the model with
      // invalid sequences replaced (then not the bytes given, and as nlohmann's replace encodes).
      const auto decoded = nlohmann::json::parse(value, nullptr, false);
      if (!decoded.is_string() || value != model_json || (model_is_utf8 && decoded.get<std::string>() != *new_model)) {
        oracle_failed("the model value is not the new model", result);
      }
    } else if (value != between(body, a.value_begin, a.value_end)) {
      oracle_failed("a member's value changed", result);
    }
    if (j + 1 < kept.size()) {
      const std::size_t next_in = kept[j] + 1;  // the input member after it, maybe a removed one
      if (between(body, a.value_end, (*in)[next_in].key_begin) !=
          between(result, b.value_end, (*spliced)[j + 1].key_begin)) {
        oracle_failed("the bytes between two members changed", result);
      }
    }
  }
  if (in->empty()) {
    if (result != body) {
      oracle_failed("an empty object changed", result);
    }
    return;
  }
  const std::string_view head = body.substr(0, in->front().key_begin);
  const std::string_view tail = body.substr(in->back().value_end);
  if (spliced->empty()) {
    if (result != std::string(head) + std::string(tail)) {
      oracle_failed("removing every member left other bytes", result);
    }
    return;
  }
  if (std::string_view(result).substr(0, spliced->front().key_begin) != head ||
      std::string_view(result).substr(spliced->back().value_end) != tail) {
    oracle_failed("the bytes around the members changed", result);
  }
  if (!new_model && !remove_provider && result != body) {
    oracle_failed("nothing asked, yet the body changed", result);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::uint8_t flags = data[0];
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::optional<std::string> new_model;
  if ((flags & 1U) != 0 && !rest.empty()) {
    const std::size_t length = std::min<std::size_t>(static_cast<unsigned char>(rest[0]), rest.size() - 1);
    new_model = std::string(rest.substr(1, length));
    rest.remove_prefix(1 + length);
  }
  check_splice(rest, new_model, (flags & 2U) != 0);
  return 0;
}
