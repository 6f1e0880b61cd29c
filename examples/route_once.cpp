// route_once: prints the ordered provider candidates a config gives for a model.
//   route_once config.yaml claude-sonnet-4-5
#include <cstdio>
#include <cstdlib>

#include <balancer/config.h>
#include <balancer/router.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s CONFIG MODEL\n", argv[0]);
    return 2;
  }
  // Environment variables are read here, at the edge, never inside the library.
  auto config = balancer::load_config(argv[1], [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe): single-threaded tool
    return value == nullptr ? std::nullopt : std::optional<std::string>(value);
  });
  if (!config) {
    std::fprintf(stderr, "%s\n", config.error().message.c_str());
    return 1;
  }
  balancer::AlwaysHealthy health;
  auto random = balancer::make_default_random();
  balancer::Router router(std::make_shared<const balancer::BalancerConfig>(std::move(*config)), health, *random);
  balancer::RouteRequest request;
  request.model = argv[2];
  auto decision = router.route(request);
  if (!decision) {
    std::fprintf(stderr, "%s\n", decision.error().message.c_str());
    return 1;
  }
  for (const auto& c : decision->candidates) {
    std::printf("%-20s model=%-28s route=%s priority=%d\n", c.provider->name.c_str(), c.upstream_model.c_str(),
                c.route_pattern.c_str(), c.priority);
  }
  return 0;
}
