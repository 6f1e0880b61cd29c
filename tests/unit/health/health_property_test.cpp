// Action-replay property test of HealthTracker + Router (spec §5, §6; issue 4): from fixed
// seeds, thousands of random sequences of outcomes, clock advances, balance flags and routed
// requests (acquired in order as the Forwarder does, some left in flight to model concurrent
// requests) run against the real components on a ManualClock. After every step the
// invariants below are checked against an independent model; the first violation stops the
// sequence and is reported with the seed and the replayable action trace.
//
// Invariants:
//  - routing: the candidates are exactly the usable entries (entry and provider enabled) of the
//    first matching route with a healthy candidate (else of the first with any), each once;
//  - every candidate's cooldown_until equals the tracker's unavailable_until() now;
//  - healthy candidates come first; candidates in cooldown follow, earliest cooldown end first;
//    so whenever a candidate is healthy, the first one is;
//  - the strategy (or a healthy preferred provider) picks only the first candidate: the other
//    healthy ones stay in base order (priority, then weight, then file order); priority,
//    round_robin, weighted_round_robin and random pick exactly as their definitions say;
//  - acquire(force=false) on a provider with unavailable_until() set returns Skip, and on one
//    without it never does; snapshot().healthy agrees with unavailable_until();
//  - a non-forced acquire never hands out GrantedProbe while an earlier probe of that provider
//    has had neither an outcome nor a release (forced acquires — every candidate in cooldown —
//    are tried regardless, per spec §6, and are exempt);
//  - no cooldown exceeds 10 x failure_cooldown (low balance aside).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <balancer/health_tracker.h>

#include <balancer/random.h>
#include <balancer/router.h>
#include <balancer/testing/manual_clock.h>
#include "health/upstream_health.h"

using namespace balancer;
using Permit = detail::UpstreamHealth::Permit;
using std::chrono::milliseconds;

namespace {

// The test's own draws (actions, configs): seeded, reproducible.
class Draws {
 public:
  explicit Draws(std::uint64_t seed) : random_(make_seeded_random(seed)) {}
  std::uint64_t below(std::uint64_t n) { return uniform_below(random_->next_u64(), n); }
  int between(int lo, int hi) { return lo + static_cast<int>(below(static_cast<std::uint64_t>(hi - lo + 1))); }
  bool percent(int p) { return below(100) < static_cast<std::uint64_t>(p); }

 private:
  std::unique_ptr<Random> random_;
};

// The router's randomness, recording every draw so that the random strategy can be checked.
class RecordingRandom final : public Random {
 public:
  explicit RecordingRandom(std::uint64_t seed) : inner_(make_seeded_random(seed)) {}
  std::uint64_t next_u64() override {
    last = inner_->next_u64();
    ++count;
    return last;
  }
  std::uint64_t last = 0;
  std::uint64_t count = 0;

 private:
  std::unique_ptr<Random> inner_;
};

const char* permit_name(Permit p) {
  switch (p) {
    case Permit::Granted: return "Granted";
    case Permit::GrantedProbe: return "GrantedProbe";
    case Permit::Skip: return "Skip";
  }
  return "?";
}

const char* strategy_name(SelectionStrategy s) {
  switch (s) {
    case SelectionStrategy::Priority: return "priority";
    case SelectionStrategy::RoundRobin: return "round_robin";
    case SelectionStrategy::WeightedRoundRobin: return "weighted_round_robin";
    case SelectionStrategy::Random: return "random";
  }
  return "?";
}

// The models a request may ask for, and the routes (indices into model_routes) each matches in
// lookup order: exact key first, then globs in file order (case-insensitively).
struct ModelCase {
  const char* model;
  std::vector<std::size_t> routes;
};
const std::vector<const char*> kRoutePatterns = {"exact-model", "claude-*", "*"};
const std::vector<ModelCase> kModels = {
    {"exact-model", {0, 2}},
    {"claude-sonnet-4-5", {1, 2}},
    {"CLAUDE-HAIKU", {1, 2}},
    {"gpt-4o", {2}},
};

const std::vector<std::string> kFailureClasses = {"http_status",   "connection_error", "timeout_error", "ssl_error",
                                                  "error_payload", "stream_error",     "empty_body",    "html_body"};
const std::vector<int> kStatuses = {429, 500, 502, 503, 529, 401, 403, 408, 200};

// Deliberate faults, for checking that the checker is not vacuous.
enum class Fault {
  None,
  RouterIgnoresHealth,  // the Router is given a HealthView that reports every provider healthy
  ProbeFlagLost,        // right after a GrantedProbe the driver releases the probe behind the model's back
};

struct InFlight {
  std::string provider;
  Permit permit = Permit::Granted;
  bool forced = false;
};

struct Coverage {
  std::uint64_t steps = 0;
  std::uint64_t routes = 0;
  std::uint64_t forced_routes = 0;
  std::uint64_t skips = 0;
  std::uint64_t probes = 0;
  std::uint64_t forced_probes = 0;
  std::uint64_t preferred_first = 0;
  std::uint64_t fallback_routes = 0;
  std::uint64_t not_found = 0;
  std::uint64_t cooldown_candidates_ordered = 0;
  std::uint64_t rr_checked = 0;
  std::uint64_t wrr_checked = 0;
  std::uint64_t random_checked = 0;

