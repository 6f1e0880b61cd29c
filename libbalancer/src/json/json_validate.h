// json_validate.h — a fast, allocation-free check that a byte string is one valid JSON text,
// accepting exactly what nlohmann::json::parse accepts in strict mode for UTF-8 input.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace balancer::detail {

// Deepest nesting of arrays/objects accepted. nlohmann has no limit; the validator keeps its
// container stack in a fixed array instead of recursing, and reports deeper input as an error.
inline constexpr std::size_t kMaxJsonDepth = 10000;

// Where and why a text is not valid JSON. `reason` points to a static string.
struct JsonError {
  std::size_t offset = 0;
  const char* reason = "";
};

// Checks `text` against RFC 8259 as nlohmann::json::parse (strict, UTF-8) applies it:
//  - optional leading UTF-8 BOM (EF BB BF, at byte 0 only), whitespace is space/tab/LF/CR;
//  - strings must be well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF), control
//    characters below 0x20 must be escaped, \u escapes must pair surrogates correctly;
//  - numbers follow the JSON grammar and must be finite as doubles (1e400 is an error, 1e-400
//    is not, as nlohmann rejects numbers that overflow to infinity);
//  - after the value only whitespace may follow, up to the end or a NUL byte (nlohmann treats
//    a NUL byte outside strings as the end of input, so "{}\0junk" is valid);
//  - nesting deeper than kMaxJsonDepth is an error (nlohmann has no limit).
// The offset is that of the first byte at which the text stops being the beginning of a valid
// JSON text, text.size() when it is only cut short, or for a number out of range the offset of
// its first byte. No allocation; safe from any thread.
std::optional<JsonError> diagnose_json(std::string_view text) noexcept;

// Byte offsets of one top-level member of a JSON object.
struct MemberSpan {
  std::string key;              // unescaped
  std::size_t key_begin = 0;    // offset of the key's opening quote
  std::size_t value_begin = 0;  // first byte of the value
  std::size_t value_end = 0;    // one past the last byte of the value
};

// As diagnose_json, in the same single pass: when the text is a valid JSON object, `members`
// (cleared first) receives its top-level members in document order, offsets into `text`. This
// is the one inspection of a request body; routing and splicing read these spans instead of
// scanning the body again. Allocates the members' vector and key strings (a key with escapes is
// decoded by nlohmann).
std::optional<JsonError> diagnose_json(std::string_view text, std::vector<MemberSpan>& members);

// The decoded value of a JSON string token (quotes included) taken from a validated text.
std::string decode_json_string(std::string_view token);

// As diagnose_json, the offset only: nullopt for a valid JSON text.
std::optional<std::size_t> find_json_error(std::string_view text) noexcept;

}  // namespace balancer::detail
