#include "json/json_validate.h"

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <system_error>

#include <nlohmann/json.hpp>

#if defined(__SSE2__) && !defined(BALANCER_JSON_NO_SIMD)
#include <emmintrin.h>
#define BALANCER_JSON_SSE2 1
#endif

namespace balancer::detail {
namespace {

using Byte = unsigned char;

// 1 for the bytes a string may contain as they are: not '"', not '\\', not below 0x20, ASCII.
constexpr std::array<bool, 256> make_plain_table() {
  std::array<bool, 256> table{};
  for (std::size_t c = 0x20; c < 0x80; ++c) {
    table[c] = c != '"' && c != '\\';
  }
  return table;
}
constexpr std::array<bool, 256> kPlain = make_plain_table();

bool is_digit(Byte c) { return c >= '0' && c <= '9'; }

bool is_ws(Byte c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

int hex_value(Byte c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// Returns the offset of the first byte at or after `i` that is not plain string content, or n.
std::size_t skip_plain(const Byte* s, std::size_t i, std::size_t n) {
#if defined(BALANCER_JSON_SSE2)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i space = _mm_set1_epi8(0x20);
  while (n - i >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
    // As signed bytes, both the control characters and the bytes >= 0x80 are below 0x20.
    const __m128i special =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)), _mm_cmplt_epi8(v, space));
    const auto mask = static_cast<unsigned>(_mm_movemask_epi8(special));
    if (mask != 0) {
      return i + static_cast<std::size_t>(__builtin_ctz(mask));
    }
    i += 16;
  }
#else
  // Eight bytes at a time: a word has a special byte when one of its bytes equals '"' or '\\',
  // is below 0x20, or has the top bit set. False positives only occur above a real hit, so the
  // byte loop below then stops at the real one.
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
  while (n - i >= 8) {
    std::uint64_t v = 0;
    std::memcpy(&v, s + i, sizeof v);
    const std::uint64_t q = v ^ (kOnes * '"');
    const std::uint64_t b = v ^ (kOnes * '\\');
    const std::uint64_t hits = (((q - kOnes) & ~q) | ((b - kOnes) & ~b) | ((v - kOnes * 0x20) & ~v) | v) & kHigh;
    if (hits != 0) {
      break;
    }
    i += 8;
  }
#endif
  while (i < n && kPlain[s[i]]) {
    ++i;
  }
  return i;
}

// One pass over a text: validates it and, when asked, records the root object's members.
class Validator {
 public:
  Validator(std::string_view text, std::vector<MemberSpan>* members)
      : s_(reinterpret_cast<const Byte*>(text.data())), n_(text.size()), members_(members) {}

  std::optional<JsonError> run() {
    if (members_ != nullptr) {
      members_->clear();
    }
    if (run_document()) {
      return std::nullopt;
    }
    if (members_ != nullptr) {
      members_->clear();
    }
    return error_;
  }

 private:
  // True at a member of the root object: the only level whose spans are recorded.
  bool at_root_member() const { return members_ != nullptr && depth_ == 1 && top_is_object(); }

  void end_root_member() {
    if (at_root_member()) {
      members_->back().value_end = i_;
    }
  }

  bool fail(std::size_t offset, const char* reason) {
    error_ = JsonError{offset, reason};
    return false;
  }

  void skip_ws() {
    while (i_ < n_ && is_ws(s_[i_])) {
      ++i_;
    }
  }

  bool top_is_object() const {
    const std::size_t level = depth_ - 1;
    return ((stack_[level / 64] >> (level % 64)) & 1U) != 0;
  }

  bool push(bool is_object) {
    if (depth_ == kMaxJsonDepth) {
      return fail(i_, "nesting too deep");
    }
    const std::uint64_t bit = std::uint64_t{1} << (depth_ % 64);
    if (is_object) {
      stack_[depth_ / 64] |= bit;
    } else {
      stack_[depth_ / 64] &= ~bit;
    }
    ++depth_;
    ++i_;
    return true;
  }

