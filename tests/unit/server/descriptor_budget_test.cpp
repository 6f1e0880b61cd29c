// The open-file limit sizes how many requests are served at once and how many idle
// connections the poller holds.
#include <catch2/catch.hpp>

#include "descriptor_budget.h"

using balancer::server::busy_limit;
using balancer::server::pending_limit;

TEST_CASE("descriptor budget: max_connections stands when the limit allows it", "[unit][server]") {
  CHECK(busy_limit(1024, 0) == 1024);  // no limit
  CHECK(busy_limit(1024, 1048576) == 1024);
  CHECK(pending_limit(1024, 0) == 4096);
  CHECK(pending_limit(1024, 1048576) == 4096);
  CHECK(pending_limit(5000, 1048576) == 20000);
}

TEST_CASE("descriptor budget: four descriptors per request in flight within the limit", "[unit][server]") {
  // 5,256 requests need 21,088 descriptors; 20,000 allow (20,000 - 64) / 4 = 4,984.
  CHECK(busy_limit(5256, 20000) == 4984);
  // The poller keeps what those requests do not need beyond their client connections.
  CHECK(pending_limit(5256, 20000) == 20000 - 3 * 4984 - 64);
  // The exact edge: 4 × 1024 + 64 descriptors serve all 1,024; one fewer serves 1,023.
  CHECK(busy_limit(1024, 4 * 1024 + 64) == 1024);
  CHECK(busy_limit(1024, 4 * 1024 + 63) == 1023);
}

TEST_CASE("descriptor budget: a tiny limit still serves one request and holds 64 connections", "[unit][server]") {
  CHECK(busy_limit(1024, 10) == 1);
  CHECK(pending_limit(1024, 10) == 64);
  CHECK(busy_limit(0, 0) == 0);
}
