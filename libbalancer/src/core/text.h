// text.h — the ASCII text helpers shared across libbalancer: trimming, case folding and
// case-insensitive comparison. Locale-independent (ASCII only: bytes >= 0x80 are left alone and
// compare by value). Pure; any thread. balancer::iequals (http.h) is built on ascii_iequal.
#pragma once

#include <string>
#include <string_view>

namespace balancer::detail {

// The whitespace of HTTP header lines and SSE data: space, tab, CR, LF.
inline constexpr std::string_view kHttpWhitespace = " \t\r\n";
// Everything std::isspace accepts in the "C" locale: space, \t, \n, \v, \f, \r.
inline constexpr std::string_view kAsciiWhitespace = " \t\n\v\f\r";

// `text` without leading and trailing characters from `chars`.
std::string_view trim(std::string_view text, std::string_view chars = kHttpWhitespace) noexcept;
// `text` without leading characters from `chars`.
std::string_view trim_left(std::string_view text, std::string_view chars = kHttpWhitespace) noexcept;

// 'A'..'Z' → 'a'..'z'; every other byte unchanged.
constexpr char ascii_lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
// Equal ignoring ASCII case.
constexpr bool ascii_iequal(char a, char b) noexcept { return ascii_lower(a) == ascii_lower(b); }

// A copy of `text` with ASCII letters lower-cased.
std::string to_lower(std::string_view text);
// True when `text` contains `part`, ignoring ASCII case (an empty `part` is contained).
bool icontains(std::string_view text, std::string_view part) noexcept;

}  // namespace balancer::detail
