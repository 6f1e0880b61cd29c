// The in-memory StateStore: the operations the Redis implementation must also provide, each a
// small step with `now` passed in and values (never references) handed out.
#include <catch2/catch.hpp>

#include <balancer/state_store.h>
#include <balancer/testing/manual_clock.h>

using namespace balancer;
using namespace std::chrono_literals;

namespace {

HealthConfig two_strikes() {
  HealthConfig c;
  c.unhealthy_threshold = 2;
  c.failure_cooldown = 60s;
  return c;
}

}  // namespace

TEST_CASE("StateStore: health per key, with the time passed in", "[unit][state]") {
  auto store = make_memory_state_store();
  testing::ManualClock clock;
  const HealthConfig config = two_strikes();
  const SteadyTime t0 = clock.now();
  CHECK(store->health_acquire("p", config, t0, false) == HealthPermit::Granted);
  store->health_record("p", Outcome::failure("http_status", 529), config, t0);
  CHECK_FALSE(store->health_unavailable_until("p", config, t0));
  store->health_record("p", Outcome::failure("http_status", 529), config, t0);
  CHECK(store->health_unavailable_until("p", config, t0) == std::optional<SteadyTime>(t0 + 60s));
  CHECK(store->health_acquire("p", config, t0 + 10s, false) == HealthPermit::Skip);
  CHECK(store->health_acquire("other", config, t0 + 10s, false) == HealthPermit::Granted);  // keys are apart
  const HealthSnapshot s = store->health_snapshot("p", config, t0 + 10s);
  CHECK(s.status == "unhealthy");
  CHECK(s.cooldown_remaining_s == Approx(50.0));
  // After the cooldown one probe is let through; its success heals the key.
  CHECK(store->health_acquire("p", config, t0 + 61s, false) == HealthPermit::GrantedProbe);
  CHECK(store->health_acquire("p", config, t0 + 61s, false) == HealthPermit::Skip);
  store->health_record("p", Outcome::ok(), config, t0 + 62s);
  CHECK(store->health_snapshot("p", config, t0 + 62s).status == "healthy");
  CHECK(store->health_acquire("p", config, t0 + 62s, false) == HealthPermit::Granted);
}

TEST_CASE("StateStore: a low balance skips the provider unless forced and reports it", "[unit][state]") {
  auto store = make_memory_state_store();
  const HealthConfig config = two_strikes();
  const SteadyTime now = testing::ManualClock().now();
  store->set_low_balance("p", true);
  CHECK(store->health_acquire("p", config, now, false) == HealthPermit::Skip);
  CHECK(store->health_acquire("p", config, now, true) != HealthPermit::Skip);
  CHECK(store->health_unavailable_until("p", config, now).has_value());
  CHECK(store->health_snapshot("p", config, now).status == "low_balance");
  store->set_low_balance("p", false);
  CHECK(store->health_acquire("p", config, now, false) == HealthPermit::Granted);
  CHECK_FALSE(store->health_unavailable_until("p", config, now));
}

TEST_CASE("StateStore: affinity expires and the least recently used entry goes first", "[unit][state]") {
  auto store = make_memory_state_store(2);
  const SteadyTime t0 = testing::ManualClock().now();
  store->affinity_put("c1", "A", t0 + 10s);
  store->affinity_put("c2", "B", t0 + 10s);
  CHECK(store->affinity_get("c1", t0) == std::optional<std::string>("A"));  // c1 now most recent
  store->affinity_put("c3", "C", t0 + 10s);                                 // evicts c2
  CHECK(store->affinity_size() == 2);
  CHECK_FALSE(store->affinity_get("c2", t0));
  CHECK(store->affinity_get("c3", t0) == std::optional<std::string>("C"));
  store->affinity_put("c3", "D", t0 + 20s);  // an update, not a new entry
  CHECK(store->affinity_get("c3", t0 + 15s) == std::optional<std::string>("D"));
  CHECK_FALSE(store->affinity_get("c1", t0 + 10s));  // expired at its deadline
  CHECK(store->affinity_size() == 1);
}

TEST_CASE("StateStore: traffic counters per provider", "[unit][state]") {
  auto store = make_memory_state_store();
  store->count_attempt("p");
  store->count_attempt("p");
  store->count_success("p", 120ms);
  store->count_failure("p", "HTTP 529");
  const ProviderCounters c = store->counters("p");
  CHECK(c.requests == 2);
  CHECK(c.failures == 1);
  CHECK(c.last_error == "HTTP 529");
  CHECK(c.last_latency == 120ms);
  CHECK(store->counters("unknown").requests == 0);
}
