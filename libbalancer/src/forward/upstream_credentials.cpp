// upstream_credentials.cpp — see upstream_credentials.h.
#include "forward/upstream_credentials.h"

#include <algorithm>

namespace balancer::detail {

namespace {

// One credential token: visible ASCII only (no space, tab or control byte), not empty.
bool is_token(std::string_view value) {
  return !value.empty() && std::all_of(value.begin(), value.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// Whether any whitespace-separated word of `value` (or the whole of it) is a balancer key, in
// whatever spelling a client sent it: raw, after "Bearer", or followed by a suffix.
bool carries_balancer_key(std::string_view value, const ClientAuth& auth) {
  if (auth.is_balancer_key(value)) {
    return true;
  }
  while (!value.empty()) {
    const std::size_t start = value.find_first_not_of(" \t");
    if (start == std::string_view::npos) {
      break;
    }
    value.remove_prefix(start);
    const std::size_t end = std::min(value.find_first_of(" \t"), value.size());
    if (auth.is_balancer_key(value.substr(0, end))) {
      return true;
    }
    value.remove_prefix(end);
  }
  return false;
}

}  // namespace

PassthroughCredential passthrough_credential(const Headers& client_headers, const ClientAuth& auth) {
  PassthroughCredential credential;
  // Only a well-formed credential that is none of the balancer's keys is the client's own.
  if (auto key = find_header(client_headers, "x-api-key"); key && is_token(*key) && !carries_balancer_key(*key, auth)) {
    credential.api_key = std::string(*key);
  }
  if (auto authz = find_header(client_headers, "authorization")) {
    const Headers only_authz{{"authorization", std::string(*authz)}};
    const std::string token(presented_credential(only_authz));
    // "Bearer <token>" exactly (no other scheme, no second word), checked before any key is hashed.
    if (is_token(token) && authz->size() == token.size() + 7 && !carries_balancer_key(*authz, auth)) {
      credential.authorization = "Bearer " + token;
      credential.authorization_token = token;
    }
  }
  return credential;
}

void apply_extra_headers(Headers& headers, const std::vector<std::pair<std::string, std::string>>& extra) {
  for (const auto& header : extra) {
    std::erase_if(headers, [&](const auto& h) { return iequals(h.first, header.first); });
    headers.emplace_back(header);
  }
}

void merge_anthropic_beta(Headers& headers, std::string_view flag) {
  std::vector<std::string> flags{std::string(flag)};
  for (const auto& [name, value] : headers) {
    if (!iequals(name, "anthropic-beta")) {
      continue;
    }
    std::string_view rest = value;
    while (!rest.empty()) {
      const std::size_t comma = rest.find(',');
      std::string_view item = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t'))
        item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t'))
        item.remove_suffix(1);
      if (!item.empty() && std::find(flags.begin(), flags.end(), item) == flags.end()) {
        flags.emplace_back(item);
      }
    }
  }
  std::erase_if(headers, [](const auto& h) { return iequals(h.first, "anthropic-beta"); });
  std::string joined;
  for (const std::string& f : flags) {
    joined += (joined.empty() ? "" : ",") + f;
  }
  headers.emplace_back("anthropic-beta", std::move(joined));
}

}  // namespace balancer::detail
