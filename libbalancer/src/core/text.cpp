#include "core/text.h"

#include <algorithm>

namespace balancer::detail {

std::string_view trim(std::string_view text, std::string_view chars) noexcept {
  text = trim_left(text, chars);
  const auto last = text.find_last_not_of(chars);
  return text.substr(0, last == std::string_view::npos ? 0 : last + 1);
}

std::string_view trim_left(std::string_view text, std::string_view chars) noexcept {
  const auto first = text.find_first_not_of(chars);
  return text.substr(first == std::string_view::npos ? text.size() : first);
}

std::string to_lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), ascii_lower);
  return out;
}

bool icontains(std::string_view text, std::string_view part) noexcept {
  return part.empty() || std::search(text.begin(), text.end(), part.begin(), part.end(), ascii_iequal) != text.end();
}

}  // namespace balancer::detail
