// unsigned_thinking.h — removes thinking blocks without a signature from a Messages request
// before it goes to an Anthropic provider. Such blocks come from OpenAI-format providers (their
// reasoning has no signature); Anthropic refuses a request that carries them back, which would
// break a conversation that fails over from an OpenAI provider to an Anthropic one.
#pragma once

#include <string>
#include <string_view>

namespace balancer::detail {

// True when `body` may contain a thinking block with an empty signature (a cheap byte scan for
// `"signature"` followed by an empty string). False means the body certainly has none.
bool may_have_unsigned_thinking(std::string_view body);

// `body` without the thinking blocks whose signature is missing or empty. Re-serialises the
// JSON only when it removed something; otherwise returns `body` unchanged (byte-exact). Pure.
std::string strip_unsigned_thinking(std::string body);

}  // namespace balancer::detail
