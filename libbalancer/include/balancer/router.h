// router.h — maps a request's model (and optional provider pin) to the ordered list of
// provider candidates to try (spec §5).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <balancer/clock.h>
#include <balancer/config.h>
#include <balancer/error.h>
#include <balancer/health.h>
#include <balancer/random.h>

namespace balancer {

struct RouteRequest {
  std::string_view model;
  std::optional<std::string_view> pinned_provider;  // the body's "provider" field
  // Conversation affinity: the provider that served this conversation before. Put first when
  // it is a healthy candidate; ignored otherwise.
  std::optional<std::string_view> preferred_provider = std::nullopt;
  // The health key (provider, or provider/account) whose committed stream of this conversation
  // just failed: among the healthy candidates it goes last (and an unbound OAuth provider picks
  // another account), so the retry lands elsewhere. It never removes a candidate.
  std::optional<std::string_view> avoided = std::nullopt;
  // OAuth providers that bind no account (spec §9): the accounts logged in and usable, and the
  // conversation key that picks one of them (rendezvous hashing: a conversation keeps its
  // account while that account is not cooling down). Empty: such candidates get no account.
  std::span<const std::string> oauth_accounts = {};
  std::string_view conversation = {};
};

// One provider to try. Points into the router's config snapshot, which RouteDecision keeps alive.
struct Candidate {
  const ProviderConfig* provider = nullptr;
  std::string upstream_model;  // the model to send: the route's, or the client's (passthrough)
  bool rewrite_model = false;  // true when upstream_model differs from the client's model
  std::string route_pattern;
  int priority = 1;
  int weight = 1;
  // OAuth providers: the account the route entry or the provider binds, else the one chosen for
  // the conversation among RouteRequest::oauth_accounts (empty: no account to use).
  std::string account_email;
  // Set while the provider is in cooldown: such candidates are tried only after every healthy
  // one, earliest cooldown end first.
  std::optional<SteadyTime> cooldown_until;

  bool healthy() const { return !cooldown_until.has_value(); }
};

// The key a provider's health is tracked under (spec §9: per provider and account): the
// provider's name, or "name/email" for an OAuth account the provider entry does not bind itself
// (bound by a route entry, or chosen per conversation). `account_email` may be empty.
std::string health_key(const ProviderConfig& provider, std::string_view account_email);

// The ordered candidates for one request, plus the config snapshot they point into.
struct RouteDecision {
  std::shared_ptr<const BalancerConfig> config;
  std::vector<Candidate> candidates;
};

// Route lookup and candidate ordering. Thread-safe: route() reads health through the HealthView
// and keeps the rotation state of round_robin / weighted_round_robin per route under a mutex.
// `health` and `random` must outlive the Router.
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
                                          const RouteRequest& request) const;
  // Unbound OAuth candidates: the conversation's account unless it is cooling down (or avoided
  // while another is usable); with every account cooling down, the one whose cooldown ends
  // first (the candidate is then in cooldown).
  void choose_account(Candidate& candidate, const RouteRequest& request) const;
  void order(std::vector<Candidate>& candidates, const std::string& route_pattern,
             std::optional<std::string_view> preferred, std::optional<std::string_view> avoided) const;
  std::size_t pick_first(const std::vector<Candidate>& healthy, const std::string& route_pattern) const;

  // Rotation state of one route.
  struct Rotation {
    std::uint64_t next = 0;                        // round_robin
    std::map<std::string, long long> wrr_current;  // weighted_round_robin, by provider
  };

  std::shared_ptr<const BalancerConfig> config_;
  const HealthView& health_;
  Random& random_;
  mutable std::mutex rotation_mutex_;
  mutable std::map<std::string, Rotation> rotations_;  // by route pattern; guarded by rotation_mutex_
};

}  // namespace balancer
