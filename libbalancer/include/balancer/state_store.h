// state_store.h — the seam under the Gateway that holds every piece of cross-request mutable
// state: provider health (per health key), the balance check's low-balance flags, conversation
// affinity and per-provider traffic counters. HealthTracker, ConversationAffinity and
// ProviderStats are thin facades over one store, so a Gateway shares a single store between
// them, and a shared implementation (several balancer instances on one Redis) is a second
// StateStore, not a rewrite.
//
// Every operation is one small atomic step on one key, with `now` passed in by the caller (the
// store reads no clock), and returns values: no reference into the store's internals is ever
// handed out. Implementations must be thread-safe: any request thread may call any operation.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <balancer/clock.h>
#include <balancer/health.h>

namespace balancer {

// Per-provider traffic counters shown by /providers. Kept by provider name, so they survive a
// config reload. Value type.
struct ProviderCounters {
  std::uint64_t requests = 0;                 // attempts sent to the provider
  std::uint64_t failures = 0;                 // attempts that failed (before or after the first byte)
  std::string last_error;                     // e.g. "HTTP 529" or "connection_error"; never contains secrets
  std::chrono::milliseconds last_latency{0};  // time to response headers of the last success
};

class StateStore {
 public:
  virtual ~StateStore() = default;

  // --- provider health (spec §6), keyed by health_key(provider, account) -------------------
  // May a request try `key` now? A low balance skips unless `force`; see HealthPermit.
  virtual HealthPermit health_acquire(std::string_view key, const HealthConfig& config, SteadyTime now, bool force) = 0;
  // Records one attempt's outcome (also ends a probe).
  virtual void health_record(std::string_view key, const Outcome& outcome, const HealthConfig& config,
                             SteadyTime now) = 0;
  // A probe that ended without an outcome: the next caller may probe.
  virtual void health_release_probe(std::string_view key) = 0;
  // nullopt when `key` may be used now; otherwise when it may be again.
  virtual std::optional<SteadyTime> health_unavailable_until(std::string_view key, const HealthConfig& config,
                                                             SteadyTime now) const = 0;
  virtual HealthSnapshot health_snapshot(std::string_view key, const HealthConfig& config, SteadyTime now) const = 0;
  // The balance check's verdict: a low balance makes the provider unavailable until cleared.
  virtual void set_low_balance(std::string_view provider, bool low) = 0;

  // --- conversation affinity ------------------------------------------------------------------
  // The provider that last served `conversation`, unless that entry expired by `now`.
  virtual std::optional<std::string> affinity_get(std::string_view conversation, SteadyTime now) = 0;
  // `provider` served `conversation`; remembered until `expires_at`.
  virtual void affinity_put(std::string_view conversation, std::string_view provider, SteadyTime expires_at) = 0;
  virtual std::size_t affinity_size() const = 0;

  // --- traffic counters -------------------------------------------------------------------------
  virtual void count_attempt(std::string_view provider) = 0;
  virtual void count_success(std::string_view provider, std::chrono::milliseconds latency) = 0;
  virtual void count_failure(std::string_view provider, std::string_view error) = 0;
  virtual ProviderCounters counters(std::string_view provider) const = 0;
};

// Today's behaviour, in this process's memory. `max_affinity_entries` bounds the affinity map
// (least recently used entries are evicted first).
std::shared_ptr<StateStore> make_memory_state_store(std::size_t max_affinity_entries = 10000);

}  // namespace balancer
