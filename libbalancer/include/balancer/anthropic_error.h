// anthropic_error.h — the Anthropic error shapes the balancer itself produces (spec §3).
#pragma once

#include <string>
#include <string_view>

#include <balancer/error.h>

namespace balancer {

// `{"type":"error","error":{"type":"<type>","message":"<message>"}}`. Pure.
std::string anthropic_error_body(std::string_view type, std::string_view message);

// The same object as one SSE event: `event: error\ndata: {...}\n\n`. Pure.
std::string anthropic_error_event(std::string_view type, std::string_view message);

// HTTP status and Anthropic error type for an error the balancer answers itself.
struct ErrorReply {
  int status = 500;
  std::string_view type = "api_error";
};
ErrorReply error_reply_for(ErrorCode code);

}  // namespace balancer
