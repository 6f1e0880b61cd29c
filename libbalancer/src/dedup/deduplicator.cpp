#include <balancer/deduplicator.h>

#include <array>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/sha256.h"
#include "dedup/dedup_flight.h"

namespace balancer {

namespace {

// SHA-256 over length-prefixed fields, so that no two field sequences hash the same bytes.
class KeyHash {
 public:
  void add_length(std::uint64_t n) noexcept {
    std::array<char, 8> bytes{};
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      bytes[i] = static_cast<char>(static_cast<unsigned char>(n >> (8 * i)));
    }
    sha_.update(std::string_view(bytes.data(), bytes.size()));
  }
  void add_field(std::string_view field) noexcept {
    add_length(field.size());
    sha_.update(field);
  }
  // Every value of header `name`, in order (count-prefixed: absent differs from empty).
  void add_header(const Headers& headers, std::string_view name) noexcept {
    std::uint64_t count = 0;
    for (const auto& entry : headers) {
      count += iequals(entry.first, name) ? 1 : 0;
    }
    add_length(count);
    for (const auto& [header, value] : headers) {
      if (iequals(header, name)) {
        add_field(value);
      }
    }
  }
  std::optional<detail::Sha256Digest> finish() noexcept { return sha_.finish(); }

 private:
  detail::Sha256 sha_;
};

}  // namespace

std::string dedup_key(std::string_view path, std::string_view body, const Headers& headers,
                      std::string_view caller) noexcept {
  KeyHash hash;
  hash.add_field(path);
  hash.add_field(body);
  hash.add_header(headers, "anthropic-version");
  hash.add_header(headers, "anthropic-beta");
  hash.add_field(caller);
  const auto digest = hash.finish();
  if (!digest) {
    return {};
  }
  try {
    return detail::to_hex(*digest);
  } catch (...) {  // std::bad_alloc: no key, so no coalescing (see subscribe)
    return {};
  }
}

std::string_view to_string(DedupRole role) {
  switch (role) {
    case DedupRole::Leader: return "leader";
    case DedupRole::Follower: return "follower";
    case DedupRole::Cache: return "cache";
    case DedupRole::None: return "none";
  }
  return "none";
}

// Flights hold it through a weak_ptr (FlightOwner): they may outlive the Deduplicator.
struct Deduplicator::State final : detail::FlightOwner {
  struct CacheEntry {
    std::shared_ptr<detail::Flight> flight;  // ended, completed, 2xx, every byte held
    SteadyTime stored_at;
    std::list<std::string>::iterator lru;  // position in lru (front = most recent)
  };

  State(DedupOptions opts, const Clock& c) : clock(c), options(opts) {}

  void flight_capped(const detail::Flight& flight) override {
    std::lock_guard lock(mutex);
    unregister_locked(flight);
  }

  void flight_ended(const std::shared_ptr<detail::Flight>& flight, bool cacheable) override {
    std::shared_ptr<detail::Flight> replaced;  // destroyed after the lock
    std::lock_guard lock(mutex);
    if (closed) {
      return;
    }
    if (in_progress > 0) {
      --in_progress;
    }
    unregister_locked(*flight);
    signal->changed();
    if (!cacheable || options.cache_ttl.count() <= 0 || options.max_cache_entries == 0) {
      return;
    }
    auto it = cache.find(flight->key());
    if (it != cache.end()) {
      replaced = std::move(it->second.flight);
      it->second.flight = flight;
      it->second.stored_at = clock.now();
      lru.splice(lru.begin(), lru, it->second.lru);
      return;
    }
    lru.push_front(flight->key());
    cache.emplace(flight->key(), CacheEntry{flight, clock.now(), lru.begin()});
    trim_cache_locked();
    signal->changed();
  }

  void unregister_locked(const detail::Flight& flight) {
    auto it = flights.find(flight.key());
    if (it != flights.end() && it->second.get() == &flight) {
      flights.erase(it);
    }
  }

  void trim_cache_locked() {
    const std::size_t max = options.cache_ttl.count() > 0 ? options.max_cache_entries : 0;
    while (cache.size() > max) {
      cache.erase(lru.back());
      lru.pop_back();
    }
  }

  const Clock& clock;
  // The bytes flights hold, and the wake-up of wait_for_stats: every counter change below is
  // followed by signal->changed() (under `mutex`; the signal's own lock is a leaf).
  const std::shared_ptr<detail::StatsSignal> signal = std::make_shared<detail::StatsSignal>();

  mutable std::mutex mutex;  // guards everything below
  DedupOptions options;
  bool closed = false;  // the Deduplicator is gone: ignore flights that end later
  std::unordered_map<std::string, std::shared_ptr<detail::Flight>> flights;  // accepting ones
  std::size_t in_progress = 0;                                               // flights not ended, including capped ones
  std::unordered_map<std::string, CacheEntry> cache;
  std::list<std::string> lru;
  std::uint64_t leaders = 0;
  std::uint64_t followers = 0;
  std::uint64_t cache_hits = 0;
  std::uint64_t uncoalesced = 0;
};

