// converter.cpp — the public face of the Anthropic ⇄ OpenAI Converter (converter.h). The
// conversions live in convert_*.cpp; this file turns their failures into Errors so that no
// exception leaves libbalancer.
#include <balancer/converter.h>

#include <exception>
#include <utility>

#include "convert/convert_common.h"

namespace balancer {
namespace {

// Runs `convert`; a ConvertFailure or an unexpected JSON shape becomes Error(`code`), with
// `prefix` naming the document that was wrong.
template <class T, class F>
Result<T> guarded(ErrorCode code, std::string_view prefix, F&& convert) {
  try {
    return convert();
  } catch (const detail::ConvertFailure& failure) {
    return make_error(code, std::string(prefix) + failure.message);
  } catch (const nlohmann::json::exception& e) {
    return make_error(code, std::string(prefix) + "unexpected JSON shape: " + e.what());
  } catch (const std::exception& e) {
    return make_error(ErrorCode::Internal, std::string(prefix) + e.what());
  }
}

constexpr std::string_view kUpstreamPrefix = "OpenAI response: ";

}  // namespace

Converter::Converter(ConverterOptions options) : options_(options) {}

Result<Conversion> Converter::anthropic_to_openai_request(const nlohmann::json& request,
                                                          std::string_view upstream_model) const {
  return guarded<Conversion>(ErrorCode::InvalidRequest, "", [&] {
    detail::Notes notes;
    nlohmann::json body = detail::anthropic_request_to_openai(request, upstream_model, options_, notes);
    return Conversion{std::move(body), notes.take()};
  });
}

Result<nlohmann::json> Converter::openai_to_anthropic_response(const nlohmann::json& response,
                                                               std::string_view client_model) const {
  return guarded<nlohmann::json>(ErrorCode::UpstreamProtocol, kUpstreamPrefix,
                                 [&] { return detail::openai_response_to_anthropic(response, client_model); });
}

nlohmann::json Converter::openai_to_anthropic_error(int status, std::string_view body) {
  try {
    return detail::openai_error_to_anthropic(status, body);
  } catch (const std::exception&) {  // out of memory; keep the promise of an error body
    return {{"type", "error"}, {"error", {{"type", "api_error"}, {"message", "upstream error"}}}};
  }
}

Result<Conversion> Converter::openai_to_anthropic_request(const nlohmann::json& request) const {
  return guarded<Conversion>(ErrorCode::InvalidRequest, "", [&] {
    detail::Notes notes;
    nlohmann::json body = detail::openai_request_to_anthropic(request, notes);
    return Conversion{std::move(body), notes.take()};
  });
}

Result<nlohmann::json> Converter::anthropic_to_openai_response(const nlohmann::json& message) const {
  return guarded<nlohmann::json>(ErrorCode::UpstreamProtocol,
                                 "Anthropic response: ", [&] { return detail::anthropic_response_to_openai(message); });
}

nlohmann::json Converter::anthropic_to_openai_error(int status, std::string_view body) {
  try {
    return detail::anthropic_error_to_openai(status, body);
  } catch (const std::exception&) {  // out of memory; keep the promise of an error body
    return {{"error", {{"message", "upstream error"}, {"type", "api_error"}, {"param", nullptr}, {"code", nullptr}}}};
  }
}

}  // namespace balancer
