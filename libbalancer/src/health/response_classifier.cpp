#include "health/response_classifier.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/text.h"

namespace balancer::detail {
namespace {

using Verdict = Classification::Verdict;

Classification failure(FailureClass error_class, bool penalize = true) {
  return Classification{Verdict::Failure, error_class, penalize};
}

bool contains(const std::vector<int>& list, int value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

bool is_error_object(const nlohmann::json& json) {
  if (!json.is_object()) {
    return false;
  }
  auto type = json.find("type");
  if (type != json.end() && type->is_string() && type->get_ref<const std::string&>() == "error") {
    return true;
  }
  auto error = json.find("error");
  return error != json.end() && (error->is_object() || error->is_string());
}

Classification classify_success_body(const ResponseEvidence& e, const Settings& settings) {
  const std::string_view body = trim_left(e.body, kAsciiWhitespace);
  if (body.empty()) {
    return failure(FailureClass::EmptyBody);
  }
  if (e.content_type.find("html") != std::string_view::npos || body.front() == '<') {
    return failure(FailureClass::HtmlBody);
  }
  const auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_discarded()) {
    return failure(FailureClass::InvalidJson);
  }
  if (is_error_object(json)) {
    return failure(FailureClass::ErrorPayload);
  }
  auto type = json.is_object() ? json.find("type") : json.end();
  const bool message =
      json.is_object() && type != json.end() && type->is_string() && type->get_ref<const std::string&>() == "message";
  if (!message && matches_any_pattern(body, settings.unhealthy_response_body_patterns)) {
    return failure(FailureClass::ErrorPayload);
  }
  return {};
}

}  // namespace

bool matches_any_pattern(std::string_view text, const std::vector<std::string>& patterns) {
  for (const std::string& pattern : patterns) {
    if (pattern.empty()) {
      continue;
    }
    if (icontains(text, pattern)) {
      return true;
    }
  }
  return false;
}

Classification classify_response(const ResponseEvidence& e, const Settings& settings) {
  if (e.client_credentials && (e.status == 401 || e.status == 403)) {
    return {Verdict::PassThrough, FailureClass::None, false};
  }
  if (contains(settings.unhealthy_http_codes, e.status)) {
    return failure(FailureClass::HttpStatus);
  }
  if (e.status >= 400) {
    if (matches_any_pattern(e.body, settings.unhealthy_response_body_patterns)) {
      return failure(FailureClass::ErrorPayload);
    }
    return {Verdict::PassThrough, FailureClass::None, false};
  }
  if (e.status < 200 || e.status >= 300) {
    return {Verdict::PassThrough, FailureClass::None, false};
  }
  if (e.event_stream) {
    return e.first_event == "error" ? failure(FailureClass::ErrorEvent) : Classification{};
  }
  return classify_success_body(e, settings);
}

Classification classify_transport_error(ErrorCode code, const Settings& settings) {
  FailureClass error_class = FailureClass::ProtocolError;
  switch (code) {
    case ErrorCode::UpstreamConnect: error_class = FailureClass::ConnectionError; break;
    case ErrorCode::UpstreamTimeout: error_class = FailureClass::TimeoutError; break;
    case ErrorCode::UpstreamTls: error_class = FailureClass::SslError; break;
    // The balancer could not even set the request up (a libcurl handle refused an option, no
    // memory): not the provider's fault, but another provider may still serve the request.
    case ErrorCode::Internal: error_class = FailureClass::InternalError; break;
    case ErrorCode::Cancelled: return failure(FailureClass::Cancelled, false);  // the client left
    default: error_class = FailureClass::ProtocolError; break;
  }
  const auto& types = settings.unhealthy_error_types;
  const bool listed = std::find(types.begin(), types.end(), to_string(error_class)) != types.end();
  // The balancer's own set-up failure never counts against a provider, whatever is listed.
  return failure(error_class, listed && error_class != FailureClass::InternalError);
}

}  // namespace balancer::detail