  bool run_document() {
    // nlohmann skips a UTF-8 byte order mark at the very start.
    if (n_ > 0 && s_[0] == 0xEF) {
      if (n_ < 2) {
        return fail(n_, "invalid BOM");
      }
      if (s_[1] != 0xBB) {
        return fail(1, "invalid BOM");
      }
      if (n_ < 3) {
        return fail(n_, "invalid BOM");
      }
      if (s_[2] != 0xBF) {
        return fail(2, "invalid BOM");
      }
      i_ = 3;
    }
    for (;;) {
      if (!value()) {
        return false;
      }
      end_root_member();  // a scalar or an empty container
      // After a value: close containers until one continues with ',' or the document ends.
      for (;;) {
        skip_ws();
        if (depth_ == 0) {
          // A NUL byte ends the input for nlohmann.
          if (i_ == n_ || s_[i_] == 0) {
            return true;
          }
          return fail(i_, "unexpected data after the JSON value");
        }
        if (i_ >= n_) {
          return fail(n_, "unexpected end of input");
        }
        const Byte c = s_[i_];
        const bool in_object = top_is_object();
        if (c == ',') {
          ++i_;
          if (in_object && !member_key()) {
            return false;
          }
          break;  // parse the next value
        }
        if (c == (in_object ? '}' : ']')) {
          ++i_;
          --depth_;
          end_root_member();
          continue;
        }
        return fail(i_, in_object ? "expected ',' or '}'" : "expected ',' or ']'");
      }
    }
  }

  // Parses one value at i_ (after optional whitespace). Opening an array or object consumes the
  // bracket and, for an object, the first key; the caller's loop then parses the first element.
  // An empty container is consumed whole.
  bool value() {
    for (;;) {
      skip_ws();
      if (i_ >= n_) {
        return fail(n_, "unexpected end of input; expected a value");
      }
      if (at_root_member()) {
        members_->back().value_begin = i_;
      }
      switch (s_[i_]) {
        case '{':
          if (!push(true)) {
            return false;
          }
          skip_ws();
          if (i_ < n_ && s_[i_] == '}') {
            ++i_;
            --depth_;
            return true;
          }
          if (!member_key()) {
            return false;
          }
          continue;  // the member's value
        case '[':
          if (!push(false)) {
            return false;
          }
          skip_ws();
          if (i_ < n_ && s_[i_] == ']') {
            ++i_;
            --depth_;
            return true;
          }
          continue;  // the first element
        case '"': return string();
        case 't': return literal("true");
        case 'f': return literal("false");
        case 'n': return literal("null");
        case '-':
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7':
        case '8':
        case '9': return number();
        default: return fail(i_, "unexpected character; expected a value");
      }
    }
  }

  // At a key (after optional whitespace): parses the key string and the ':' after it.
  bool member_key() {
    skip_ws();
    if (i_ >= n_) {
      return fail(n_, "unexpected end of input; expected a string key");
    }
    if (s_[i_] != '"') {
      return fail(i_, "expected a string key");
    }
    const std::size_t key_begin = i_;
    if (!string()) {
      return false;
    }
    if (at_root_member()) {
      MemberSpan member;
      member.key = decode_json_string(std::string_view(reinterpret_cast<const char*>(s_ + key_begin), i_ - key_begin));
      member.key_begin = key_begin;
      members_->push_back(std::move(member));
    }
    skip_ws();
    if (i_ >= n_) {
      return fail(n_, "unexpected end of input; expected ':'");
    }
    if (s_[i_] != ':') {
      return fail(i_, "expected ':'");
    }
    ++i_;
    return true;
  }

  bool literal(std::string_view word) {
    for (std::size_t k = 0; k < word.size(); ++k) {
      if (i_ + k >= n_) {
        return fail(n_, "unexpected end of input in a literal");
      }
      if (s_[i_ + k] != static_cast<Byte>(word[k])) {
        return fail(i_ + k, "invalid literal");
      }
    }
    i_ += word.size();
    return true;
  }

  bool string() {
    ++i_;  // the opening quote
    for (;;) {
      i_ = skip_plain(s_, i_, n_);
      if (i_ >= n_) {
        return fail(n_, "unexpected end of input in a string");
      }
      const Byte c = s_[i_];
      if (c == '"') {
        ++i_;
        return true;
      }
      if (c == '\\') {
        if (!escape()) {
          return false;
        }
      } else if (c < 0x20) {
        return fail(i_, "control character in a string must be escaped");
      } else if (!utf8_sequence()) {
        return false;
      }
    }
  }