  void add(const Coverage& o) {
    steps += o.steps;
    routes += o.routes;
    forced_routes += o.forced_routes;
    skips += o.skips;
    probes += o.probes;
    forced_probes += o.forced_probes;
    preferred_first += o.preferred_first;
    fallback_routes += o.fallback_routes;
    not_found += o.not_found;
    cooldown_candidates_ordered += o.cooldown_candidates_ordered;
    rr_checked += o.rr_checked;
    wrr_checked += o.wrr_checked;
    random_checked += o.random_checked;
  }
};

// Adds a line to a Sequence's trace. Tracing is off while searching (formatting every step
// would dominate the run time) and on when a failing sequence is replayed for its report.
#define TRACE(...)                   \
  do {                               \
    if (tracing_) {                  \
      log(fmt::format(__VA_ARGS__)); \
    }                                \
  } while (false)

// One random sequence: a random config, a tracker, a router, and the model of what must hold.
class Sequence {
 public:
  // Everything follows from `seed`: the same seed replays the same sequence.
  Sequence(std::uint64_t seed, Fault fault, bool tracing = false)
      : draws_(seed), router_random_(seed ^ 0x9e3779b97f4a7c15ULL), fault_(fault), tracing_(tracing) {
    make_config();
    tracker_ = std::make_unique<HealthTracker>(health_config_, clock_);
    const HealthView& view = fault_ == Fault::RouterIgnoresHealth ? static_cast<const HealthView&>(always_healthy_)
                                                                  : static_cast<const HealthView&>(*tracker_);
    router_ = std::make_unique<Router>(config_, view, router_random_);
  }

  // Runs `steps` random actions; returns the first violation (empty when none).
  std::string run(int steps) {
    for (int i = 0; i < steps && violation_.empty(); ++i) {
      ++coverage_.steps;
      step();
      if (violation_.empty()) {
        check_every_provider();
      }
    }
    return violation_;
  }

  std::string report() const {
    std::ostringstream out;
    out << "config: strategy=" << strategy_name(config_->settings.selection_strategy)
        << " threshold=" << health_config_.unhealthy_threshold
        << " failure_cooldown=" << health_config_.failure_cooldown.count() << "ms"
        << " reset_on_success=" << health_config_.reset_on_success
        << " reset_timeout=" << health_config_.reset_timeout.count() << "ms\n";
    for (const ProviderConfig& p : config_->providers) {
      out << "  provider " << p.name << " weight=" << p.weight << (p.enabled ? "" : " DISABLED") << "\n";
    }
    for (const ModelRoute& r : config_->model_routes) {
      out << "  route " << r.pattern << ":";
      for (const RouteEntry& e : r.entries) {
        out << " " << e.provider << "(prio " << e.priority << ", weight "
            << (e.weight ? std::to_string(*e.weight) : "-") << (e.enabled ? "" : ", disabled") << ")";
      }
      out << "\n";
    }
    out << "trace (t in ms since start):\n";
    for (const std::string& line : trace_) {
      out << "  " << line << "\n";
    }
    return out.str();
  }

  const Coverage& coverage() const { return coverage_; }

 private:
  // ------------------------------------------------------------------------------ generation

