#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include <balancer/router.h>
#include <balancer/testing/manual_clock.h>
#include <balancer/testing/scripted_random.h>
#include "routing/conversation_affinity.h"

#include "routing/selection.h"

using namespace balancer;
using balancer::detail::smooth_wrr_pick;
using balancer::detail::weighted_pick;

TEST_CASE("weighted_pick maps draws to indices in proportion to weight", "[unit][selection]") {
  const std::vector<int> weights = {1, 3};
  // The draw space splits into 4 equal quarters: the first for index 0, the other three for 1.
  constexpr std::uint64_t kQuarter = std::uint64_t{1} << 62;
  CHECK(weighted_pick(weights, 0) == 0);
  CHECK(weighted_pick(weights, kQuarter - 1) == 0);
  CHECK(weighted_pick(weights, kQuarter) == 1);
  CHECK(weighted_pick(weights, ~std::uint64_t{0}) == 1);
  // A scripted, evenly spread draw sequence gives the exact weight shares.
  const std::vector<int> w3 = {2, 5, 3};
  std::map<std::size_t, int> counts;
  constexpr int kDraws = 1000;
  for (int i = 0; i < kDraws; ++i) {
    const std::uint64_t draw = (~std::uint64_t{0} / kDraws + 1) * static_cast<std::uint64_t>(i);
    ++counts[weighted_pick(w3, draw)];
  }
  CHECK(counts[0] == 200);
  CHECK(counts[1] == 500);
  CHECK(counts[2] == 300);
}

TEST_CASE("smooth WRR 3:1 over 8 picks gives 6/2, interleaved", "[unit][selection]") {
  const std::vector<int> weights = {3, 1};
  std::vector<long long> current;
  std::vector<std::size_t> picks;
  for (int i = 0; i < 8; ++i) {
    picks.push_back(smooth_wrr_pick(weights, current));
  }
  CHECK(picks == std::vector<std::size_t>{0, 0, 1, 0, 0, 0, 1, 0});
  CHECK(std::count(picks.begin(), picks.end(), 0u) == 6);
}

namespace {

ProviderConfig provider(const std::string& name, int weight) {
  ProviderConfig p;
  p.name = name;
  p.base_url = "http://x";
  p.auth_value = "k";
  p.weight = weight;
  return p;
}

class ScriptedHealth final : public HealthView {
 public:
  std::map<std::string, SteadyTime, std::less<>> down;
  std::optional<SteadyTime> unavailable_until(std::string_view p) const override {
    auto it = down.find(p);
    return it == down.end() ? std::nullopt : std::optional<SteadyTime>(it->second);
  }
};

std::shared_ptr<BalancerConfig> three_providers(SelectionStrategy strategy, std::vector<int> weights) {
  auto c = std::make_shared<BalancerConfig>();
  c->settings.selection_strategy = strategy;
  ModelRoute route{"*", {}};
  const char* names[] = {"A", "B", "C"};
  for (std::size_t i = 0; i < weights.size(); ++i) {
    c->providers.push_back(provider(names[i], weights[i]));
    RouteEntry e;
    e.provider = names[i];
    e.priority = static_cast<int>(i) + 1;
    route.entries.push_back(e);
  }
  c->model_routes = {route};
  return c;
}

std::string first(const Router& router, std::optional<std::string_view> preferred = std::nullopt) {
  auto d = router.route({"m", std::nullopt, preferred});
  REQUIRE(d);
  return d->candidates.front().provider->name;
}

}  // namespace

TEST_CASE("round_robin: exact rotation, the rest follow as fallbacks", "[unit][selection]") {
  ScriptedHealth health;
  testing::ScriptedRandom random{0};
  Router router(three_providers(SelectionStrategy::RoundRobin, {1, 1, 1}), health, random);
  std::map<std::string, int> counts;
  std::vector<std::string> order;
  for (int i = 0; i < 9; ++i) {
    order.push_back(first(router));
    ++counts[order.back()];
  }
  CHECK(counts == std::map<std::string, int>{{"A", 3}, {"B", 3}, {"C", 3}});
  CHECK(std::vector<std::string>(order.begin(), order.begin() + 3) == std::vector<std::string>{"A", "B", "C"});
  auto d = router.route({"m", std::nullopt});
  REQUIRE(d);
  CHECK(d->candidates.size() == 3);  // every candidate stays in the list for failover
}