  // At "\u": reads the four hex digits after it into `code`.
  bool hex4(int& code) {
    code = 0;
    for (std::size_t k = 2; k < 6; ++k) {
      if (i_ + k >= n_) {
        return fail(n_, "unexpected end of input in a \\u escape");
      }
      const int digit = hex_value(s_[i_ + k]);
      if (digit < 0) {
        return fail(i_ + k, "'\\u' must be followed by 4 hex digits");
      }
      code = code * 16 + digit;
    }
    i_ += 6;
    return true;
  }

  bool escape() {
    if (i_ + 1 >= n_) {
      return fail(n_, "unexpected end of input in an escape");
    }
    switch (s_[i_ + 1]) {
      case '"':
      case '\\':
      case '/':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't': i_ += 2; return true;
      case 'u': break;
      default: return fail(i_ + 1, "invalid escape");
    }
    const std::size_t start = i_;
    int code = 0;
    if (!hex4(code)) {
      return false;
    }
    if (code >= 0xDC00 && code <= 0xDFFF) {
      return fail(start, "surrogate U+DC00..U+DFFF must follow U+D800..U+DBFF");
    }
    if (code < 0xD800 || code > 0xDBFF) {
      return true;
    }
    // A high surrogate must be followed by an escaped low surrogate.
    if (i_ >= n_) {
      return fail(n_, "unexpected end of input after a high surrogate");
    }
    if (s_[i_] != '\\') {
      return fail(i_, "surrogate U+D800..U+DBFF must be followed by U+DC00..U+DFFF");
    }
    if (i_ + 1 >= n_) {
      return fail(n_, "unexpected end of input after a high surrogate");
    }
    if (s_[i_ + 1] != 'u') {
      return fail(i_ + 1, "surrogate U+D800..U+DBFF must be followed by U+DC00..U+DFFF");
    }
    const std::size_t low_start = i_;
    if (!hex4(code)) {
      return false;
    }
    if (code < 0xDC00 || code > 0xDFFF) {
      return fail(low_start, "surrogate U+D800..U+DBFF must be followed by U+DC00..U+DFFF");
    }
    return true;
  }

