// health.h — the value types of provider health (spec §6): the thresholds (HealthConfig), what
// one attempt gave (Outcome), what a provider looks like now (HealthSnapshot), whether it may
// be tried (HealthPermit), and the read-only HealthView the Router orders candidates by.
// Shared by HealthTracker, StateStore and Router; value types, safe to copy between threads.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <balancer/clock.h>
#include <balancer/config.h>

namespace balancer {

// What kind of failure a cooldown is for (`settings.cooldowns`): each class may have its own.
enum class CooldownClass { RateLimit, Overloaded, ServerError, Auth, Connection, Timeout };
inline constexpr std::size_t kCooldownClasses = 6;

// "rate_limit", "overloaded", "server_error", "auth", "connection", "timeout".
std::string_view to_string(CooldownClass cooldown_class);

// The class of a failure: from the Anthropic error type an upstream sent (`rate_limit_error`,
// `overloaded_error`, `authentication_error`, `permission_error`) when known, else its failure
// class name (timeouts, connection and TLS errors, refused OAuth tokens), else its HTTP status
// (429; 529 and 503; 401, 402 and 403; 408, 504 and 524); anything else is a server error. Pure.
CooldownClass cooldown_class_of(std::string_view error_class, int status, std::string_view upstream_error_type = {});

struct HealthConfig {
  int unhealthy_threshold = 2;
  Duration failure_cooldown = std::chrono::seconds(180);
  // Per-class cooldowns (indexed by CooldownClass); a class not set uses failure_cooldown.
  std::array<std::optional<Duration>, kCooldownClasses> cooldowns{};
  bool reset_on_success = true;
  Duration reset_timeout = std::chrono::seconds(300);  // zero: never forget a partial count
  // Cooldowns (doubled ones and Retry-After) never exceed max_cooldown_factor x the class's
  // cooldown.
  int max_cooldown_factor = 10;

  // The base cooldown of a class: its own, else failure_cooldown.
  Duration cooldown_for(CooldownClass cooldown_class) const {
    return cooldowns[static_cast<std::size_t>(cooldown_class)].value_or(failure_cooldown);
  }

  static HealthConfig from(const Settings& settings);
};

// What one attempt at a provider gave, as far as its health is concerned.
struct Outcome {
  bool success = false;
  std::string error_class;  // failures: "http_status", "connection_error", "timeout_error",
                            // "ssl_error", "error_payload", "stream_error", ...
  int status = 0;           // HTTP status when one was received
  // From a 429/503/529: the provider is out until then, whatever its failure count.
  std::optional<Duration> retry_after;
  // Failures: which cooldown applies; nullopt = cooldown_class_of(error_class, status).
  std::optional<CooldownClass> cooldown_class;

  static Outcome ok() { return Outcome{true, {}, 0, std::nullopt, std::nullopt}; }
  static Outcome failure(std::string error_class, int status = 0, std::optional<Duration> retry_after = std::nullopt,
                         std::optional<CooldownClass> cooldown_class = std::nullopt) {
    return Outcome{false, std::move(error_class), status, retry_after, cooldown_class};
  }
};

// Point-in-time view of one provider, for /providers and logs.
struct HealthSnapshot {
  bool healthy = true;             // may be picked now (healthy, or cooldown over and probe free)
  std::string status = "healthy";  // healthy | unhealthy | probing | low_balance
  int failure_count = 0;           // consecutive failures
  int threshold = 2;
  double cooldown_remaining_s = 0.0;
  std::string last_error;  // error class of the last failure; empty if none
  int last_status = 0;     // HTTP status of the last failure; 0 if none
  int ejections = 0;       // consecutive cooldowns (doubling exponent)
};

// May a request try a provider now? Granted (healthy), GrantedProbe (the single half-open
// probe, or forced because every candidate is in cooldown), Skip.
enum class HealthPermit { Granted, GrantedProbe, Skip };

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
  std::optional<SteadyTime> unavailable_until(std::string_view /*provider*/) const override { return std::nullopt; }
};

}  // namespace balancer
