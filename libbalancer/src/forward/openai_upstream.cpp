// openai_upstream.cpp — request and buffered-response side of OpenAI-compatible providers
// (see openai_upstream.h).
#include "forward/openai_upstream.h"

#include <nlohmann/json.hpp>

#include <balancer/converter.h>

#include "forward/upstream_credentials.h"
#include "json/json_dump.h"

namespace balancer::detail {
namespace {

ConverterOptions converter_options(const ProviderConfig& provider) {
  ConverterOptions options;
  options.max_completion_tokens = provider.max_completion_tokens;
  options.max_output_tokens = provider.max_output_tokens;
  options.send_reasoning_content = provider.send_reasoning_content;
  return options;
}

// The Bearer token for the upstream: the configured value, or with passthrough the client's own
// credential (x-api-key, else the Authorization token) unless it is one of the balancer's keys.
std::string bearer_token(const ProviderConfig& provider, const Headers& client_headers, const ClientAuth& auth) {
  if (!provider.passthrough()) {
    return provider.auth_value;
  }
  const PassthroughCredential own = passthrough_credential(client_headers, auth);
  return own.api_key.value_or(own.authorization_token.value_or(""));
}

}  // namespace

Result<HttpRequest> openai_upstream_request(const ProviderConfig& provider, const nlohmann::json& request,
                                            const std::string& upstream_model, const Headers& client_headers,
                                            const ClientAuth& auth, std::vector<std::string>& notes) {
  if (!request.is_object()) {
    return make_error(ErrorCode::InvalidRequest, "request body must be a JSON object");
  }
  const Converter converter(converter_options(provider));
  auto converted = converter.anthropic_to_openai_request(request, upstream_model);
  if (!converted) {
    return tl::unexpected(converted.error());
  }
  notes.insert(notes.end(), converted->notes.begin(), converted->notes.end());
  HttpRequest upstream;
  upstream.url = provider.base_url + "/chat/completions";
  upstream.body = detail::dump_json(converted->body);
  upstream.headers.emplace_back("content-type", "application/json");
  if (converted->body.value("stream", false)) {
    upstream.headers.emplace_back("accept", "text/event-stream");
  }
  if (const std::string token = bearer_token(provider, client_headers, auth); !token.empty()) {
    upstream.headers.emplace_back("authorization", "Bearer " + token);
  }
  apply_extra_headers(upstream.headers, provider.headers);
  return upstream;
}

Result<nlohmann::json> anthropic_message_from_openai(std::string_view body, std::string_view client_model,
                                                     const ProviderConfig& provider) {
  const auto response = nlohmann::json::parse(body, nullptr, false);
  if (response.is_discarded()) {
    return make_error(ErrorCode::UpstreamProtocol, "the upstream's completion is not valid JSON");
  }
  const Converter converter(converter_options(provider));
  auto message = converter.openai_to_anthropic_response(response, client_model);
  if (!message) {
    return make_error(ErrorCode::UpstreamProtocol, message.error().message);
  }
  return std::move(*message);
}

std::string anthropic_error_from_openai(int status, std::string_view body) {
  return Converter::openai_to_anthropic_error(status, body)
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace balancer::detail
