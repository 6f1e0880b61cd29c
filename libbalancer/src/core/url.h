// url.h — showing a configured URL without the credentials it may carry (userinfo, query,
// fragment), for reports and error messages. Pure; any thread.
#pragma once

#include <string>
#include <string_view>

namespace balancer::detail {

// `url` without "user:password@" in its authority and without "?query" / "#fragment":
// "https://u:p@host:8443/v1?key=k" → "https://host:8443/v1". Text that is not an absolute
// URL is cut at the first '?' or '#' only.
std::string url_without_credentials(std::string_view url);

}  // namespace balancer::detail
