#include <balancer/router.h>

#include <algorithm>

#include "core/glob.h"
#include "routing/account_choice.h"
#include "routing/selection.h"

namespace balancer {

Router::Router(std::shared_ptr<const BalancerConfig> config, const HealthView& health, Random& random)
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

std::string health_key(const ProviderConfig& provider, std::string_view account_email) {
  if (provider.auth_type != AuthType::OAuth || account_email.empty() ||
      account_email == normalize_account_email(provider.account_email)) {
    return provider.name;
  }
  return provider.name + "/" + std::string(account_email);
}

std::optional<Candidate> Router::make_candidate(const ModelRoute& route, const RouteEntry& entry,
                                                const RouteRequest& request) const {
  if (!entry.enabled) {
    return std::nullopt;
  }
  const ProviderConfig* provider = config_->find_provider(entry.provider);
  if (provider == nullptr || !provider->enabled) {
    return std::nullopt;
  }
  const std::string_view client_model = request.model;
  Candidate c;
  c.provider = provider;
  c.rewrite_model = entry.model != "passthrough" && entry.model != client_model;
  c.upstream_model = entry.model == "passthrough" ? std::string(client_model) : entry.model;
  c.route_pattern = route.pattern;
  c.priority = entry.priority;
  c.weight = entry.weight.value_or(provider->weight);
  if (provider->auth_type == AuthType::OAuth) {
    c.account_email =
        normalize_account_email(entry.account_email.empty() ? provider->account_email : entry.account_email);
  }
  c.cooldown_until = health_.unavailable_until(health_key(*provider, c.account_email));
  if (provider->auth_type == AuthType::OAuth && c.account_email.empty()) {
    choose_account(c, request);
  }
  return c;
}

void Router::choose_account(Candidate& candidate, const RouteRequest& request) const {
  const std::vector<std::string> ranked = detail::rank_accounts(
      request.conversation, std::vector<std::string>(request.oauth_accounts.begin(), request.oauth_accounts.end()));
  bool usable_avoided = false;  // the avoided account is usable: taken only if no other is
  for (const std::string& account : ranked) {
    const std::string key = health_key(*candidate.provider, account);
    const auto until = health_.unavailable_until(key);
    if (!until && request.avoided && key == *request.avoided) {
      usable_avoided = true;
      continue;
    }
    if (!until) {
      candidate.account_email = account;
      candidate.cooldown_until.reset();
      return;
    }
    if (candidate.account_email.empty() || *until < *candidate.cooldown_until) {
      candidate.account_email = account;
      candidate.cooldown_until = until;
    }
  }
  if (usable_avoided) {  // every other account is cooling down
    for (const std::string& account : ranked) {
      if (health_key(*candidate.provider, account) == *request.avoided) {
        candidate.account_email = account;
        candidate.cooldown_until.reset();
      }
    }
  }
}

std::size_t Router::pick_first(const std::vector<Candidate>& healthy, const std::string& route_pattern) const {
  const SelectionStrategy strategy = config_->settings.selection_strategy;
  if (strategy == SelectionStrategy::Priority || healthy.size() < 2) {
    return 0;
  }
  std::vector<int> weights;
  weights.reserve(healthy.size());
  for (const Candidate& c : healthy) {
    weights.push_back(c.weight < 1 ? 1 : c.weight);
  }
  if (strategy == SelectionStrategy::Random) {
    return detail::weighted_pick(weights, random_.next_u64());
  }
  std::lock_guard lock(rotation_mutex_);
  Rotation& rotation = rotations_[route_pattern];
  if (strategy == SelectionStrategy::RoundRobin) {
    return static_cast<std::size_t>(rotation.next++ % healthy.size());
  }
  // Smooth WRR over the healthy candidates; a provider's running weight survives while it is
  // out of the rotation, as in nginx.
  std::vector<long long> current;
  current.reserve(healthy.size());
  for (const Candidate& c : healthy) {
    current.push_back(rotation.wrr_current[c.provider->name]);
  }
  const std::size_t chosen = detail::smooth_wrr_pick(weights, current);
  for (std::size_t i = 0; i < healthy.size(); ++i) {
    rotation.wrr_current[healthy[i].provider->name] = current[i];
  }
  return chosen;
}

void Router::order(std::vector<Candidate>& candidates, const std::string& route_pattern,
                   std::optional<std::string_view> preferred, std::optional<std::string_view> avoided) const {
  // Base order: healthy first; by ascending priority, ties by higher weight, then file order.
  std::stable_sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    if (a.healthy() != b.healthy()) {
      return a.healthy();
    }
    if (a.priority != b.priority) {
      return a.priority < b.priority;
    }
    return a.weight > b.weight;
  });
  const auto first_unhealthy =
      std::find_if(candidates.begin(), candidates.end(), [](const Candidate& c) { return !c.healthy(); });
  // Candidates in cooldown follow the healthy ones, earliest cooldown end first.
  std::stable_sort(first_unhealthy, candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return *a.cooldown_until < *b.cooldown_until; });
  auto healthy_count = static_cast<std::size_t>(first_unhealthy - candidates.begin());
  if (healthy_count == 0) {
    return;
  }
  if (avoided) {
    // The candidate the conversation just failed on follows the other healthy ones; the
    // strategy and affinity choose among those others.
    const auto others = std::stable_partition(candidates.begin(), first_unhealthy, [&](const Candidate& c) {
      return health_key(*c.provider, c.account_email) != *avoided;
    });
    if (others != candidates.begin()) {
      healthy_count = static_cast<std::size_t>(others - candidates.begin());
    }
  }
  // The strategy chooses which healthy candidate goes first; the rest stay in base order as
  // fallbacks. Conversation affinity overrides the strategy's choice.
  std::size_t first = healthy_count;
  if (preferred) {
    for (std::size_t i = 0; i < healthy_count; ++i) {
      if (candidates[i].provider->name == *preferred) {
        first = i;
        break;
      }
    }
  }
  if (first == healthy_count) {
    const std::vector<Candidate> healthy(candidates.begin(),
                                         candidates.begin() + static_cast<std::ptrdiff_t>(healthy_count));
    first = pick_first(healthy, route_pattern);
  }
  std::rotate(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(first),
              candidates.begin() + static_cast<std::ptrdiff_t>(first) + 1);
}

