// url.cpp — see url.h.
#include "core/url.h"

namespace balancer::detail {

std::string url_without_credentials(std::string_view url) {
  url = url.substr(0, url.find_first_of("?#"));
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return std::string(url);
  }
  const std::size_t authority = scheme_end + 3;
  const std::size_t authority_end = std::min(url.find('/', authority), url.size());
  const auto at = url.substr(authority, authority_end - authority).rfind('@');
  if (at == std::string_view::npos) {
    return std::string(url);
  }
  return std::string(url.substr(0, authority)) + std::string(url.substr(authority + at + 1));
}

}  // namespace balancer::detail
