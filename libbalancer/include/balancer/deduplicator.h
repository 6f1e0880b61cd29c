// deduplicator.h — coalesces identical in-flight requests into one upstream call and fans its
// response out, byte for byte, to every identical request (spec §8), with an opt-in cache of
// completed responses.
//
// A flight is keyed by dedup_key(): a SHA-256 of the path, the body bytes, the headers that
// change the answer and the caller's identity, so different bodies or callers never share. The
// first request of a key (the leader) produces the response — on its own thread, by calling the
// producer it passes to subscribe() — and every identical request that arrives while the flight
// runs (a follower) subscribes to it. A flight records the status, headers and body bytes; a
// subscriber reads everything recorded so far, then the live tail, woken by a condition variable.
// Transport-agnostic: the producer returns a Response (a body, or a BodySource).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <balancer/clock.h>
#include <balancer/http.h>
#include <balancer/response.h>

namespace balancer {

// The key of a request: hex SHA-256 over length-prefixed path, body, the `anthropic-version` and
// `anthropic-beta` headers (they change the answer) and `caller` (the client key, the forwarded
// credential for passthrough providers, or the OAuth account). Pure; any thread. Never throws:
// when no key can be made (OpenSSL or the allocator failed) it returns an empty string, which
// subscribe() never coalesces or caches.
std::string dedup_key(std::string_view path, std::string_view body, const Headers& headers,
                      std::string_view caller) noexcept;

struct DedupOptions {
  // Bytes a flight records while it accepts followers. Past this, no new follower joins (an
  // identical request starts its own flight) and bytes every subscriber has read are dropped.
  std::size_t max_flight_bytes = 64u << 20;
  // Flights in progress; past this, new requests run without coalescing (role None).
  std::size_t max_flights = 1024;
  // Opt-in cache of completed successful (2xx, stream completed) responses: 0 = off.
  std::chrono::milliseconds cache_ttl{0};
  std::size_t max_cache_entries = 1000;  // LRU-bounded
};

// How a subscriber got its response.
enum class DedupRole {
  Leader,    // its producer made the upstream call
  Follower,  // joined a flight in progress
  Cache,     // served from the cache
  None,      // not coalesced (flight cap reached): its own producer ran, nothing was recorded
};
std::string_view to_string(DedupRole role);

// One subscriber's view of a flight. Not thread-safe: one per client request, driven by the
// thread that writes to that client. Destroying it leaves the flight; when the last subscriber
// leaves an unfinished flight, its upstream stream is destroyed (the upstream call cancelled).
class DedupSubscription {
 public:
  virtual ~DedupSubscription() = default;
  virtual DedupRole role() const = 0;
  // The response head, available once the leader's producer returned (blocks until then).
  // `headers` are the producer's (the server adds its own per-request headers).
  virtual int status() = 0;
  virtual const Headers& headers() = 0;
  // True when the response is an event stream relayed as it arrives (the producer returned a
  // BodySource); false when the whole body came at once.
  virtual bool streaming() = 0;
  // Replaces `out` with the next recorded bytes, blocking until there are some or the flight
  // ended: true = bytes, false = the end. A subscriber that needs bytes nobody is fetching yet
  // pulls them from the upstream stream itself (so the flight goes on when the leader leaves).
  virtual bool next(std::string& out) = 0;
  // After the end: whether the response completed (non-stream: always; stream: the upstream
  // stream completed — see BodySource::completed()).
  virtual bool completed() = 0;
  // After the end: why a stream did not complete (the upstream stream's failure()); empty
  // when it did.
  virtual std::string failure() = 0;
  // The producer's Response fields that are not bytes (attempts, provider, model), for the
  // request log: the leader's own; followers and cache hits see the leader's.
  virtual const Response& meta() = 0;
};

// Counters for /providers. Value type.
struct DedupStats {
  std::uint64_t leaders = 0;
  std::uint64_t followers = 0;
  std::uint64_t cache_hits = 0;
  std::uint64_t uncoalesced = 0;  // role None
  std::size_t flights_in_progress = 0;
  std::size_t cache_entries = 0;
  // Response bytes held in memory by flights (in progress or still read) and by the cache.
  std::size_t recorded_bytes_held = 0;
};

// Thread-safe. Owned by the server (shared by every config snapshot); `clock` must outlive it.
class Deduplicator {
 public:
  using Producer = std::function<Response()>;

  Deduplicator(DedupOptions options, const Clock& clock);
  ~Deduplicator();
  Deduplicator(const Deduplicator&) = delete;
  Deduplicator& operator=(const Deduplicator&) = delete;

  // The response for `key`: from the cache (unless `bypass_cache`, e.g. the client sent
  // `cache-control: no-cache`), by joining the flight in progress for `key` when it still
  // accepts followers, or else by running `produce` on the calling thread as the leader of a new
  // flight (role None when max_flights flights are in progress, or when `key` is empty). Never
  // blocks for the leader beyond `produce` itself; a follower's calls block until the leader's
  // producer returned.
  std::unique_ptr<DedupSubscription> subscribe(const std::string& key, const Producer& produce,
                                               bool bypass_cache = false);

  // Subscribers of the flight in progress for `key` (its leader included); 0 when there is none.
  // A leader whose client went away cancels its upstream call only while it is the only one.
  std::size_t listeners(const std::string& key) const;

  // Changes the caps and cache settings for new flights (config reload).
  void set_options(DedupOptions options);
  DedupStats stats() const;
  // Waits until `predicate(stats())` holds: evaluated now and again after every change of a
  // counter (woken by the change itself, never by polling), on the calling thread with no lock of
  // the Deduplicator held. Returns true once it held, false when `timeout` of real time
  // (Clock::real(), not the injected clock, which a test may have frozen) passed first. For tests
  // and diagnostics that wait for followers to join, flights to end or bytes to be recorded;
  // the counters' hot path pays one uncontended lock per change for it.
  bool wait_for_stats(const std::function<bool(const DedupStats&)>& predicate, std::chrono::milliseconds timeout) const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace balancer
