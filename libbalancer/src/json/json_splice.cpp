#include "json/json_splice.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace balancer::detail {

Result<std::vector<MemberSpan>> scan_top_level_members(std::string_view json) {
  std::vector<MemberSpan> members;
  if (const auto error = diagnose_json(json, members)) {
    return make_error(ErrorCode::InvalidRequest, "malformed JSON object near byte " + std::to_string(error->offset));
  }
  const std::size_t first = json.find_first_not_of(" \t\n\r\xEF\xBB\xBF");
  if (first == std::string_view::npos || json[first] != '{') {
    return make_error(ErrorCode::InvalidRequest, "malformed JSON object near byte " + std::to_string(first));
  }
  return members;
}

Result<std::string> splice_request_body(std::string_view body, const std::optional<std::string>& new_model,
                                        bool remove_provider) {
  auto members = scan_top_level_members(body);
  if (!members) {
    return tl::unexpected(members.error());
  }
  return splice_request_body(body, *members, new_model, remove_provider);
}

std::string splice_request_body(std::string_view body, const std::vector<MemberSpan>& members,
                                const std::optional<std::string>& new_model, bool remove_provider) {
  // Byte ranges to replace, in ascending order: [begin, end) -> replacement.
  struct Edit {
    std::size_t begin;
    std::size_t end;
    std::string replacement;
  };
  std::vector<Edit> edits;
  const std::string model_json =
      new_model ? nlohmann::json(*new_model).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) : "";
  const auto& list = members;
  auto removed = [&](std::size_t i) { return remove_provider && list[i].key == "provider"; };
  for (std::size_t i = 0; i < list.size(); ++i) {
    const MemberSpan& m = list[i];
    if (new_model && m.key == "model") {
      // A configured name may hold invalid UTF-8 (YAML passes it through): replaced, never thrown.
      edits.push_back({m.value_begin, m.value_end, model_json});
    } else if (removed(i)) {
      std::size_t next = i + 1;
      while (next < list.size() && removed(next)) {
        ++next;
      }
      if (next < list.size()) {
        // Remove the member and its trailing comma: `"provider":"x",` up to the next kept key.
        edits.push_back({m.key_begin, list[next].key_begin, ""});
        i = next - 1;
        continue;
      }
      // Only removed members follow: cut from the end of the last kept value (its comma
      // included) to the end of the last member, or the whole run when nothing is kept.
      const std::size_t begin = i > 0 ? list[i - 1].value_end : m.key_begin;
      edits.push_back({begin, list.back().value_end, ""});
      break;
    }
  }
  std::sort(edits.begin(), edits.end(), [](const Edit& a, const Edit& b) { return a.begin < b.begin; });
  std::string out;
  out.reserve(body.size() + 64);
  std::size_t cursor = 0;
  for (const Edit& e : edits) {
    if (e.begin < cursor) {
      continue;  // defensive: edits never overlap
    }
    out.append(body.substr(cursor, e.begin - cursor));
    out.append(e.replacement);
    cursor = e.end;
  }
  out.append(body.substr(cursor));
  return out;
}

}  // namespace balancer::detail
