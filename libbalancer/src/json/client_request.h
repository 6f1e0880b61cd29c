// client_request.h — what the balancer reads from a client's Messages API request body.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <balancer/error.h>

#include "json/json_validate.h"

namespace balancer {

// The fields of a /v1/messages (or count_tokens) body that routing needs. Value type.
struct MessageRequestInfo {
  std::string model;
  std::optional<std::string> pinned_provider;  // the balancer-only "provider" field
  bool stream = false;
  std::string user_id;                      // metadata.user_id, empty when absent (conversation key)
  std::vector<detail::MemberSpan> members;  // the body's top-level members (splicing reads them)
};

// Validates that `body` is one JSON object (a strict byte-level validator) and extracts the
// routing fields from the top-level members, without building a DOM of the whole body. Errors
// (ErrorCode::InvalidRequest): invalid JSON, not an object, missing or non-string `model`, non-string `provider`. Pure;
// safe from any thread.
Result<MessageRequestInfo> inspect_request_body(std::string_view body);

}  // namespace balancer
