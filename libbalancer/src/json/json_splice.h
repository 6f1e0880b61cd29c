// json_splice.h — byte-level edits of a JSON request body that keep every other byte intact:
// replacing the top-level "model" value and removing the top-level "provider" member.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <balancer/error.h>

#include "json/json_validate.h"

namespace balancer::detail {

// The top-level members of a JSON object without building a DOM (one validating pass, see
// diagnose_json). Invalid JSON or a text that is not an object gives InvalidRequest.
Result<std::vector<MemberSpan>> scan_top_level_members(std::string_view json);

// Returns `body` with every top-level "model" value replaced by `new_model` (JSON-encoded, any
// invalid UTF-8 in it replaced by U+FFFD) when given, and every top-level "provider" member
// removed when `remove_provider`. All other bytes are unchanged. Pure; never throws.
Result<std::string> splice_request_body(std::string_view body, const std::optional<std::string>& new_model,
                                        bool remove_provider);

// As above over the members `body` was already inspected into (diagnose_json): no second scan.
std::string splice_request_body(std::string_view body, const std::vector<MemberSpan>& members,
                                const std::optional<std::string>& new_model, bool remove_provider);

}  // namespace balancer::detail
