// route_model: the Router alone. Parses a YAML config from a string, routes a model, and shows
// how a HealthTracker on a ManualClock reorders the candidates: a provider that failed twice is
// tried last until its cooldown is over. No network, no real time. Exits 0 when the order is
// the one claimed.
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <balancer/config.h>
#include <balancer/health.h>
#include <balancer/health_tracker.h>
#include <balancer/router.h>
#include <balancer/testing/manual_clock.h>
#include <balancer/testing/scripted_random.h>

namespace {

constexpr const char* kConfigYaml = R"(
providers:
  - {name: primary, base_url: "https://primary.example", auth_type: api_key, auth_value: "key-1"}
  - {name: backup, base_url: "https://backup.example", auth_type: auth_token, auth_value: "key-2"}
model_routes:
  "*sonnet*":
    - {provider: primary, model: passthrough, priority: 1}
    - {provider: backup, model: claude-sonnet-4-5-backup, priority: 2}
settings:
  failure_cooldown: 60
  unhealthy_threshold: 2
)";

// Routes `model`, prints its candidates under `title` and returns their provider names in order.
std::vector<std::string> print_candidates(const balancer::Router& router, const char* model, const char* title) {
  std::vector<std::string> order;
  balancer::RouteRequest request;  // no pinned provider, no conversation affinity
  request.model = model;
  auto decision = router.route(request);
  if (!decision) {
    std::printf("%s: %s\n", title, decision.error().message.c_str());
    return order;
  }
  std::printf("%s:\n", title);
  for (const balancer::Candidate& candidate : decision->candidates) {
    std::printf("  %-8s model=%-26s priority=%d %s\n", candidate.provider->name.c_str(),
                candidate.upstream_model.c_str(), candidate.priority, candidate.healthy() ? "healthy" : "in cooldown");
    order.push_back(candidate.provider->name);
  }
  return order;
}

}  // namespace

int main() {
  // The library never reads the environment: ${VAR} lookups come in through this function.
  auto parsed = balancer::parse_config(kConfigYaml, [](const std::string&) { return std::nullopt; });
  if (!parsed) {
    std::fprintf(stderr, "config: %s\n", parsed.error().message.c_str());
    return 1;
  }
  auto config = std::make_shared<const balancer::BalancerConfig>(std::move(*parsed));

  balancer::testing::ManualClock clock;
  balancer::HealthTracker health(balancer::HealthConfig::from(config->settings), clock);
  balancer::testing::ScriptedRandom random{0};  // draws only for the random / round-robin strategies
  balancer::Router router(config, health, random);

  const char* model = "claude-sonnet-4-5";
  const auto fresh = print_candidates(router, model, "all healthy");

  // Two consecutive failures reach unhealthy_threshold: primary goes into cooldown.
  const std::string primary_key = balancer::health_key(*config->find_provider("primary"), "");
  health.record(primary_key, balancer::Outcome::failure("http_status", 529));
  health.record(primary_key, balancer::Outcome::failure("http_status", 529));
  const auto cooling = print_candidates(router, model, "after two 529s from primary");

  clock.advance(std::chrono::seconds(61));  // past failure_cooldown
  const auto recovered = print_candidates(router, model, "61 s later");

  balancer::RouteRequest unrouted;
  unrouted.model = "gpt-4o";
  const bool no_route = !router.route(unrouted).has_value();
  std::printf("gpt-4o has %s\n", no_route ? "no route (NotFound)" : "a route");

  const std::vector<std::string> preferred{"primary", "backup"};
  const std::vector<std::string> failed_over{"backup", "primary"};
  const bool ok = fresh == preferred && cooling == failed_over && recovered == preferred && no_route;
  std::printf("%s\n", ok ? "OK" : "FAILED: unexpected candidate order");
  return ok ? 0 : 1;
}
