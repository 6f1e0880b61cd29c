// retry_after.cpp — see retry_after.h.
#include "core/retry_after.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <ctime>
#include <string>

namespace balancer::detail {
namespace {

constexpr std::int64_t kYear = 365LL * 24 * 3600;

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return text;
}

// The HTTP date as seconds since the epoch (UTC), if `text` is one in any of the three forms.
std::optional<std::time_t> parse_http_date(std::string_view text) {
  const std::string copy(text);  // strptime wants a NUL-terminated string
  // IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT",
  // asctime "Sun Nov  6 08:49:37 1994". strptime reads names in the C locale the process keeps.
  for (const char* format : {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"}) {
    std::tm tm{};
    const char* end = ::strptime(copy.c_str(), format, &tm);
    if (end != nullptr && *end == '\0') {
      return ::timegm(&tm);
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value, WallTime now) {
  const std::string_view text = trim(value);
  if (text.empty()) {
    return std::nullopt;
  }
  if (text.front() >= '0' && text.front() <= '9') {
    std::uint64_t seconds = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (end != text.data() + text.size()) {
      return std::nullopt;
    }
    if (ec == std::errc::result_out_of_range || seconds > static_cast<std::uint64_t>(kYear)) {
      return std::chrono::seconds(kYear);
    }
    return std::chrono::seconds(static_cast<std::int64_t>(seconds));
  }
  const auto date = parse_http_date(text);
  if (!date) {
    return std::nullopt;
  }
  const auto at = std::chrono::system_clock::from_time_t(*date);
  if (at <= now) {
    return std::chrono::seconds(0);
  }
  const auto left = std::chrono::ceil<std::chrono::seconds>(at - now);
  return std::chrono::seconds(std::min<std::int64_t>(left.count(), kYear));
}

}  // namespace balancer::detail