  void make_config() {
    auto config = std::make_shared<BalancerConfig>();
    const int providers = draws_.between(3, 5);
    for (int i = 0; i < providers; ++i) {
      ProviderConfig p;
      p.name = fmt::format("p{}", i);
      p.base_url = "http://127.0.0.1:1";
      p.auth_value = "k";
      p.weight = draws_.between(1, 5);
      p.enabled = draws_.percent(85);
      config->providers.push_back(p);
    }
    for (const char* pattern : kRoutePatterns) {
      ModelRoute route;
      route.pattern = pattern;
      std::vector<int> order(static_cast<std::size_t>(providers));
      for (int i = 0; i < providers; ++i) {
        order[static_cast<std::size_t>(i)] = i;
      }
      for (std::size_t i = order.size(); i > 1; --i) {  // Fisher-Yates: random file order
        std::swap(order[i - 1], order[draws_.below(i)]);
      }
      for (int index : order) {
        if (!draws_.percent(65)) {
          continue;
        }
        RouteEntry e;
        e.provider = fmt::format("p{}", index);
        e.priority = draws_.between(0, 3);
        if (draws_.percent(50)) {
          e.weight = draws_.between(1, 5);
        }
        e.enabled = draws_.percent(85);
        route.entries.push_back(e);
      }
      if (route.entries.empty()) {
        RouteEntry e;
        e.provider = fmt::format("p{}", order.front());
        route.entries.push_back(e);
      }
      config->model_routes.push_back(route);
    }
    const SelectionStrategy strategies[] = {SelectionStrategy::Priority, SelectionStrategy::RoundRobin,
                                            SelectionStrategy::WeightedRoundRobin, SelectionStrategy::Random};
    config->settings.selection_strategy = strategies[draws_.below(4)];
    health_config_.unhealthy_threshold = draws_.between(1, 3);
    health_config_.failure_cooldown = milliseconds(draws_.between(1, 120) * 1000 + draws_.between(0, 999));
    health_config_.reset_on_success = draws_.percent(75);
    health_config_.reset_timeout = draws_.percent(20) ? milliseconds(0) : milliseconds(draws_.between(10, 600) * 1000);
    config_ = std::move(config);
  }

  Outcome random_outcome() {
    if (draws_.percent(40)) {
      return Outcome::ok();
    }
    const std::string& error_class = kFailureClasses[draws_.below(kFailureClasses.size())];
    const int status =
        error_class == "http_status" || error_class == "error_payload" ? kStatuses[draws_.below(kStatuses.size())] : 0;
    std::optional<Duration> retry_after;
    if ((status == 429 || status == 503 || status == 529) && draws_.percent(50)) {
      retry_after = milliseconds(draws_.between(0, 900) * 1000);
    }
    return Outcome::failure(error_class, status, retry_after);
  }

  static std::string describe(const Outcome& o) {
    if (o.success) {
      return "success";
    }
    return fmt::format("failure {} status={}{}", o.error_class, o.status,
                       o.retry_after ? fmt::format(" retry_after={}ms", o.retry_after->count()) : "");
  }

  std::string now_label() const {
    return std::to_string(std::chrono::duration_cast<milliseconds>(clock_.now() - start_).count());
  }

  void log(std::string line) {
    trace_.push_back("t=" + now_label() + " " + std::move(line));
    if (trace_.size() > 400) {
      trace_.erase(trace_.begin(), trace_.begin() + 100);
    }
  }

  void fail(std::string what) {
    if (violation_.empty()) {
      violation_ = "t=" + now_label() + ": " + std::move(what);
    }
  }

  const std::string& random_provider() { return config_->providers[draws_.below(config_->providers.size())].name; }

  // ------------------------------------------------------------------------------- actions

  void step() {
    const auto action = draws_.below(100);
    if (action < 20) {
      const std::string name = random_provider();
      const Outcome outcome = random_outcome();
      TRACE("record {} {}", name, describe(outcome));
      record(name, outcome);
    } else if (action < 42) {
      advance_clock();
    } else if (action < 47) {
      const std::string name = random_provider();
      const bool low = draws_.percent(50);
      TRACE("set_low_balance {} {}", name, low);
      tracker_->set_low_balance(name, low);
    } else if (action < 57 && !in_flight_.empty()) {
      finish_in_flight();
    } else {
      route_request();
    }
  }

  void record(const std::string& provider, const Outcome& outcome) {
    const HealthSnapshot before = tracker_->snapshot(provider);
    const auto until_before = tracker_->unavailable_until(provider);
    const bool probe_before = probe_out_[provider];
    tracker_->record(provider, outcome);
    probe_out_[provider] = false;          // any outcome ends a probe
    if (fault_ != Fault::ProbeFlagLost) {  // that fault falsifies probe_before on purpose
      check_outcome(provider, outcome, before, until_before, probe_before);
    }
  }

