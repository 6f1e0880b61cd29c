// upstream_credentials.cpp — see upstream_credentials.h.
#include "forward/upstream_credentials.h"

#include <algorithm>

namespace balancer::detail {

PassthroughCredential passthrough_credential(const Headers& client_headers, const ClientAuth& auth) {
  PassthroughCredential credential;
  if (auto key = find_header(client_headers, "x-api-key"); key && !auth.is_balancer_key(*key)) {
    credential.api_key = std::string(*key);
  }
  if (auto authz = find_header(client_headers, "authorization")) {
    const Headers only_authz{{"authorization", std::string(*authz)}};
    const std::string token(presented_credential(only_authz));
    if (!auth.is_balancer_key(token)) {
      credential.authorization = std::string(*authz);
      if (!token.empty()) {
        credential.authorization_token = token;
      }
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