Result<RouteDecision> Router::route(const RouteRequest& request) const {
  const auto routes = matching_routes(request.model);
  if (routes.empty()) {
    return make_error(ErrorCode::NotFound, "no route for model '" + std::string(request.model) + "'");
  }
  RouteDecision decision{config_, {}};
  if (request.pinned_provider) {
    for (const ModelRoute* route : routes) {
      for (const RouteEntry& entry : route->entries) {
        if (entry.provider != *request.pinned_provider) {
          continue;
        }
        if (auto c = make_candidate(*route, entry, request)) {
          decision.candidates.push_back(std::move(*c));
          return decision;
        }
      }
    }
    return make_error(ErrorCode::NotFound, "provider '" + std::string(*request.pinned_provider) +
                                               "' is unknown, disabled, or not configured for "
                                               "model '" +
                                               std::string(request.model) + "'");
  }
  // The first matching route with a healthy candidate; failing that, the first with any.
  std::vector<Candidate> fallback;
  for (const ModelRoute* route : routes) {
    std::vector<Candidate> candidates;
    for (const RouteEntry& entry : route->entries) {
      if (auto c = make_candidate(*route, entry, request)) {
        candidates.push_back(std::move(*c));
      }
    }
    const bool any_healthy =
        std::any_of(candidates.begin(), candidates.end(), [](const Candidate& c) { return c.healthy(); });
    if (any_healthy) {
      order(candidates, route->pattern, request.preferred_provider, request.avoided);
      decision.candidates = std::move(candidates);
      return decision;
    }
    if (fallback.empty()) {
      fallback = std::move(candidates);
    }
  }
  if (fallback.empty()) {
    return make_error(ErrorCode::NotFound,
                      "no enabled provider is configured for model '" + std::string(request.model) + "'");
  }
  order(fallback, fallback.front().route_pattern, std::nullopt, std::nullopt);
  decision.candidates = std::move(fallback);
  return decision;
}

}  // namespace balancer
