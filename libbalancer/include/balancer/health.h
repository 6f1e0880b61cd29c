// health.h — the value types of provider health (spec §6): the thresholds (HealthConfig), what
// one attempt gave (Outcome), what a provider looks like now (HealthSnapshot), whether it may
// be tried (HealthPermit), and the read-only HealthView the Router orders candidates by.
// Shared by HealthTracker, StateStore and Router; value types, safe to copy between threads.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <balancer/clock.h>
#include <balancer/config.h>

namespace balancer {

struct HealthConfig {
  int unhealthy_threshold = 2;
  Duration failure_cooldown = std::chrono::seconds(180);
  bool reset_on_success = true;
  Duration reset_timeout = std::chrono::seconds(300);  // zero: never forget a partial count
  // Cooldowns (doubled ones and Retry-After) never exceed max_cooldown_factor x failure_cooldown.
  int max_cooldown_factor = 10;

  static HealthConfig from(const Settings& settings);
};

// What one attempt at a provider gave, as far as its health is concerned.
struct Outcome {
  bool success = false;
  std::string error_class;              // failures: "http_status", "connection_error", "timeout_error",
                                        // "ssl_error", "error_payload", "stream_error", ...
  int status = 0;                       // HTTP status when one was received
  std::optional<Duration> retry_after;  // from a 429/503/529

  static Outcome ok() { return Outcome{true, {}, 0, std::nullopt}; }
  static Outcome failure(std::string error_class, int status = 0, std::optional<Duration> retry_after = std::nullopt) {
    return Outcome{false, std::move(error_class), status, retry_after};
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
