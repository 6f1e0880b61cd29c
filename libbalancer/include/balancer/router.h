// router.h — maps a request's model (and optional provider pin) to the ordered list of
// provider candidates to try (spec §5).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <balancer/clock.h>
#include <balancer/config.h>
#include <balancer/error.h>
#include <balancer/random.h>

namespace balancer {

// Read-only view of provider health used for ordering candidates. The HealthTracker implements
// it; AlwaysHealthy is the trivial one. Implementations must be thread-safe.
class HealthView {
 public:
  virtual ~HealthView() = default;
  // nullopt when `provider` may be used now; otherwise the time its cooldown ends.
  virtual std::optional<SteadyTime> unavailable_until(std::string_view provider) const = 0;
};

// Every provider is always usable.
class AlwaysHealthy final : public HealthView {
 public:
  std::optional<SteadyTime> unavailable_until(std::string_view /*provider*/) const override {
    return std::nullopt;
  }
};

struct RouteRequest {
  std::string_view model;
  std::optional<std::string_view> pinned_provider;  // the body's "provider" field
};

// One provider to try. Points into the router's config snapshot, which RouteDecision keeps alive.
struct Candidate {
  const ProviderConfig* provider = nullptr;
  std::string upstream_model;  // the model to send: the route's, or the client's (passthrough)
  bool rewrite_model = false;  // true when upstream_model differs from the client's model
  std::string route_pattern;
  int priority = 1;
  int weight = 1;
  // Set while the provider is in cooldown: such candidates are tried only after every healthy
  // one, earliest cooldown end first.
  std::optional<SteadyTime> cooldown_until;

  bool healthy() const { return !cooldown_until.has_value(); }
};

// The ordered candidates for one request, plus the config snapshot they point into.
struct RouteDecision {
  std::shared_ptr<const BalancerConfig> config;
  std::vector<Candidate> candidates;
};

// Route lookup and candidate ordering. Thread-safe: route() is const and reads health through
// the HealthView; `health` and `random` must outlive the Router.
class Router {
 public:
  Router(std::shared_ptr<const BalancerConfig> config, const HealthView& health, Random& random);

  // Exact route key first (case-sensitive), then route keys as globs in file order
  // (case-insensitive, anchored, '*' only). The first matching route with a usable entry wins;
  // if every entry of a route is unusable, later matching routes are tried. Healthy candidates
  // come first, ordered by the strategy; candidates in cooldown follow, earliest cooldown end
  // first. Errors: NotFound naming the model (or the pinned provider).
  Result<RouteDecision> route(const RouteRequest& request) const;

  const BalancerConfig& config() const { return *config_; }
  const std::shared_ptr<const BalancerConfig>& config_ptr() const { return config_; }

 private:
  std::vector<const ModelRoute*> matching_routes(std::string_view model) const;
  std::optional<Candidate> make_candidate(const ModelRoute& route, const RouteEntry& entry,
                                          std::string_view client_model) const;
  void order(std::vector<Candidate>& candidates) const;

  std::shared_ptr<const BalancerConfig> config_;
  const HealthView& health_;
  Random& random_;
};

}  // namespace balancer