Deduplicator::Deduplicator(DedupOptions options, const Clock& clock)
    : state_(std::make_shared<State>(options, clock)) {}

Deduplicator::~Deduplicator() {
  std::unordered_map<std::string, std::shared_ptr<detail::Flight>> flights;
  std::unordered_map<std::string, State::CacheEntry> cache;
  {
    std::lock_guard lock(state_->mutex);
    state_->closed = true;
    flights.swap(state_->flights);
    cache.swap(state_->cache);
    state_->lru.clear();
  }
}  // the flights go on for their subscribers

std::unique_ptr<DedupSubscription> Deduplicator::subscribe(const std::string& key, const Producer& produce,
                                                           bool bypass_cache) {
  State& s = *state_;
  if (key.empty()) {  // dedup_key() could not make a key: coalesce nothing, cache nothing
    {
      std::lock_guard lock(s.mutex);
      ++s.uncoalesced;
      s.signal->changed();
    }
    return std::make_unique<detail::PassthroughSubscription>(detail::run_producer(produce));
  }
  std::shared_ptr<detail::Flight> flight;
  detail::Flight::Cursor cursor;
  {
    std::lock_guard lock(s.mutex);
    if (!bypass_cache && s.options.cache_ttl.count() > 0) {
      auto it = s.cache.find(key);
      if (it != s.cache.end()) {
        if (s.clock.now() < it->second.stored_at + s.options.cache_ttl) {
          s.lru.splice(s.lru.begin(), s.lru, it->second.lru);
          ++s.cache_hits;
          s.signal->changed();
          auto cached = it->second.flight;
          const auto at = cached->join_cached();
          return std::make_unique<detail::FlightSubscription>(std::move(cached), at, DedupRole::Cache);
        }
        s.lru.erase(it->second.lru);
        s.cache.erase(it);
        s.signal->changed();
      }
    }
    auto it = s.flights.find(key);
    if (it != s.flights.end() && it->second->try_join_follower(cursor)) {
      ++s.followers;
      s.signal->changed();
      return std::make_unique<detail::FlightSubscription>(it->second, cursor, DedupRole::Follower);
    }
    if (s.in_progress < s.options.max_flights) {
      // Replaces a flight of the key that stopped accepting followers (it goes on for its own).
      flight = std::make_shared<detail::Flight>(key, s.options.max_flight_bytes,
                                                std::weak_ptr<detail::FlightOwner>(state_), s.signal);
      s.flights.insert_or_assign(key, flight);
      ++s.in_progress;
      ++s.leaders;
      cursor = flight->join_leader();
    } else {
      ++s.uncoalesced;
    }
    s.signal->changed();
  }
  if (!flight) {
    return std::make_unique<detail::PassthroughSubscription>(detail::run_producer(produce));
  }
  // Outside the lock; wakes the followers. Published first, so that nothing between joining
  // and publishing can leave them waiting for a head that never comes.
  flight->publish(detail::run_producer(produce));
  try {
    return std::make_unique<detail::FlightSubscription>(flight, cursor, DedupRole::Leader);
  } catch (...) {
    flight->leave(cursor);
    throw;
  }
}

void Deduplicator::set_options(DedupOptions options) {
  std::unordered_map<std::string, State::CacheEntry> dropped;
  std::lock_guard lock(state_->mutex);
  state_->options = options;
  if (options.cache_ttl.count() <= 0 || options.max_cache_entries == 0) {
    dropped.swap(state_->cache);
    state_->lru.clear();
  } else {
    state_->trim_cache_locked();
  }
  state_->signal->changed();
}

std::size_t Deduplicator::listeners(const std::string& key) const {
  std::shared_ptr<detail::Flight> flight;
  {
    std::lock_guard lock(state_->mutex);
    auto it = state_->flights.find(key);
    if (it == state_->flights.end()) {
      return 0;
    }
    flight = it->second;
  }
  return flight->subscribers();
}

DedupStats Deduplicator::stats() const {
  std::lock_guard lock(state_->mutex);
  DedupStats stats;
  stats.leaders = state_->leaders;
  stats.followers = state_->followers;
  stats.cache_hits = state_->cache_hits;
  stats.uncoalesced = state_->uncoalesced;
  stats.flights_in_progress = state_->in_progress;
  stats.cache_entries = state_->cache.size();
  stats.recorded_bytes_held = state_->signal->held();
  return stats;
}

bool Deduplicator::wait_for_stats(const std::function<bool(const DedupStats&)>& predicate,
                                  std::chrono::milliseconds timeout) const {
  return state_->signal->wait([&] { return predicate(stats()); }, timeout);
}

}  // namespace balancer
