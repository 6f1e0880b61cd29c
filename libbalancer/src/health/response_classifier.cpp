#include "health/response_classifier.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

namespace balancer::detail {
namespace {

using Verdict = Classification::Verdict;

Classification failure(std::string error_class, bool penalize = true) {
  return Classification{Verdict::Failure, std::move(error_class), penalize};
}

std::string_view trim_left(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  return s;
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
  const std::string_view body = trim_left(e.body);
  if (body.empty()) {
    return failure("empty_body");
  }
  if (e.content_type.find("html") != std::string_view::npos || body.front() == '<') {
    return failure("html_body");
  }
  const auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_discarded()) {
    return failure("invalid_json");
  }
  if (is_error_object(json)) {
    return failure("error_payload");
  }
  auto type = json.is_object() ? json.find("type") : json.end();
  const bool message = json.is_object() && type != json.end() && type->is_string() &&
                       type->get_ref<const std::string&>() == "message";
  if (!message && matches_any_pattern(body, settings.unhealthy_response_body_patterns)) {
    return failure("error_payload");
  }
  return {};
}

}  // namespace

bool matches_any_pattern(std::string_view text, const std::vector<std::string>& patterns) {
  for (const std::string& pattern : patterns) {
    if (pattern.empty()) {
      continue;
    }
    auto it = std::search(text.begin(), text.end(), pattern.begin(), pattern.end(), [](char a, char b) {
      return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
    });
    if (it != text.end()) {
      return true;
    }
  }
  return false;
}

Classification classify_response(const ResponseEvidence& e, const Settings& settings) {
  if (e.client_credentials && (e.status == 401 || e.status == 403)) {
    return {Verdict::PassThrough, {}, false};
  }
  if (contains(settings.unhealthy_http_codes, e.status)) {
    return failure("http_status");
  }
  if (e.status >= 400) {
    if (matches_any_pattern(e.body, settings.unhealthy_response_body_patterns)) {
      return failure("error_payload");
    }
    return {Verdict::PassThrough, {}, false};
  }
  if (e.status < 200 || e.status >= 300) {
    return {Verdict::PassThrough, {}, false};
  }
  if (e.event_stream) {
    return e.first_event == "error" ? failure("error_event") : Classification{};
  }
  return classify_success_body(e, settings);
}

Classification classify_transport_error(ErrorCode code, const Settings& settings) {
  std::string error_class;
  switch (code) {
    case ErrorCode::UpstreamConnect: error_class = "connection_error"; break;
    case ErrorCode::UpstreamTimeout: error_class = "timeout_error"; break;
    case ErrorCode::UpstreamTls: error_class = "ssl_error"; break;
    // The balancer could not even set the request up (a libcurl handle refused an option, no
    // memory): not the provider's fault, but another provider may still serve the request.
    case ErrorCode::Internal: error_class = "internal_error"; break;
    default: error_class = "protocol_error"; break;
  }
  const auto& types = settings.unhealthy_error_types;
  const bool listed = std::find(types.begin(), types.end(), error_class) != types.end();
  return failure(std::move(error_class), listed);
}

}  // namespace balancer::detail