TEST_CASE("round_robin skips providers in cooldown and takes them back after", "[unit][selection]") {
  testing::ManualClock clock;
  ScriptedHealth health;
  testing::ScriptedRandom random{0};
  Router router(three_providers(SelectionStrategy::RoundRobin, {1, 1, 1}), health, random);
  health.down["B"] = clock.now() + std::chrono::seconds(30);
  std::map<std::string, int> counts;
  for (int i = 0; i < 8; ++i) {
    ++counts[first(router)];
  }
  CHECK(counts == std::map<std::string, int>{{"A", 4}, {"C", 4}});
  health.down.clear();
  counts.clear();
  for (int i = 0; i < 9; ++i) {
    ++counts[first(router)];
  }
  CHECK(counts == std::map<std::string, int>{{"A", 3}, {"B", 3}, {"C", 3}});
}

TEST_CASE("weighted_round_robin 3:1 gives 6/2 over 8 picks", "[unit][selection]") {
  ScriptedHealth health;
  testing::ScriptedRandom random{0};
  Router router(three_providers(SelectionStrategy::WeightedRoundRobin, {3, 1}), health, random);
  std::map<std::string, int> counts;
  for (int i = 0; i < 8; ++i) {
    ++counts[first(router)];
  }
  CHECK(counts == std::map<std::string, int>{{"A", 6}, {"B", 2}});
}

TEST_CASE("random: weighted by the scripted draws, the rest by priority", "[unit][selection]") {
  ScriptedHealth health;
  // Draws at the start, middle and end of the space: weights 1:1:2 → A, C, C.
  testing::ScriptedRandom random{0, std::uint64_t{1} << 63, ~std::uint64_t{0}};
  Router router(three_providers(SelectionStrategy::Random, {1, 1, 2}), health, random);
  CHECK(first(router) == "A");
  CHECK(first(router) == "C");
  auto d = router.route({"m", std::nullopt});
  REQUIRE(d);
  std::vector<std::string> names;
  for (const auto& c : d->candidates) {
    names.push_back(c.provider->name);
  }
  CHECK(names == std::vector<std::string>{"C", "A", "B"});
}

TEST_CASE("affinity puts the conversation's provider first while it is healthy", "[unit][selection][affinity]") {
  testing::ManualClock clock;
  ScriptedHealth health;
  testing::ScriptedRandom random{0};
  Router router(three_providers(SelectionStrategy::RoundRobin, {1, 1, 1}), health, random);
  for (int i = 0; i < 5; ++i) {
    CHECK(first(router, "B") == "B");
  }
  health.down["B"] = clock.now() + std::chrono::seconds(10);
  CHECK(first(router, "B") != "B");  // affinity never blocks failover
}

TEST_CASE("ConversationAffinity: kept, expired, replaced, bounded", "[unit][affinity]") {
  testing::ManualClock clock;
  ConversationAffinity affinity(2);
  const auto t0 = clock.now();
  affinity.put("conv-1", "A", t0 + std::chrono::seconds(300));
  CHECK(affinity.get("conv-1", t0 + std::chrono::seconds(299)) == std::optional<std::string>("A"));
  CHECK_FALSE(affinity.get("conv-1", t0 + std::chrono::seconds(300)));  // expired, and removed
  CHECK(affinity.size() == 0);
  affinity.put("conv-1", "A", t0 + std::chrono::seconds(300));
  affinity.put("conv-1", "B", t0 + std::chrono::seconds(300));  // failover moved it
  CHECK(affinity.get("conv-1", t0) == std::optional<std::string>("B"));
  CHECK_FALSE(affinity.get("conv-2", t0));  // other conversations untouched
  affinity.put("conv-2", "C", t0 + std::chrono::seconds(300));
  CHECK(affinity.get("conv-1", t0));                            // conv-1 is now most recent
  affinity.put("conv-3", "A", t0 + std::chrono::seconds(300));  // evicts conv-2
  CHECK(affinity.size() == 2);
  CHECK_FALSE(affinity.get("conv-2", t0));
  CHECK(affinity.get("conv-1", t0) == std::optional<std::string>("B"));
}
