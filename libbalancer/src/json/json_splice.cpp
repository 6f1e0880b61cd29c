#include "json/json_splice.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace balancer::detail {
namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::size_t skip_ws(std::string_view s, std::size_t pos) {
  while (pos < s.size() && is_ws(s[pos])) {
    ++pos;
  }
  return pos;
}

// `pos` is at an opening quote; returns one past the closing quote, or npos.
std::size_t end_of_string(std::string_view s, std::size_t pos) {
  for (std::size_t i = pos + 1; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

// `pos` is at the first byte of a value; returns one past its last byte, or npos.
std::size_t end_of_value(std::string_view s, std::size_t pos) {
  if (pos >= s.size()) {
    return std::string_view::npos;
  }
  if (s[pos] == '"') {
    return end_of_string(s, pos);
  }
  if (s[pos] == '{' || s[pos] == '[') {
    int depth = 0;
    for (std::size_t i = pos; i < s.size(); ++i) {
      const char c = s[i];
      if (c == '"') {
        i = end_of_string(s, i);
        if (i == std::string_view::npos) {
          return i;
        }
        --i;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) {
          return i + 1;
        }
      }
    }
    return std::string_view::npos;
  }
  std::size_t i = pos;
  while (i < s.size() && !is_ws(s[i]) && s[i] != ',' && s[i] != '}' && s[i] != ']') {
    ++i;
  }
  return i == pos ? std::string_view::npos : i;
}

std::string unescape_key(std::string_view quoted) {
  if (quoted.find('\\') == std::string_view::npos) {
    return std::string(quoted.substr(1, quoted.size() - 2));
  }
  auto parsed = nlohmann::json::parse(quoted, nullptr, false);
  return parsed.is_string() ? parsed.get<std::string>() : std::string();
}

tl::unexpected<Error> malformed(std::size_t pos) {
  return make_error(ErrorCode::InvalidRequest, "malformed JSON object near byte " + std::to_string(pos));
}

}  // namespace

Result<std::vector<MemberSpan>> scan_top_level_members(std::string_view json) {
  std::vector<MemberSpan> members;
  const std::size_t bom = json.substr(0, 3) == "\xEF\xBB\xBF" ? 3 : 0;  // accepted, as by the validator
  std::size_t pos = skip_ws(json, bom);
  if (pos >= json.size() || json[pos] != '{') {
    return malformed(pos);
  }
  pos = skip_ws(json, pos + 1);
  if (pos < json.size() && json[pos] == '}') {
    return members;
  }
  for (;;) {
    if (pos >= json.size() || json[pos] != '"') {
      return malformed(pos);
    }
    MemberSpan member;
    member.key_begin = pos;
    const std::size_t key_end = end_of_string(json, pos);
    if (key_end == std::string_view::npos) {
      return malformed(pos);
    }
    member.key = unescape_key(json.substr(pos, key_end - pos));
    pos = skip_ws(json, key_end);
    if (pos >= json.size() || json[pos] != ':') {
      return malformed(pos);
    }
    member.value_begin = skip_ws(json, pos + 1);
    member.value_end = end_of_value(json, member.value_begin);
    if (member.value_end == std::string_view::npos) {
      return malformed(member.value_begin);
    }
    members.push_back(std::move(member));
    pos = skip_ws(json, members.back().value_end);
    if (pos < json.size() && json[pos] == ',') {
      pos = skip_ws(json, pos + 1);
      continue;
    }
    if (pos < json.size() && json[pos] == '}') {
      return members;
    }
    return malformed(pos);
  }
}

Result<std::string> splice_request_body(std::string_view body, const std::optional<std::string>& new_model,
                                        bool remove_provider) {
  auto members = scan_top_level_members(body);
  if (!members) {
    return tl::unexpected(members.error());
  }
  // Byte ranges to replace, in ascending order: [begin, end) -> replacement.
  struct Edit {
    std::size_t begin;
    std::size_t end;
    std::string replacement;
  };
  std::vector<Edit> edits;
  const std::string model_json =
      new_model ? nlohmann::json(*new_model).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) : "";
  const auto& list = *members;
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
