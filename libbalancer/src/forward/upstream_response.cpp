// upstream_response.cpp — see upstream_response.h.
#include "forward/upstream_response.h"

#include <nlohmann/json.hpp>

namespace balancer::detail {

bool is_event_stream(const Headers& headers) {
  auto type = find_header(headers, "content-type");
  return type && type->size() >= 17 && iequals(type->substr(0, 17), "text/event-stream");
}

std::string error_type_of(std::string_view body) {
  const auto json = nlohmann::json::parse(body, nullptr, false);
  if (!json.is_object()) {
    return {};
  }
  const auto error = json.find("error");
  if (error == json.end() || !error->is_object()) {
    return {};
  }
  const auto type = error->find("type");
  return type != error->end() && type->is_string() ? type->get<std::string>() : std::string();
}

std::string summarize_error_body(std::string_view body) {
  auto json = nlohmann::json::parse(body, nullptr, false);
  if (json.is_object()) {
    auto err = json.find("error");
    if (err != json.end() && err->is_object()) {
      // Only string fields: Azure/LiteLLM-style bodies carry nulls.
      auto text = [&](const char* key) {
        auto it = err->find(key);
        return it != err->end() && it->is_string() ? it->get<std::string>() : std::string();
      };
      std::string out = text("type");
      const std::string message = text("message");
      if (!message.empty()) {
        out += (out.empty() ? "" : ": ") + message.substr(0, 200);
      }
      return out;
    }
  }
  return {};
}

Result<std::string> read_body(UpstreamCall& call, std::size_t limit) {
  std::string body;
  std::string chunk;
  for (;;) {
    auto more = call.read(chunk);
    if (!more) {
      return tl::unexpected(more.error());
    }
    if (!*more) {
      return body;
    }
    if (body.size() + chunk.size() > limit) {
      return make_error(ErrorCode::UpstreamProtocol, "response body larger than the limit");
    }
    body += chunk;
  }
}

}  // namespace balancer::detail
