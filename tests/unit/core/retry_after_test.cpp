// retry_after_test.cpp — detail::parse_retry_after: delta-seconds and the three HTTP date forms
// (RFC 9110 §5.6.7, §10.2.3) against an injected wall time.
#include <catch2/catch.hpp>

#include <chrono>

#include "core/retry_after.h"

using balancer::WallTime;
using balancer::detail::parse_retry_after;
using std::chrono::seconds;

namespace {

// Sun, 06 Nov 1994 08:49:37 GMT
const WallTime kNow = std::chrono::system_clock::from_time_t(784111777);

}  // namespace

TEST_CASE("Retry-After: delta-seconds", "[unit][retry_after]") {
  CHECK(parse_retry_after("5", kNow) == seconds(5));
  CHECK(parse_retry_after(" 120 ", kNow) == seconds(120));
  CHECK(parse_retry_after("0", kNow) == seconds(0));
  CHECK(parse_retry_after("99999999999999999999999", kNow) == seconds(365LL * 24 * 3600));  // saturates
  CHECK_FALSE(parse_retry_after("", kNow));
  CHECK_FALSE(parse_retry_after("5s", kNow));
  CHECK_FALSE(parse_retry_after("-5", kNow));
  CHECK_FALSE(parse_retry_after("1.5", kNow));
  CHECK_FALSE(parse_retry_after("soon", kNow));
}

TEST_CASE("Retry-After: an HTTP date in each of its three forms", "[unit][retry_after]") {
  CHECK(parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", kNow) == seconds(30));     // IMF-fixdate
  CHECK(parse_retry_after("Sunday, 06-Nov-94 08:50:37 GMT", kNow) == seconds(60));    // RFC 850
  CHECK(parse_retry_after("Sun Nov  6 08:51:37 1994", kNow) == seconds(120));         // asctime
  CHECK(parse_retry_after("Mon, 07 Nov 1994 08:49:37 GMT", kNow) == seconds(86400));  // a day later
  // Already past: no wait. A partial second counts as one.
  CHECK(parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", kNow) == seconds(0));
  CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:38 GMT", kNow + std::chrono::milliseconds(500)) == seconds(1));
  // Far future: a year at most.
  CHECK(parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT", kNow) == seconds(365LL * 24 * 3600));
  CHECK_FALSE(parse_retry_after("Sun, 06 Nov 1994 08:50:07", kNow));        // no zone
  CHECK_FALSE(parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT x", kNow));  // trailing text
  CHECK_FALSE(parse_retry_after("Sun, 32 Nov 1994 08:50:07 GMT", kNow));
}