  // Spec §6 for one recorded outcome: a success makes the provider healthy (count reset when
  // it ends a cooldown or reset_on_success); a failure adds 1 to the count; reaching the
  // threshold starts a cooldown of failure_cooldown, or the Retry-After when longer (capped);
  // below the threshold a Retry-After alone puts the provider out until then (capped); a failure
  // after the cooldown (the probe's) starts a doubled one, capped at 10x; a late failure during
  // a cooldown counts but neither doubles nor shortens it (its Retry-After may extend it),
  // unless it is the outcome of a (forced) probe.
  void check_outcome(const std::string& provider, const Outcome& outcome, const HealthSnapshot& before,
                     const std::optional<SteadyTime>& until_before, bool probe_before) {
    const HealthSnapshot after = tracker_->snapshot(provider);
    if (before.status == "low_balance" || after.status == "low_balance") {
      return;  // the balance flag hides the health state
    }
    const SteadyTime now = clock_.now();
    const auto until = tracker_->unavailable_until(provider);
    if (outcome.success) {
      if (until) {
        return fail(fmt::format("{} is not healthy after a success", provider));
      }
      const int expected = before.status != "healthy" || health_config_.reset_on_success ? 0 : before.failure_count;
      if (after.failure_count != expected || (before.status != "healthy" && after.ejections != 0)) {
        return fail(fmt::format("{}: after a success count={} ejections={}, expected count={}", provider,
                                after.failure_count, after.ejections, expected));
      }
      return;
    }
    if (after.failure_count != before.failure_count + 1 || after.last_error != outcome.error_class ||
        after.last_status != outcome.status) {
      return fail(fmt::format("{}: a failure made count {} -> {} (last {} {})", provider, before.failure_count,
                              after.failure_count, after.last_error, after.last_status));
    }
    const Duration cap = health_config_.failure_cooldown * health_config_.max_cooldown_factor;
    const auto expected_cooldown = [&](int ejections) {
      Duration d = health_config_.failure_cooldown;
      for (int i = 1; i < ejections && d < cap; ++i) {
        d = std::min(cap, d * 2);
      }
      if (outcome.retry_after) {
        d = std::max(d, std::clamp(*outcome.retry_after, Duration::zero(), cap));
      }
      return d;
    };
    std::optional<SteadyTime> retry_until;
    if (outcome.retry_after && *outcome.retry_after > Duration::zero()) {
      retry_until = now + std::min(*outcome.retry_after, cap);
    }
    std::optional<SteadyTime> expected;
    if (before.status == "healthy") {
      if (after.failure_count >= health_config_.unhealthy_threshold) {
        expected = now + expected_cooldown(1);
      } else {
        expected = retry_until;
      }
    } else if (before.status == "probing" || probe_before) {
      expected = now + expected_cooldown(before.ejections + 1);
      // A forced probe failing inside a Retry-After window (no ejection yet) keeps the window.
      if (before.ejections == 0 && until_before && *until_before > *expected) {
        expected = until_before;
      }
    } else {
      expected = until_before;  // a late failure during the cooldown
      if (retry_until && (!expected || *retry_until > *expected)) {
        expected = retry_until;
      }
      // No ejection yet: the cooldown is a Retry-After window below the threshold; reaching the
      // threshold inside it starts a real cooldown (never shorter than the window).
      if (before.ejections == 0 && after.failure_count >= health_config_.unhealthy_threshold) {
        expected = std::max(*expected, now + expected_cooldown(1));
      }
    }
    if (until != expected) {
      const auto show = [&](const std::optional<SteadyTime>& t) {
        return t ? std::to_string(std::chrono::duration_cast<milliseconds>(*t - now).count()) + "ms" : "none";
      };
      fail(fmt::format("{} ({} before, ejections {}): after {} the cooldown is {}, expected {}", provider,
                       before.status, before.ejections, describe(outcome), show(until), show(expected)));
    }
  }

  void release(const std::string& provider) {
    tracker_->release_probe(provider);
    probe_out_[provider] = false;
  }

