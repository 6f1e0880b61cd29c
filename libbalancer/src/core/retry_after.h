// retry_after.h — the one parser of the Retry-After header (RFC 9110 §10.2.3), for the
// forwarder's rate limits and the OAuth token endpoint.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include <balancer/clock.h>

namespace balancer::detail {

// Whole seconds to wait: delta-seconds, or an HTTP date (IMF-fixdate, RFC 850 or asctime form)
// counted from `now` (a date already past gives 0; a partial second counts as one). Values past
// a year saturate there. nullopt when `value` is neither. Pure; any thread.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value, WallTime now);

}  // namespace balancer::detail
