// anthropic_upstream.cpp — see anthropic_upstream.h.
#include "forward/anthropic_upstream.h"

#include <balancer/oauth_client.h>

#include "forward/header_rules.h"
#include "forward/unsigned_thinking.h"
#include "forward/upstream_credentials.h"
#include "json/json_splice.h"

namespace balancer::detail {

Headers anthropic_upstream_headers(const Headers& client_headers, const ProviderConfig& provider,
                                   const ClientAuth& auth, std::string_view oauth_token) {
  Headers headers = forwardable_request_headers(client_headers);
  if (provider.passthrough()) {
    const PassthroughCredential own = passthrough_credential(client_headers, auth);
    if (own.api_key) {
      headers.emplace_back("x-api-key", *own.api_key);
    }
    if (own.authorization) {
      headers.emplace_back("authorization", *own.authorization);
    }
  } else if (provider.auth_type == AuthType::ApiKey) {
    headers.emplace_back("x-api-key", provider.auth_value);
  } else if (provider.auth_type == AuthType::AuthToken) {
    headers.emplace_back("authorization", "Bearer " + provider.auth_value);
  } else if (provider.auth_type == AuthType::OAuth) {
    headers.emplace_back("authorization", "Bearer " + std::string(oauth_token));
  }
  apply_extra_headers(headers, provider.headers);
  if (provider.auth_type == AuthType::OAuth && !provider.passthrough()) {
    merge_anthropic_beta(headers, kOAuthBeta);
  }
  if (!find_header(headers, "content-type")) {
    headers.emplace_back("content-type", "application/json");
  }
  if (!find_header(headers, "anthropic-version")) {
    headers.emplace_back("anthropic-version", "2023-06-01");
  }
  return headers;
}

HttpRequest anthropic_upstream_request(const Candidate& candidate, const ForwardRequest& request,
                                       const std::vector<MemberSpan>& members, bool remove_provider,
                                       const ClientAuth& auth, std::string_view oauth_token) {
  const ProviderConfig& provider = *candidate.provider;
  std::string body = splice_request_body(
      request.body, members,
      candidate.rewrite_model ? std::optional<std::string>(candidate.upstream_model) : std::nullopt, remove_provider);
  HttpRequest upstream;
  upstream.url = provider.base_url + request.path + (request.query.empty() ? "" : "?" + request.query);
  upstream.headers = anthropic_upstream_headers(request.headers, provider, auth, oauth_token);
  // Thinking an OpenAI-format provider produced has no signature; Anthropic refuses it back.
  upstream.body = strip_unsigned_thinking(std::move(body));
  return upstream;
}

}  // namespace balancer::detail
