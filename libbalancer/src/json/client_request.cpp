#include "json/client_request.h"

#include <fmt/format.h>

#include "json/json_splice.h"
#include "json/json_validate.h"

namespace balancer {
namespace {

std::string_view value_of(std::string_view json, const detail::MemberSpan& member) {
  return json.substr(member.value_begin, member.value_end - member.value_begin);
}

}  // namespace

// Validates the whole body and records its top-level members in one pass, then reads only the
// members it needs; the large values (messages, system, tools) are never parsed. For duplicate
// keys the semantics are those of a single streaming pass: the last string `model`, `provider`
// and `metadata.user_id` and the last boolean `stream` win.
Result<MessageRequestInfo> inspect_request_body(std::string_view body) {
  MessageRequestInfo info;
  if (const auto error = detail::diagnose_json(body, info.members)) {
    return make_error(ErrorCode::InvalidRequest,
                      "request body is not valid JSON (byte " + std::to_string(error->offset) + "): " + error->reason);
  }
  std::string_view json = body;
  if (json.starts_with("\xEF\xBB\xBF")) {
    json.remove_prefix(3);  // nlohmann skips a leading BOM; so does the validator
  }
  const std::size_t first = json.find_first_not_of(" \t\n\r");
  if (first == std::string_view::npos || json[first] != '{') {
    return make_error(ErrorCode::InvalidRequest, "request body must be a JSON object");
  }

  bool model_seen = false;
  bool model_is_string = false;
  bool provider_bad = false;
  for (const detail::MemberSpan& member : info.members) {
    const std::string_view value = value_of(body, member);
    const char kind = value.front();  // '"', '{', '[', 't', 'f', 'n' or a number
    if (member.key == "model") {
      if (kind == '"') {
        info.model = detail::decode_json_string(value);
        model_is_string = true;
      } else {
        model_seen = true;
      }
    } else if (member.key == "provider") {
      if (kind == '"') {
        info.pinned_provider = detail::decode_json_string(value);
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
          info.user_id = detail::decode_json_string(field_value);
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
