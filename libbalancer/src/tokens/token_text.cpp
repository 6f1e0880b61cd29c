// token_text.cpp — the character-class token estimate behind detail::estimate_text_tokens.
//
// The scanner follows cl100k_base's pre-tokenizer regex alternative by alternative
//   's|'t|'re|'ve|'m|'ll|'d | [^\r\n\L\N]?\L+ | \N{1,3} | ' '?[^\s\L\N]+[\r\n]* | \s*[\r\n]+ |
//   \s+(?!\S) | \s+
// and prices each piece instead of running BPE on it: a common English word with its leading
// space is one token, longer / all-capital / camelCase words cost more, base64-like runs ~0.7 per
// letter, a digit group is one token, a punctuation run one token plus ~1/3 per symbol past the
// third, a whitespace run one token, CJK ~1 per character, Cyrillic and accented Latin ~0.5 per
// letter, Greek, Arabic, Indic ~1 per letter, emoji ~3. The constants were fitted by measuring
// cl100k_base piece by piece on English prose, C++ / Python / JS source, JSON, YAML, base64, and
// Chinese, Japanese, Korean, Russian, German, French, Spanish, Italian, Greek, Arabic, Thai.
#include "tokens/token_text.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

namespace balancer::detail {
namespace {

// ---- Pricing constants (fitted against cl100k_base) -----------------------------------------

constexpr double kSafetyMargin = 1.05;          // the estimate errs high on purpose
constexpr double kMixedAsciiLetterCost = 0.3;   // ASCII letters inside a non-English word
constexpr double kRepeatedSymbolShare = 0.15;   // a symbol repeating the one before it
constexpr double kSymbolCost = 0.9;             // a non-ASCII symbol of up to 3 UTF-8 bytes
constexpr double kAstralSymbolCost = 2.7;       // a 4-byte symbol (emoji)
constexpr double kExtraAsciiSymbolCost = 0.35;  // each symbol after the first three of a run
constexpr double kLongWordCharsPerToken = 3.5;  // letters past 16 in one run
constexpr double kRandomLetterCost = 0.72;      // per letter of base64 / hash-like runs
constexpr double kRandomWordShare = 0.3;        // this share of random-looking letters → base64
constexpr double kForeignLetterShare = 0.003;   // this share of accented letters → non-English

// ---- Character classes ----------------------------------------------------------------------

enum class CharClass : std::uint8_t {
  ascii_letter,
  cjk_letter,    // Han, kana, Hangul: about one token per character
  other_letter,  // Latin with diacritics, Greek, Cyrillic, Arabic, Indic, ...
  digit,
  space,  // whitespace other than \r and \n
  newline,
  ascii_symbol,
  other_symbol,  // non-ASCII punctuation, symbols, emoji, invalid bytes
};

struct Unit {
  CharClass cls;
  char32_t code_point;
  std::size_t bytes;
};

bool is_letter(CharClass cls) {
  return cls == CharClass::ascii_letter || cls == CharClass::cjk_letter || cls == CharClass::other_letter;
}

bool is_whitespace(CharClass cls) { return cls == CharClass::space || cls == CharClass::newline; }

bool is_symbol(CharClass cls) { return cls == CharClass::ascii_symbol || cls == CharClass::other_symbol; }

constexpr CharClass classify_ascii(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return CharClass::ascii_letter;
  if (c >= '0' && c <= '9') return CharClass::digit;
  if (c == '\n' || c == '\r') return CharClass::newline;
  if (c == ' ' || c == '\t' || c == '\v' || c == '\f') return CharClass::space;
  return CharClass::ascii_symbol;
}

constexpr std::array<CharClass, 128> make_ascii_classes() {
  std::array<CharClass, 128> classes{};
  for (unsigned char c = 0; c < 128; ++c)
    classes[c] = classify_ascii(c);
  return classes;
}

constexpr std::array<CharClass, 128> kAsciiClasses = make_ascii_classes();

bool in_range(char32_t cp, char32_t first, char32_t last) { return cp >= first && cp <= last; }

bool is_unicode_space(char32_t cp) {
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || in_range(cp, 0x2000, 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0xFEFF;
}

bool is_cjk(char32_t cp) {
  return in_range(cp, 0x3040, 0x30FF) || in_range(cp, 0x3400, 0x4DBF) || in_range(cp, 0x4E00, 0x9FFF) ||
         in_range(cp, 0xF900, 0xFAFF) || in_range(cp, 0xAC00, 0xD7AF) || in_range(cp, 0x1100, 0x11FF) ||
         in_range(cp, 0x3130, 0x318F) || in_range(cp, 0x20000, 0x3FFFF);
}

bool is_unicode_symbol(char32_t cp) {
  return (in_range(cp, 0x80, 0xBF) && cp != 0xAA && cp != 0xB5 && cp != 0xBA) || cp == 0xD7 || cp == 0xF7 ||
         in_range(cp, 0x0300, 0x036F) || in_range(cp, 0x2010, 0x2BFF) || in_range(cp, 0x3000, 0x303F) ||
         in_range(cp, 0xE000, 0xF8FF) || in_range(cp, 0xFE00, 0xFE4F) || in_range(cp, 0xFF01, 0xFF0F) ||
         in_range(cp, 0xFF1A, 0xFF20) || in_range(cp, 0xFF3B, 0xFF40) || in_range(cp, 0xFF5B, 0xFF65) ||
         in_range(cp, 0x1F000, 0x1FBFF) || cp == 0xFFFD;
}

CharClass classify_non_ascii(char32_t cp) {
  if (is_unicode_space(cp)) return CharClass::space;
  if (is_cjk(cp)) return CharClass::cjk_letter;
  if (is_unicode_symbol(cp)) return CharClass::other_symbol;
  return CharClass::other_letter;
}

// Decodes the code point at `pos` (< text.size()); a malformed sequence is one symbol byte.
Unit unit_at(std::string_view text, std::size_t pos) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  if (lead < 0x80) return {kAsciiClasses[lead], lead, 1};
  const Unit invalid{CharClass::other_symbol, 0xFFFD, 1};
  const std::size_t length = lead >= 0xF8 ? 0 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 0;
  if (length == 0 || pos + length > text.size()) return invalid;
  char32_t cp = lead & (0x7Fu >> length);
  for (std::size_t i = 1; i < length; ++i) {
    const auto next = static_cast<unsigned char>(text[pos + i]);
    if ((next & 0xC0u) != 0x80u) return invalid;
    cp = (cp << 6) | (next & 0x3Fu);
  }
  return {classify_non_ascii(cp), cp, length};
}

CharClass class_at(std::string_view text, std::size_t pos) {
  return pos < text.size() ? unit_at(text, pos).cls : CharClass::newline;  // end acts as a break
}

// ---- Word pricing -----------------------------------------------------------------------------

enum class Lead : std::uint8_t { none, space, ascii_symbol };

// What a letter run looks like, gathered in one pass.
struct WordShape {
  Lead lead = Lead::none;
  bool escape_lead = false;  // "\\n", "\\t" in JSON-encoded text: the escape is one token
  std::size_t ascii_letters = 0;
  std::size_t uppercase = 0;
  bool inner_capital = false;  // an upper-case letter after the first letter
  std::size_t vowels = 0;      // a, e, i, o, u, y in either case
  std::size_t humps = 0;
  std::size_t first_hump = 0;       // letters before the first camelCase hump
  double later_humps_cost = 0;      // the humps after it, priced one by one
  std::size_t foreign_letters = 0;  // other_letter count
  double non_ascii_cost = 0;        // CJK and other letters, priced per character
};

double cjk_letter_cost(char32_t cp) { return in_range(cp, 0x3040, 0x30FF) ? 0.9 : 1.05; }

double symbol_cost(const Unit& unit) { return unit.bytes == 4 ? kAstralSymbolCost : kSymbolCost; }

// A camelCase hump after the first ("Properties" in additionalProperties).
double later_hump_cost(std::size_t letters) { return 0.75 + std::max(0.0, static_cast<double>(letters) - 6.0) / 8.0; }

double other_letter_cost(char32_t cp) {
  if (in_range(cp, 0x0370, 0x03FF) || in_range(cp, 0x1F00, 0x1FFF)) return 1.0;  // Greek
  if (cp < 0x0590) return 0.47;                                                  // Latin with diacritics, Cyrillic
  if (cp < 0x0900) return 0.8;                                                   // Hebrew, Arabic, Syriac
  return 1.0;  // Indic, Thai, ...: close to byte level
}

// Price of a run of L plain ASCII letters spoken as English, by what precedes it.
double english_word_cost(Lead lead, std::size_t letters) {
  const auto length = static_cast<double>(letters);
  double cost = 1.0;
  switch (lead) {
    case Lead::space: cost = 1.0 + std::max(0.0, length - 6.0) / 14.0; break;
    case Lead::none: cost = 1.04 + std::max(0.0, length - 4.0) / 11.0; break;
    default: cost = 1.12 + std::max(0.0, length - 6.0) / 4.5; break;
  }
  return cost + std::max(0.0, length - 16.0) / kLongWordCharsPerToken;
}

double all_caps_word_cost(Lead lead, std::size_t letters) {
  const auto length = static_cast<double>(letters);
  switch (lead) {
    case Lead::space: return 1.05 + std::max(0.0, length - 5.0) / 3.2;
    case Lead::none: return 1.0 + std::max(0.0, length - 3.0) / 3.5;
    default: return 1.1 + std::max(0.0, length - 4.0) / 3.0;
  }
}

// Base64 and hashes ("KCBEseByJ", "EHRKbxlxlc"): many short humps or hardly any vowels. Real
// camelCase identifiers have humps of three or more letters with vowels.
bool looks_random(const WordShape& word) {
  if (word.ascii_letters < 4 || word.humps < 2) return false;
  const auto letters = static_cast<double>(word.ascii_letters);
  return letters < 3.0 * static_cast<double>(word.humps) || static_cast<double>(word.vowels) < 0.2 * letters;
}

double ascii_word_cost(const WordShape& word) {
  if (looks_random(word)) return kRandomLetterCost * static_cast<double>(word.ascii_letters);
  if (word.ascii_letters > 1 && word.uppercase == word.ascii_letters) {
    return all_caps_word_cost(word.lead, word.ascii_letters);
  }
  if (word.escape_lead) {
    const std::size_t rest = word.first_hump - 1;
    return 1.0 + (rest == 0 ? 0.0 : english_word_cost(Lead::none, rest)) + word.later_humps_cost;
  }
  return english_word_cost(word.lead, word.first_hump) + word.later_humps_cost;
}

// The same ASCII word in German, French, Spanish, ...: BPE merges far fewer of its letters.
double foreign_ascii_word_cost(const WordShape& word) {
  const double lead_cost = word.lead == Lead::space ? 0.0 : 0.3;
  const double per_letter = 0.25 * static_cast<double>(word.ascii_letters);
  return std::max(ascii_word_cost(word), per_letter + lead_cost);
}

double non_english_word_cost(const WordShape& word) {
  const double lead_cost = word.lead == Lead::ascii_symbol ? 0.3 : 0.0;
  const double cost = kMixedAsciiLetterCost * static_cast<double>(word.ascii_letters) + word.non_ascii_cost + lead_cost;
  return std::max(1.0, cost);
}

// ---- Tally of one text -----------------------------------------------------------------------

// Inside base64 / hash text even a short run ("Xk", "QZP", "tbd") is random when it has a
// capital past its first letter or few vowels; plain words ("version") keep their English price.
double random_ascii_word_cost(const WordShape& word) {
  const auto letters = static_cast<double>(word.ascii_letters);
  const bool random = looks_random(word) || word.inner_capital || static_cast<double>(word.vowels) < 0.3 * letters;
  if (!random) return ascii_word_cost(word);
  const double lead_cost = word.lead == Lead::ascii_symbol ? 0.3 : 0.0;
  return std::max(ascii_word_cost(word), kRandomLetterCost * letters + lead_cost);
}

// ASCII words are priced three ways — as English, as another Latin-script language and as random
// (base64) text; the share of accented letters and of random-looking words in the whole text
// decides which price holds.
struct TextTally {
  double tokens = 0;
  double english_words = 0;
  double foreign_words = 0;
  double random_words = 0;
  std::size_t ascii_letters = 0;
  std::size_t foreign_letters = 0;
  std::size_t random_letters = 0;  // ASCII letters in words that look random

