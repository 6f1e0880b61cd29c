// json_splice.h — byte-level edits of a JSON request body that keep every other byte intact:
// replacing the top-level "model" value and removing the top-level "provider" member.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <balancer/error.h>

namespace balancer::detail {

// Byte offsets of one top-level member of a JSON object.
struct MemberSpan {
  std::string key;              // unescaped
  std::size_t key_begin = 0;    // offset of the key's opening quote
  std::size_t value_begin = 0;  // first byte of the value
  std::size_t value_end = 0;    // one past the last byte of the value
};

// Scans the top-level members of a JSON object without building a DOM. The input should be
// valid JSON (it is validated first by the caller); malformed input gives InvalidRequest.
Result<std::vector<MemberSpan>> scan_top_level_members(std::string_view json);

// Returns `body` with every top-level "model" value replaced by `new_model` (JSON-encoded, any
// invalid UTF-8 in it replaced by U+FFFD) when given, and every top-level "provider" member
// removed when `remove_provider`. All other bytes are unchanged. Pure; never throws.
Result<std::string> splice_request_body(std::string_view body, const std::optional<std::string>& new_model,
                                        bool remove_provider);

}  // namespace balancer::detail
