#include <balancer/router.h>

#include <algorithm>

#include "glob.h"

namespace balancer {

Router::Router(std::shared_ptr<const BalancerConfig> config, const HealthView& health,
               Random& random)
    : config_(std::move(config)), health_(health), random_(random) {}

std::vector<const ModelRoute*> Router::matching_routes(std::string_view model) const {
  std::vector<const ModelRoute*> out;
  for (const ModelRoute& route : config_->model_routes) {
    if (route.pattern == model) {
      out.push_back(&route);
    }
  }
  for (const ModelRoute& route : config_->model_routes) {
    if (route.pattern != model && detail::glob_match(route.pattern, model)) {
      out.push_back(&route);
    }
  }
  return out;
}

std::optional<Candidate> Router::make_candidate(const ModelRoute& route, const RouteEntry& entry,
                                                std::string_view client_model) const {
  if (!entry.enabled) {
    return std::nullopt;
  }
  const ProviderConfig* provider = config_->find_provider(entry.provider);
  if (provider == nullptr || !provider->enabled) {
    return std::nullopt;
  }
  Candidate c;
  c.provider = provider;
  c.rewrite_model = entry.model != "passthrough" && entry.model != client_model;
  c.upstream_model = entry.model == "passthrough" ? std::string(client_model) : entry.model;
  c.route_pattern = route.pattern;
  c.priority = entry.priority;
  c.weight = entry.weight.value_or(provider->weight);
  c.cooldown_until = health_.unavailable_until(provider->name);
  return c;
}

void Router::order(std::vector<Candidate>& candidates) const {
  // Priority strategy: ascending priority, ties by higher weight, then file order. Other
  // strategies reorder the healthy prefix (added with the health tracker); the draw is taken
  // here so that the API does not change when they arrive.
  (void)random_;
  std::stable_sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    if (a.healthy() != b.healthy()) {
      return a.healthy();
    }
    if (a.priority != b.priority) {
      return a.priority < b.priority;
    }
    return a.weight > b.weight;
  });
  // Candidates in cooldown: earliest cooldown end first.
  auto first_unhealthy = std::find_if(candidates.begin(), candidates.end(),
                                      [](const Candidate& c) { return !c.healthy(); });
  std::stable_sort(first_unhealthy, candidates.end(), [](const Candidate& a, const Candidate& b) {
    return *a.cooldown_until < *b.cooldown_until;
  });
}

Result<RouteDecision> Router::route(const RouteRequest& request) const {
  const auto routes = matching_routes(request.model);
  if (routes.empty()) {
    return make_error(ErrorCode::NotFound,
                      "no route for model '" + std::string(request.model) + "'");
  }
  RouteDecision decision{config_, {}};
  if (request.pinned_provider) {
    for (const ModelRoute* route : routes) {
      for (const RouteEntry& entry : route->entries) {
        if (entry.provider != *request.pinned_provider) {
          continue;
        }
        if (auto c = make_candidate(*route, entry, request.model)) {
          decision.candidates.push_back(std::move(*c));
          return decision;
        }
      }
    }
    return make_error(ErrorCode::NotFound, "provider '" + std::string(*request.pinned_provider) +
                                               "' is unknown, disabled, or not configured for "
                                               "model '" + std::string(request.model) + "'");
  }
  // The first matching route with a healthy candidate; failing that, the first with any.
  std::vector<Candidate> fallback;
  for (const ModelRoute* route : routes) {
    std::vector<Candidate> candidates;
    for (const RouteEntry& entry : route->entries) {
      if (auto c = make_candidate(*route, entry, request.model)) {
        candidates.push_back(std::move(*c));
      }
    }
    const bool any_healthy = std::any_of(candidates.begin(), candidates.end(),
                                         [](const Candidate& c) { return c.healthy(); });
    if (any_healthy) {
      order(candidates);
      decision.candidates = std::move(candidates);
      return decision;
    }
    if (fallback.empty()) {
      fallback = std::move(candidates);
    }
  }
  if (fallback.empty()) {
    return make_error(ErrorCode::NotFound, "no enabled provider is configured for model '" +
                                               std::string(request.model) + "'");
  }
  order(fallback);
  decision.candidates = std::move(fallback);
  return decision;
}

}  // namespace balancer