  void add_word(const WordShape& word) {
    ascii_letters += word.ascii_letters;
    foreign_letters += word.foreign_letters;
    if (word.non_ascii_cost > 0) {
      tokens += non_english_word_cost(word);
      return;
    }
    if (looks_random(word)) random_letters += word.ascii_letters;
    english_words += ascii_word_cost(word);
    foreign_words += foreign_ascii_word_cost(word);
    random_words += random_ascii_word_cost(word);
  }

  double ascii_words() const {
    const auto ascii = static_cast<double>(ascii_letters);
    if (static_cast<double>(random_letters) >= kRandomWordShare * ascii && random_letters > 0) {
      return random_words;
    }
    const auto letters = static_cast<double>(ascii_letters + foreign_letters);
    const bool foreign = static_cast<double>(foreign_letters) >= kForeignLetterShare * letters && foreign_letters > 0;
    return foreign ? foreign_words : english_words;
  }

  double total() const { return (tokens + ascii_words()) * kSafetyMargin; }
};

// ---- Scanner: one function per pre-tokenizer alternative -------------------------------------

bool is_lower(char32_t c) { return c >= 'a' && c <= 'z'; }
bool is_upper(char32_t c) { return c >= 'A' && c <= 'Z'; }

bool is_vowel(char32_t c) {
  switch (c | 0x20) {
    case 'a':
    case 'e':
    case 'i':
    case 'o':
    case 'u':
    case 'y': return true;
    default: return false;
  }
}

// A new camelCase hump starts at "aB" and at the last capital of "ABc" (HTTPServer).
bool starts_hump(char32_t previous, char32_t current, char32_t next) {
  if (!is_upper(current)) return false;
  return is_lower(previous) || (is_upper(previous) && is_lower(next));
}

// Letters from `pos`; returns the position after the run.
std::size_t scan_letters(std::string_view text, std::size_t pos, WordShape& word) {
  char32_t previous = 0;
  std::size_t hump_letters = 0;
  const auto close_hump = [&] {
    if (hump_letters != 0) ++word.humps;
    if (word.first_hump == 0) {
      word.first_hump = hump_letters;
    } else if (hump_letters != 0) {
      word.later_humps_cost += later_hump_cost(hump_letters);
    }
    hump_letters = 0;
  };
  while (pos < text.size()) {
    const Unit unit = unit_at(text, pos);
    if (!is_letter(unit.cls)) break;
    if (unit.cls == CharClass::ascii_letter) {
      const std::size_t after = pos + unit.bytes;
      const char32_t next = after < text.size() ? static_cast<unsigned char>(text[after]) : 0;
      if (hump_letters != 0 && starts_hump(previous, unit.code_point, next)) close_hump();
      ++hump_letters;
      ++word.ascii_letters;
      if (is_upper(unit.code_point)) {
        ++word.uppercase;
        word.inner_capital = word.inner_capital || word.ascii_letters > 1;
      }
      if (is_vowel(unit.code_point)) ++word.vowels;
    } else if (unit.cls == CharClass::cjk_letter) {
      word.non_ascii_cost += cjk_letter_cost(unit.code_point);
    } else {
      ++word.foreign_letters;
      word.non_ascii_cost += other_letter_cost(unit.code_point);
    }
    previous = unit.code_point;
    pos += unit.bytes;
  }
  close_hump();
  return pos;
}

bool is_json_escape_letter(char c) { return c == 'n' || c == 't' || c == 'r' || c == 'u' || c == 'b' || c == 'f'; }

// [^\r\n\L\N]?\L+ — `lead` is the unit before the letters, if any. A non-ASCII lead (CJK
// punctuation, an emoji) rarely merges with the word and is priced on its own.
std::size_t scan_word(std::string_view text, std::size_t pos, const Unit* lead, TextTally& tally) {
  WordShape word;
  if (lead != nullptr) {
    if (lead->cls == CharClass::other_symbol) {
      tally.tokens += std::max(1.0, symbol_cost(*lead));
    } else {
      word.lead = lead->code_point == ' ' ? Lead::space : Lead::ascii_symbol;
      word.escape_lead = lead->code_point == '\\' && is_json_escape_letter(text[pos + 1]);
    }
    pos += lead->bytes;
  }
  pos = scan_letters(text, pos, word);
  tally.add_word(word);
  return pos;
}

// 's|'t|'re|'ve|'m|'ll|'d, case-insensitive; returns its length or 0.
std::size_t contraction_length(std::string_view text, std::size_t pos) {
  if (text[pos] != '\'' || pos + 1 >= text.size()) return 0;
  const auto lower = [&](std::size_t i) { return i < text.size() ? static_cast<char>(text[i] | 0x20) : '\0'; };
  const char first = lower(pos + 1);
  if (first == 's' || first == 't' || first == 'm' || first == 'd') return 2;
  const char second = lower(pos + 2);
  if ((first == 'r' && second == 'e') || (first == 'v' && second == 'e') || (first == 'l' && second == 'l')) {
    return 3;
  }
  return 0;
}

// \N{1,3}
std::size_t scan_digits(std::string_view text, std::size_t pos, TextTally& tally) {
  for (int taken = 0; taken < 3 && pos < text.size() && unit_at(text, pos).cls == CharClass::digit; ++taken) {
    ++pos;
  }
  tally.tokens += 1.0;
  return pos;
}

// ' '?[^\s\L\N]+[\r\n]*
std::size_t scan_symbols(std::string_view text, std::size_t pos, TextTally& tally) {
  if (text[pos] == ' ') ++pos;
  double ascii_symbols = 0;
  char previous = '\0';
  double other_cost = 0;
  while (pos < text.size()) {
    const Unit unit = unit_at(text, pos);
    if (!is_symbol(unit.cls)) break;
    if (unit.cls == CharClass::ascii_symbol) {
      // "--------" and "========" are single tokens: a repeat costs a fraction of a symbol.
      ascii_symbols += text[pos] == previous ? kRepeatedSymbolShare : 1.0;
      previous = text[pos];
    } else {
      other_cost += symbol_cost(unit);
    }
    pos += unit.bytes;
  }
  while (pos < text.size() && (text[pos] == '\r' || text[pos] == '\n'))
    ++pos;
  const double ascii_cost = ascii_symbols == 0 ? 0.0 : 1.0 + kExtraAsciiSymbolCost * std::max(0.0, ascii_symbols - 3.0);
  tally.tokens += std::max(1.0, ascii_cost + other_cost);
  return pos;
}

// Spaces merge into one token up to ~80 of them; tabs and newlines up to ~16.
double whitespace_cost(std::string_view piece) {
  const auto spaces = static_cast<double>(std::count(piece.begin(), piece.end(), ' '));
  const double others = static_cast<double>(piece.size()) - spaces;
  return 1.0 + std::max(0.0, spaces - 80.0) / 100.0 + std::max(0.0, others - 16.0) / 16.0;
}

// \s*[\r\n]+ | \s+(?!\S) | \s+ — the run up to its last newline; else all of it but the last
// space when a word or symbol follows (that space leads the next piece).
std::size_t scan_whitespace(std::string_view text, std::size_t pos, TextTally& tally) {
  std::size_t end = pos;
  std::size_t after_last_newline = 0;
  std::size_t last_unit_start = pos;
  while (end < text.size()) {
    const Unit unit = unit_at(text, end);
    if (!is_whitespace(unit.cls)) break;
    last_unit_start = end;
    end += unit.bytes;
    if (unit.cls == CharClass::newline) after_last_newline = end;
  }
  if (after_last_newline != 0) {
    end = after_last_newline;
  } else if (end < text.size() && last_unit_start > pos) {
    end = last_unit_start;
  }
  tally.tokens += whitespace_cost(text.substr(pos, end - pos));
  return end;
}

}  // namespace

double estimate_text_tokens(std::string_view text) noexcept {
  TextTally tally;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const Unit unit = unit_at(text, pos);
    if (const std::size_t length = contraction_length(text, pos); length != 0) {
      tally.tokens += 1.0;
      pos += length;
    } else if (is_letter(unit.cls)) {
      pos = scan_word(text, pos, nullptr, tally);
    } else if (unit.cls != CharClass::newline && unit.cls != CharClass::digit &&
               is_letter(class_at(text, pos + unit.bytes))) {
      pos = scan_word(text, pos, &unit, tally);
    } else if (unit.cls == CharClass::digit) {
      pos = scan_digits(text, pos, tally);
    } else if (is_symbol(unit.cls) || (unit.code_point == ' ' && is_symbol(class_at(text, pos + 1)))) {
      pos = scan_symbols(text, pos, tally);
    } else {
      pos = scan_whitespace(text, pos, tally);
    }
  }
  return tally.total();
}

}  // namespace balancer::detail
