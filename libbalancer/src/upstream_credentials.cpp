// upstream_credentials.cpp — see upstream_credentials.h.
#include "upstream_credentials.h"

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

}  // namespace balancer::detail
