// dedup_key never throws, its value is pinned, and the empty key it falls back to (no memory)
// is never coalesced or cached.
#include <catch2/catch.hpp>

#include <string>

#include <balancer/deduplicator.h>
#include <balancer/testing/manual_clock.h>

using namespace balancer;
using namespace std::chrono_literals;

TEST_CASE("dedup_key is no-throw and keeps its value", "[unit][dedup]") {
  static_assert(noexcept(dedup_key("", "", Headers{}, "")));
  const Headers base = {{"anthropic-version", "2023-06-01"}, {"anthropic-beta", "b1"}, {"x-request-id", "1"}};
  // Values of the earlier implementation: keys stay stable across this change.
  CHECK(dedup_key("/v1/messages", "{\"a\":1}", base, "client-1") ==
        "2454f9923d5083d7eac1bce9a5c2c753e20c652a7a18a16af498451efeabec2b");
  CHECK(dedup_key("", "", {}, "") == "2c34ce1df23b838c5abf2a7f6437cca3d3067ed509ff25f11df6b11b582b51eb");
  CHECK(dedup_key("/p", "body", {{"Anthropic-Beta", "x"}, {"anthropic-beta", "y"}, {"anthropic-version", ""}}, "c") ==
        "78e08376be3c9702f9b792f3a7b41a97f92771625b5215ec670b5a5f8156d6b8");
}

TEST_CASE("an empty key is never coalesced or cached", "[unit][dedup]") {
  testing::ManualClock clock;
  DedupOptions options;
  options.cache_ttl = 60s;
  Deduplicator dedup(options, clock);
  int produced = 0;
  const auto produce = [&] {
    ++produced;
    Response r;
    r.status = 200;
    r.headers = {{"content-type", "application/json"}};
    r.body = "{}";
    return r;
  };
  auto first = dedup.subscribe("", produce);
  auto second = dedup.subscribe("", produce);
  CHECK(first->role() == DedupRole::None);
  CHECK(second->role() == DedupRole::None);
  CHECK(produced == 2);
  CHECK(first->status() == 200);
  std::string body;
  std::string chunk;
  while (first->next(chunk)) {
    body += chunk;
  }
  CHECK(body == "{}");
  CHECK(dedup.stats().uncoalesced == 2);
  CHECK(dedup.stats().leaders == 0);
}
