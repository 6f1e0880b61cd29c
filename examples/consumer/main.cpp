// Links libbalancer through find_package(balancer): parses a config, routes a model, and
// forwards one request through the Forwarder on the shipped FakeTransport. Exits 0 on success.
#include <cstdio>

#include <balancer/config.h>
#include "forward/forwarder.h"
#include <balancer/router.h>
#include <balancer/testing/fake_transport.h>
#include <balancer/testing/manual_clock.h>
#include <balancer/testing/scripted_random.h>

int main() {
  const char* yaml = R"(
providers:
  - {name: primary, base_url: "https://primary.example", auth_type: api_key, auth_value: "k1"}
  - {name: backup, base_url: "https://backup.example", auth_type: auth_token, auth_value: "k2"}
model_routes:
  "*sonnet*":
    - {provider: primary, model: passthrough, priority: 1}
    - {provider: backup, model: claude-sonnet-4-5, priority: 2}
)";
  auto config = balancer::parse_config(yaml, [](const std::string&) { return std::nullopt; });
  if (!config) {
    std::fprintf(stderr, "config: %s\n", config.error().message.c_str());
    return 1;
  }
  auto shared = std::make_shared<const balancer::BalancerConfig>(std::move(*config));
  balancer::AlwaysHealthy health;
  balancer::testing::ScriptedRandom random{0};
  balancer::testing::ManualClock clock;
  balancer::ProviderStats stats;
  balancer::ClientAuth auth(shared->auth);
  balancer::testing::FakeTransport transport([](const balancer::HttpRequest& request) {
    if (request.url.find("primary") != std::string::npos) {
      return balancer::testing::FakeResponse::json(529, R"({"type":"error"})");
    }
    return balancer::testing::FakeResponse::json(200, R"({"type":"message","content":[]})");
  });
  balancer::Router router(shared, health, random);
  balancer::Forwarder forwarder(router, transport, auth, clock, stats);
  auto result = forwarder.forward({"/v1/messages", "", {}, R"({"model":"my-sonnet","messages":[]})"});
  std::printf("status %d from %s after %zu attempt(s)\n", result.status, result.provider.c_str(),
              result.attempts.size());
  return result.status == 200 && result.provider == "backup" ? 0 : 1;
}
