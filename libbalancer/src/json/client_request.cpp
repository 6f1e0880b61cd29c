#include "json/client_request.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "json/json_splice.h"
#include "json/json_validate.h"

namespace balancer {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

// The decoded value of a JSON string token (quotes included) from a validated text.
std::string decode_string(std::string_view token) {
  const std::string_view inner = token.substr(1, token.size() - 2);
  if (inner.find('\\') == std::string_view::npos) {
    return std::string(inner);  // already valid UTF-8, nothing to unescape
  }
  auto parsed = nlohmann::json::parse(token, nullptr, /*allow_exceptions=*/false);
  return parsed.is_string() ? parsed.get<std::string>() : std::string();
}

std::string_view value_of(std::string_view json, const detail::MemberSpan& member) {
  return json.substr(member.value_begin, member.value_end - member.value_begin);
}

}  // namespace

// Validates the whole body with the allocation-free validator, then reads only the top-level
// members it needs; the large values (messages, system, tools) are never parsed. For duplicate
// keys the semantics are those of a single streaming pass: the last string `model`, `provider`
// and `metadata.user_id` and the last boolean `stream` win.
Result<MessageRequestInfo> inspect_request_body(std::string_view body) {
  if (const auto error = detail::diagnose_json(body)) {
    return make_error(ErrorCode::InvalidRequest,
                      "request body is not valid JSON (byte " + std::to_string(error->offset) + "): " + error->reason);
  }
  std::string_view json = body;
  if (json.substr(0, kBom.size()) == kBom) {
    json.remove_prefix(kBom.size());  // nlohmann skips a leading BOM; so does the validator
  }
  const std::size_t first = json.find_first_not_of(" \t\n\r");
  if (first == std::string_view::npos || json[first] != '{') {
    return make_error(ErrorCode::InvalidRequest, "request body must be a JSON object");
  }
  auto members = detail::scan_top_level_members(json);
  if (!members) {
    return tl::unexpected(members.error());
  }

  MessageRequestInfo info;
  bool model_seen = false;
  bool model_is_string = false;
  bool provider_bad = false;
  for (const detail::MemberSpan& member : *members) {
    const std::string_view value = value_of(json, member);
    const char kind = value.front();  // '"', '{', '[', 't', 'f', 'n' or a number
    if (member.key == "model") {
      if (kind == '"') {
        info.model = decode_string(value);
        model_is_string = true;
      } else {
        model_seen = true;
      }
    } else if (member.key == "provider") {
      if (kind == '"') {
        info.pinned_provider = decode_string(value);
      } else if (kind != 'n') {
        provider_bad = true;  // null means absent
      }
    } else if (member.key == "stream") {
      if (kind == 't' || kind == 'f') {
        info.stream = kind == 't';
      }
    } else if (member.key == "metadata" && kind == '{') {
      auto fields = detail::scan_top_level_members(value);
      if (!fields) {
        return tl::unexpected(fields.error());
      }
      for (const detail::MemberSpan& field : *fields) {
        const std::string_view field_value = value_of(value, field);
        if (field.key == "user_id" && field_value.front() == '"') {
          info.user_id = decode_string(field_value);
        }
      }
    }
  }
  if (!model_is_string) {
    return make_error(ErrorCode::InvalidRequest, model_seen ? "model: must be a string" : "model: field required");
  }
  if (provider_bad) {
    return make_error(ErrorCode::InvalidRequest, "provider: must be a string");
  }
  // Model names are short; a long one would only be echoed into error bodies and log lines.
  constexpr std::size_t kMaxModelName = 256;
  if (info.model.size() > kMaxModelName || info.pinned_provider.value_or("").size() > kMaxModelName) {
    return make_error(ErrorCode::InvalidRequest,
                      fmt::format("{}: longer than {} bytes", info.model.size() > kMaxModelName ? "model" : "provider",
                                  kMaxModelName));
  }
  return info;
}

}  // namespace balancer
