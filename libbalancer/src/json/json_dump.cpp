#include "json/json_dump.h"

#include <simdjson.h>

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace balancer::detail {
namespace {

std::string nlohmann_dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A byte nlohmann writes escaped: '"', '\\' and the control characters (0x7F is not one).
bool needs_escape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }

// Whether any of the 8 bytes in `w` needs an escape (exact for "any"; which one is found by the
// byte loop). Bytes of 0x80 and above never match: their high bit excludes them.
bool word_needs_escape(std::uint64_t w) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
  const std::uint64_t quote = w ^ (kOnes * '"');
  const std::uint64_t backslash = w ^ (kOnes * '\\');
  const std::uint64_t control = (w - kOnes * 0x20) & ~w;
  const std::uint64_t is_quote = (quote - kOnes) & ~quote;
  const std::uint64_t is_backslash = (backslash - kOnes) & ~backslash;
  return ((control | is_quote | is_backslash) & kHighs) != 0;
}

void append_string(std::string_view s, std::string& out) {
  if (!simdjson::validate_utf8(s.data(), s.size())) {
    out += nlohmann_dump(nlohmann::json(std::string(s)));  // its replacement of invalid bytes
    return;
  }
  out += '"';
  std::size_t run = 0;  // start of the bytes not yet written
  for (std::size_t i = 0; i < s.size(); ++i) {
    // Whole words without anything to escape are skipped 8 bytes at a time.
    while (i + 8 <= s.size()) {
      std::uint64_t word = 0;
      std::memcpy(&word, s.data() + i, sizeof word);
      if (word_needs_escape(word)) {
        break;
      }
      i += 8;
    }
    if (i >= s.size()) {
      break;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    if (!needs_escape(c)) {
      continue;
    }
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\t': out += "\\t"; break;
      case '\n': out += "\\n"; break;
      case '\f': out += "\\f"; break;
      case '\r': out += "\\r"; break;
      default: {
        static constexpr std::string_view kHex = "0123456789abcdef";
        const std::array<char, 6> escaped{'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out.append(escaped.data(), escaped.size());
        break;
      }
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

template <typename Integer>
void append_integer(Integer value, std::string& out) {
  std::array<char, 24> digits{};
  const auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  out.append(digits.data(), ec == std::errc() ? static_cast<std::size_t>(end - digits.data()) : 0);
}

void append(const nlohmann::json& value, std::string& out) {
  using Type = nlohmann::json::value_t;
  switch (value.type()) {
    case Type::object: {
      out += '{';
      bool first = true;
      for (const auto& [key, member] : value.items()) {
        if (!first) {
          out += ',';
        }
        first = false;
        append_string(key, out);
        out += ':';
        append(member, out);
      }
      out += '}';
      return;
    }
    case Type::array: {
      out += '[';
      bool first = true;
      for (const auto& element : value) {
        if (!first) {
          out += ',';
        }
        first = false;
        append(element, out);
      }
      out += ']';
      return;
    }
    case Type::string: append_string(value.get_ref<const std::string&>(), out); return;
    case Type::boolean: out += value.get<bool>() ? "true" : "false"; return;
    case Type::null: out += "null"; return;
    case Type::number_integer: append_integer(value.get<std::int64_t>(), out); return;
    case Type::number_unsigned: append_integer(value.get<std::uint64_t>(), out); return;
    default: out += nlohmann_dump(value); return;  // floating point, binary, discarded
  }
}

}  // namespace

std::string dump_json(const nlohmann::json& value) {
  std::string out;
  append(value, out);
  return out;
}

}  // namespace balancer::detail