  void advance_clock() {
    const auto kind = draws_.below(10);
    milliseconds by{0};
    if (kind < 1) {
      // Exactly to the earliest future cooldown end: the boundary, where the provider is
      // usable again.
      std::optional<SteadyTime> earliest;
      for (const ProviderConfig& p : config_->providers) {
        if (auto until = tracker_->unavailable_until(p.name); until && *until > clock_.now()) {
          earliest = earliest ? std::min(*earliest, *until) : *until;
        }
      }
      if (earliest) {
        by = std::chrono::duration_cast<milliseconds>(*earliest - clock_.now());
      }
    } else if (kind < 4) {
      by = milliseconds(draws_.below(2'000));
    } else {
      by = milliseconds(draws_.below(400'001));
    }
    TRACE("advance {}ms", by.count());
    clock_.advance(by);
  }

  void finish_in_flight() {
    const std::size_t index = draws_.below(in_flight_.size());
    const InFlight flight = in_flight_[index];
    in_flight_.erase(in_flight_.begin() + static_cast<std::ptrdiff_t>(index));
    if (draws_.percent(20)) {
      TRACE("in-flight {} ({}) cancelled: release_probe", flight.provider, permit_name(flight.permit));
      release(flight.provider);
    } else {
      const Outcome outcome = random_outcome();
      TRACE("in-flight {} ({}) ends: {}", flight.provider, permit_name(flight.permit), describe(outcome));
      record(flight.provider, outcome);
    }
  }

  // ------------------------------------------------------------------------ routed requests

  // The usable entries of a route, in file order.
  std::vector<const RouteEntry*> usable_entries(const ModelRoute& route) const {
    std::vector<const RouteEntry*> out;
    for (const RouteEntry& e : route.entries) {
      const ProviderConfig* p = config_->find_provider(e.provider);
      if (e.enabled && p != nullptr && p->enabled) {
        out.push_back(&e);
      }
    }
    return out;
  }

  int entry_weight(const RouteEntry& e) const { return e.weight.value_or(config_->find_provider(e.provider)->weight); }

  void route_request() {
    ++coverage_.routes;
    const ModelCase& model = kModels[draws_.below(kModels.size())];
    std::optional<std::string> preferred;
    if (draws_.percent(35)) {
      preferred = random_provider();
    }
    RouteRequest request{model.model, std::nullopt, std::nullopt};
    if (preferred) {
      request.preferred_provider = *preferred;
    }
    const std::uint64_t draws_before = router_random_.count;
    auto decision = router_->route(request);
    TRACE("route {}{} -> {}", model.model, preferred ? " preferred=" + *preferred : "",
          decision ? describe(decision->candidates) : "error: " + decision.error().message);

    // The expected route: the first matching one with a healthy usable candidate, else the
    // first with any usable candidate.
    const ModelRoute* expected = nullptr;
    const ModelRoute* fallback = nullptr;
    for (std::size_t index : model.routes) {
      const ModelRoute& route = config_->model_routes[index];
      const auto entries = usable_entries(route);
      if (entries.empty()) {
        continue;
      }
      if (fallback == nullptr) {
        fallback = &route;
      }
      if (std::any_of(entries.begin(), entries.end(),
                      [&](const RouteEntry* e) { return !tracker_->unavailable_until(e->provider); })) {
        expected = &route;
        break;
      }
    }
    const bool any_healthy_route = expected != nullptr;
    if (expected == nullptr) {
      expected = fallback;
    }
    if (expected == nullptr) {
      ++coverage_.not_found;
      if (decision) {
        fail(fmt::format("model {} has no usable entry, yet route() returned candidates", model.model));
      }
      return;
    }
    if (!decision) {
      fail(fmt::format("route() failed for {}: {}", model.model, decision.error().message));
      return;
    }
    coverage_.fallback_routes += any_healthy_route ? 0 : 1;
    check_decision(*expected, *decision, preferred, draws_before);
    if (violation_.empty()) {
      acquire_in_order(*decision);
    }
  }

  static std::string describe(const std::vector<Candidate>& candidates) {
    std::string out;
    for (const Candidate& c : candidates) {
      out += (out.empty() ? "" : ", ") + c.provider->name + (c.healthy() ? "" : "(cooldown)");
    }
    return "[" + out + "]";
  }

  void check_decision(const ModelRoute& route, const RouteDecision& decision,
                      const std::optional<std::string>& preferred, std::uint64_t draws_before) {
    const auto& candidates = decision.candidates;
    // Exactly the usable entries of the expected route, each once.
    const auto entries = usable_entries(route);
    std::vector<std::string> expected_names;
    for (const RouteEntry* e : entries) {
      expected_names.push_back(e->provider);
    }
    std::vector<std::string> names;
    for (const Candidate& c : candidates) {
      if (c.provider == nullptr) {
        return fail("a candidate without a provider");
      }
      if (c.route_pattern != route.pattern) {
        return fail(fmt::format("candidate {} comes from route {}, expected {}", c.provider->name, c.route_pattern,
                                route.pattern));
      }
      const ProviderConfig* configured = config_->find_provider(c.provider->name);
      if (configured == nullptr || !configured->enabled) {
        return fail(fmt::format("candidate {} is not a configured enabled provider", c.provider->name));
      }
      names.push_back(c.provider->name);
    }
    std::sort(names.begin(), names.end());
    std::sort(expected_names.begin(), expected_names.end());
    if (names != expected_names) {
      return fail(
          fmt::format("candidates {} are not the usable entries of route {}", describe(candidates), route.pattern));
    }
    // Cooldowns as the tracker sees them now; healthy first, then earliest cooldown end first.
    std::size_t healthy_count = 0;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      const auto until = tracker_->unavailable_until(candidates[i].provider->name);
      if (until != candidates[i].cooldown_until) {
        return fail(fmt::format("candidate {}: cooldown_until differs from the tracker's unavailable_until",
                                candidates[i].provider->name));
      }
      if (!until) {
        if (i != healthy_count) {
          return fail(fmt::format("healthy candidate {} is ordered after a provider in cooldown ({})",
                                  candidates[i].provider->name, describe(candidates)));
        }
        ++healthy_count;
      } else if (i > healthy_count && *candidates[i - 1].cooldown_until > *until) {
        return fail(fmt::format("candidates in cooldown not by earliest end: {} before {}",
                                candidates[i - 1].provider->name, candidates[i].provider->name));
      }
    }
    coverage_.cooldown_candidates_ordered += candidates.size() - healthy_count > 1 ? 1 : 0;
    if (healthy_count == 0) {
      if (router_random_.count != draws_before) {
        fail("the router drew a random number with no healthy candidate");
      }
      return;
    }
    // Base order of the healthy candidates: priority, then higher weight, then file order.
    std::vector<const RouteEntry*> base;
    for (const RouteEntry* e : entries) {
      if (!tracker_->unavailable_until(e->provider)) {
        base.push_back(e);
      }
    }
    std::stable_sort(base.begin(), base.end(), [&](const RouteEntry* a, const RouteEntry* b) {
      if (a->priority != b->priority) {
        return a->priority < b->priority;
      }
      return entry_weight(*a) > entry_weight(*b);
    });
    const std::string& first = candidates.front().provider->name;
    const auto chosen = static_cast<std::size_t>(
        std::find_if(base.begin(), base.end(), [&](const RouteEntry* e) { return e->provider == first; }) -
        base.begin());
    if (chosen == base.size()) {
      return fail(fmt::format("first candidate {} is not a healthy usable entry", first));
    }
    std::vector<const RouteEntry*> rest = base;
    rest.erase(rest.begin() + static_cast<std::ptrdiff_t>(chosen));
    for (std::size_t i = 0; i < rest.size(); ++i) {
      if (candidates[i + 1].provider->name != rest[i]->provider) {
        return fail(fmt::format("healthy fallbacks {} are not in base order", describe(candidates)));
      }
    }
    // Who goes first: a healthy preferred provider, else the strategy.
    const bool preferred_healthy = preferred && std::any_of(base.begin(), base.end(), [&](const RouteEntry* e) {
                                     return e->provider == *preferred;
                                   });
    if (preferred_healthy) {
      ++coverage_.preferred_first;
      if (first != *preferred) {
        fail(fmt::format("healthy preferred provider {} is not first ({})", *preferred, describe(candidates)));
      }
      if (router_random_.count != draws_before) {
        fail("the router drew a random number although the preferred provider was chosen");
      }
      return;
    }
    std::vector<int> weights;
    for (const RouteEntry* e : base) {
      weights.push_back(std::max(1, entry_weight(*e)));
    }
    std::size_t expected_first = 0;
    const SelectionStrategy strategy = config_->settings.selection_strategy;
    if (strategy != SelectionStrategy::Priority && base.size() >= 2) {
      if (strategy == SelectionStrategy::RoundRobin) {
        ++coverage_.rr_checked;
        expected_first = static_cast<std::size_t>(rr_next_[route.pattern]++ % base.size());
      } else if (strategy == SelectionStrategy::WeightedRoundRobin) {
        ++coverage_.wrr_checked;
        auto& current = wrr_current_[route.pattern];
        long long total = 0;
        for (std::size_t i = 0; i < base.size(); ++i) {
          current[base[i]->provider] += weights[i];
          total += weights[i];
          if (current[base[i]->provider] > current[base[expected_first]->provider]) {
            expected_first = i;
          }
        }
        current[base[expected_first]->provider] -= total;
      } else {
        ++coverage_.random_checked;
        if (router_random_.count != draws_before + 1) {
          return fail("the random strategy did not draw exactly once");
        }
        long long total = 0;
        for (int w : weights) {
          total += w;
        }
        auto point = static_cast<long long>(uniform_below(router_random_.last, static_cast<std::uint64_t>(total)));
        while (point >= weights[expected_first]) {
          point -= weights[expected_first];
          ++expected_first;
        }
      }
    }
    if (first != base[expected_first]->provider) {
      fail(fmt::format("{} picked {} first, expected {} ({})", strategy_name(strategy), first,
                       base[expected_first]->provider, describe(candidates)));
    }
  }

  // As the Forwarder does: force only when no candidate is healthy; acquire in order; a
  // failure moves on to the next candidate; a success, a cancellation or a request left in
  // flight ends the loop.
  void acquire_in_order(const RouteDecision& decision) {
    const bool force = std::none_of(decision.candidates.begin(), decision.candidates.end(),
                                    [](const Candidate& c) { return c.healthy(); });
    coverage_.forced_routes += force ? 1 : 0;
    for (const Candidate& candidate : decision.candidates) {
      const std::string& name = candidate.provider->name;
      const auto until = tracker_->unavailable_until(name);
      const Permit permit = tracker_->acquire(name, force);
      TRACE("  acquire {} force={} -> {}", name, force, permit_name(permit));
      if (!force) {
        if (until && permit != Permit::Skip) {
          return fail(fmt::format("acquire({}, force=false) returned {} while unavailable until t={}", name,
                                  permit_name(permit),
                                  std::chrono::duration_cast<milliseconds>(*until - start_).count()));
        }
        if (!until && permit == Permit::Skip) {
          return fail(fmt::format("acquire({}, force=false) skipped a provider that is available", name));
        }
        if (permit == Permit::GrantedProbe && probe_out_[name]) {
          return fail(fmt::format("a second probe of {} was handed out while the first is in flight", name));
        }
      } else if (permit == Permit::Skip) {
        return fail(fmt::format("acquire({}, force=true) skipped", name));
      }
      if (permit == Permit::Skip) {
        ++coverage_.skips;
        continue;
      }
      if (permit == Permit::GrantedProbe) {
        ++(force ? coverage_.forced_probes : coverage_.probes);
        probe_out_[name] = true;
        if (fault_ == Fault::ProbeFlagLost) {
          tracker_->release_probe(name);  // the injected fault: the model is not told
        }
      }
      const auto what = draws_.below(100);
      if (what < 25) {
        TRACE("  {} stays in flight", name);
        in_flight_.push_back({name, permit, force});
        return;
      }
      if (what < 30) {
        TRACE("  {} cancelled: release_probe", name);
        release(name);
        return;
      }
      const Outcome outcome = what < 60 ? Outcome::ok() : random_outcome();
      TRACE("  {} answered: {}", name, describe(outcome));
      record(name, outcome);
      if (outcome.success) {
        return;
      }
    }
  }

  // --------------------------------------------------------------------- per-step checks

  void check_every_provider() {
    const SteadyTime now = clock_.now();
    for (const ProviderConfig& p : config_->providers) {
      const auto until = tracker_->unavailable_until(p.name);
      const HealthSnapshot snapshot = tracker_->snapshot(p.name);
      if (snapshot.healthy != !until.has_value()) {
        return fail(fmt::format("{}: snapshot healthy={} but unavailable_until {}", p.name, snapshot.healthy,
                                until ? "set" : "unset"));
      }
      if (until && *until < now) {
        return fail(fmt::format("{}: unavailable_until is in the past", p.name));
      }
      const bool low = snapshot.status == "low_balance";
      const Duration cap = health_config_.failure_cooldown * health_config_.max_cooldown_factor;
      if (until && !low && *until - now > cap) {
        return fail(fmt::format("{}: cooldown of {} ms exceeds the cap of {} ms", p.name,
                                std::chrono::duration_cast<milliseconds>(*until - now).count(), cap.count()));
      }
      if (snapshot.failure_count < 0 || snapshot.threshold != health_config_.unhealthy_threshold) {
        return fail(
            fmt::format("{}: snapshot count {} threshold {}", p.name, snapshot.failure_count, snapshot.threshold));
      }
    }
  }

  Draws draws_;
  RecordingRandom router_random_;
  Fault fault_;
  bool tracing_;
  testing::ManualClock clock_;
  const SteadyTime start_ = clock_.now();
  HealthConfig health_config_;
  std::shared_ptr<const BalancerConfig> config_;
  AlwaysHealthy always_healthy_;
  std::unique_ptr<HealthTracker> tracker_;
  std::unique_ptr<Router> router_;

  std::map<std::string, bool> probe_out_;                                // GrantedProbe with no outcome/release yet
  std::vector<InFlight> in_flight_;                                      // permits held by "concurrent" requests
  std::map<std::string, std::uint64_t> rr_next_;                         // by route pattern
  std::map<std::string, std::map<std::string, long long>> wrr_current_;  // by route, provider
  std::vector<std::string> trace_;
  std::string violation_;
  Coverage coverage_;
};

struct RunResult {
  std::string violation;  // the first one, with its seed and trace; empty when none
  Coverage coverage;
};

RunResult run_property(std::uint64_t seed, int sequences, int steps, Fault fault) {
  RunResult result;
  Draws seeds(seed);
  for (int s = 0; s < sequences; ++s) {
    const std::uint64_t sequence_seed = seeds.below(UINT64_MAX);
    Sequence sequence(sequence_seed, fault);
    const std::string violation = sequence.run(steps);
    result.coverage.add(sequence.coverage());
    if (!violation.empty()) {
      Sequence replay(sequence_seed, fault, /*tracing=*/true);
      const std::string replayed = replay.run(steps);
      result.violation = fmt::format(
          "seed {} sequence {} (sequence seed {}): {}\n{}{}", seed, s, sequence_seed, violation, replay.report(),
          replayed == violation ? "" : "(the replay did not reproduce it: " + replayed + ")\n");
      return result;
    }
  }
  return result;
}

#undef TRACE

}  // namespace

TEST_CASE("property: HealthTracker + Router invariants hold over random action sequences", "[unit][property]") {
  Coverage total;
  for (const std::uint64_t seed : {1ULL, 2ULL, 3ULL, 42ULL, 1234ULL, 0xdeadbeefULL, 20250101ULL, 77777ULL}) {
    const RunResult result = run_property(seed, 250, 40, Fault::None);
    INFO(result.violation);
    REQUIRE(result.violation.empty());
    total.add(result.coverage);
  }
  // The generator reaches the interesting states (the test is not vacuous).
  INFO("steps " << total.steps << ", routes " << total.routes << ", forced " << total.forced_routes << ", skips "
                << total.skips << ", probes " << total.probes << ", forced probes " << total.forced_probes
                << ", preferred first " << total.preferred_first << ", fallback routes " << total.fallback_routes
                << ", not found " << total.not_found << ", cooldown orderings " << total.cooldown_candidates_ordered
                << ", rr " << total.rr_checked << ", wrr " << total.wrr_checked << ", random " << total.random_checked);
  CHECK(total.steps == 8u * 250u * 40u);
  CHECK(total.forced_routes > 100);
  CHECK(total.skips > 1000);
  CHECK(total.probes > 1000);
  CHECK(total.forced_probes > 100);
  CHECK(total.preferred_first > 1000);
  CHECK(total.fallback_routes > 100);
  CHECK(total.not_found > 0);
  CHECK(total.cooldown_candidates_ordered > 100);
  CHECK(total.rr_checked > 1000);
  CHECK(total.wrr_checked > 1000);
  CHECK(total.random_checked > 1000);
}

TEST_CASE("property: the checker catches a router that ignores provider health", "[unit][property]") {
  const RunResult result = run_property(7, 200, 60, Fault::RouterIgnoresHealth);
  INFO(result.violation);
  CHECK_FALSE(result.violation.empty());
}

TEST_CASE("property: the checker catches a second probe handed out while one is in flight", "[unit][property]") {
  const RunResult result = run_property(7, 200, 60, Fault::ProbeFlagLost);
  INFO(result.violation);
  CHECK_THAT(result.violation, Catch::Contains("a second probe"));
}