  // At a byte >= 0x80 in a string: checks well-formed UTF-8 (Unicode 3.9, table 3-7), for a run
  // of consecutive multi-byte sequences.
  bool utf8_sequence() {
    do {
      const Byte lead = s_[i_];
      std::size_t length = 0;
      Byte low = 0x80;
      Byte high = 0xBF;
      if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
      } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        if (lead == 0xE0) {
          low = 0xA0;  // no overlongs
        } else if (lead == 0xED) {
          high = 0x9F;  // no surrogates
        }
      } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        if (lead == 0xF0) {
          low = 0x90;  // no overlongs
        } else if (lead == 0xF4) {
          high = 0x8F;  // nothing above U+10FFFF
        }
      } else {
        return fail(i_, "ill-formed UTF-8 byte");
      }
      for (std::size_t k = 1; k < length; ++k) {
        if (i_ + k >= n_) {
          return fail(n_, "unexpected end of input in a UTF-8 sequence");
        }
        const Byte c = s_[i_ + k];
        if (c < low || c > high) {
          return fail(i_ + k, "ill-formed UTF-8 byte");
        }
        low = 0x80;
        high = 0xBF;
      }
      i_ += length;
    } while (i_ < n_ && s_[i_] >= 0x80);
    return true;
  }

  std::size_t digits_from(std::size_t i) const {
    while (i < n_ && is_digit(s_[i])) {
      ++i;
    }
    return i;
  }

  bool number() {
    const std::size_t start = i_;
    std::size_t i = i_;
    if (s_[i] == '-') {
      ++i;
    }
    if (i >= n_) {
      return fail(n_, "unexpected end of input in a number");
    }
    const std::size_t int_begin = i;
    if (s_[i] == '0') {
      ++i;
    } else if (is_digit(s_[i])) {
      i = digits_from(i + 1);
    } else {
      return fail(i, "expected a digit after '-'");
    }
    const std::size_t int_end = i;
    std::size_t frac_begin = i;
    std::size_t frac_end = i;
    if (i < n_ && s_[i] == '.') {
      ++i;
      if (i >= n_) {
        return fail(n_, "unexpected end of input in a number");
      }
      if (!is_digit(s_[i])) {
        return fail(i, "expected a digit after '.'");
      }
      frac_begin = i;
      i = digits_from(i + 1);
      frac_end = i;
    }
    std::size_t exp_begin = i;
    std::size_t exp_end = i;
    bool exp_negative = false;
    if (i < n_ && (s_[i] == 'e' || s_[i] == 'E')) {
      ++i;
      if (i < n_ && (s_[i] == '+' || s_[i] == '-')) {
        exp_negative = s_[i] == '-';
        ++i;
      }
      if (i >= n_) {
        return fail(n_, "unexpected end of input in a number");
      }
      if (!is_digit(s_[i])) {
        return fail(i, "expected a digit in the exponent");
      }
      exp_begin = i;
      i = digits_from(i + 1);
      exp_end = i;
    }
    i_ = i;
    // Short numbers without an exponent are always finite doubles.
    if (exp_begin == exp_end && int_end - int_begin < 300) {
      return true;
    }
    return number_in_range(start, int_begin, int_end, frac_begin, frac_end, exp_begin, exp_end, exp_negative);
  }

  // nlohmann converts numbers that do not fit a 64-bit integer with strtod and rejects those
  // that overflow to infinity. A number's decimal magnitude decides that except within a factor
  // of ten of DBL_MAX, where the number is converted.
  bool number_in_range(std::size_t start, std::size_t int_begin, std::size_t int_end, std::size_t frac_begin,
                       std::size_t frac_end, std::size_t exp_begin, std::size_t exp_end, bool exp_negative) {
    constexpr std::int64_t kCap = std::int64_t{1} << 50;
    // The value is in [10^(magnitude-1), 10^magnitude).
    std::int64_t magnitude = 0;
    if (s_[int_begin] != '0') {
      const std::size_t int_digits = int_end - int_begin;
      magnitude = int_digits > static_cast<std::size_t>(kCap) ? kCap : static_cast<std::int64_t>(int_digits);
    } else {
      std::size_t k = frac_begin;
      while (k < frac_end && s_[k] == '0') {
        ++k;
      }
      if (k == frac_end) {
        return true;  // zero
      }
      const std::size_t zeros = k - frac_begin;
      magnitude = -(zeros > static_cast<std::size_t>(kCap) ? kCap : static_cast<std::int64_t>(zeros));
    }
    std::int64_t exponent = 0;
    for (std::size_t k = exp_begin; k < exp_end && exponent < kCap; ++k) {
      exponent = exponent * 10 + (s_[k] - '0');
    }
    magnitude += exp_negative ? -exponent : exponent;
    if (magnitude < 309) {
      return true;  // below 10^308 < DBL_MAX
    }
    if (magnitude == 309) {
      double value = 0;
      const auto* first = reinterpret_cast<const char*>(s_ + start);
      const auto* last = reinterpret_cast<const char*>(s_ + i_);
      const auto result = std::from_chars(first, last, value);
      if (result.ec != std::errc::result_out_of_range) {
        return true;
      }
    }
    return fail(start, "number overflow");
  }

  const Byte* s_;
  std::size_t n_;
  std::vector<MemberSpan>* members_;  // null: validate only
  std::size_t i_ = 0;
  std::size_t depth_ = 0;
  std::array<std::uint64_t, (kMaxJsonDepth + 63) / 64> stack_{};  // bit set: 1 = object
  JsonError error_;
};

}  // namespace

std::optional<JsonError> diagnose_json(std::string_view text) noexcept { return Validator(text, nullptr).run(); }

std::optional<JsonError> diagnose_json(std::string_view text, std::vector<MemberSpan>& members) {
  return Validator(text, &members).run();
}

std::string decode_json_string(std::string_view token) {
  const std::string_view inner = token.substr(1, token.size() - 2);
  if (inner.find('\\') == std::string_view::npos) {
    return std::string(inner);  // valid UTF-8 without escapes: the bytes are the value
  }
  auto parsed = nlohmann::json::parse(token, nullptr, /*allow_exceptions=*/false);
  return parsed.is_string() ? parsed.get<std::string>() : std::string();
}

std::optional<std::size_t> find_json_error(std::string_view text) noexcept {
  if (auto error = diagnose_json(text)) {
    return error->offset;
  }
  return std::nullopt;
}

}  // namespace balancer::detail
