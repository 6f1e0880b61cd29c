// dedup_flight.h — one coalesced upstream response (spec §8): the head, the recorded body bytes
// and the live BodySource, shared by the flight's subscribers and pulled by whichever of them
// needs bytes nobody is fetching yet.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>

#include <balancer/deduplicator.h>
#include <balancer/response.h>

namespace balancer::detail {

class Flight;

// Shared by a Deduplicator's state and its flights (which may outlive it): the response bytes the
// flights hold, and the signal behind Deduplicator::wait_for_stats. Every change of a DedupStats
// counter is followed by changed(). Thread-safe. Its mutex is a leaf lock: changed() may be
// called with the Deduplicator's or a flight's mutex held, and nothing else is locked under it.
class StatsSignal {
 public:
  void add_held(std::size_t n) {
    if (n == 0) {
      return;
    }
    held_ += n;
    changed();
  }
  void sub_held(std::size_t n) {
    if (n == 0) {
      return;
    }
    held_ -= n;
    changed();
  }
  std::size_t held() const { return held_.load(); }

  // A counter changed: wakes the wait() callers (one uncontended lock when there are none).
  void changed();
  // Calls `check` (with no lock of this signal held) now and after every changed(), until it
  // returns true (then true) or `timeout` of real time passed (then false).
  bool wait(const std::function<bool()>& check, std::chrono::milliseconds timeout);

 private:
  std::atomic<std::size_t> held_{0};
  std::mutex mutex_;
  std::condition_variable cv_;
  std::uint64_t version_ = 0;  // guarded by mutex_: +1 per changed()
  std::size_t waiters_ = 0;    // guarded by mutex_
};

// What a flight tells the Deduplicator's state (held through a weak_ptr: flights may outlive it).
// Called without any flight lock held.
class FlightOwner {
 public:
  virtual ~FlightOwner() = default;
  // The flight stopped accepting followers (byte cap): it leaves the in-progress map.
  virtual void flight_capped(const Flight& flight) = 0;
  // The flight ended (exactly once): it leaves the in-progress map and, when `cacheable`
  // (completed, 2xx, every byte still held), may enter the cache.
  virtual void flight_ended(const std::shared_ptr<Flight>& flight, bool cacheable) = 0;
};

// Thread-safe. Every member below the mutex is guarded by it; `meta_` and `streaming_` are
// immutable once the head is ready (then readable without the lock).
class Flight : public std::enable_shared_from_this<Flight> {
 public:
  // A subscriber's absolute read offset, stored in the flight (so the flight can compute the
  // prefix everyone has read).
  using Cursor = std::list<std::uint64_t>::iterator;

  Flight(std::string key, std::size_t max_bytes, std::weak_ptr<FlightOwner> owner, std::shared_ptr<StatsSignal> stats);
  ~Flight();
  Flight(const Flight&) = delete;
  Flight& operator=(const Flight&) = delete;

  const std::string& key() const { return key_; }

  // The leader's subscription, taken when the flight is created.
  Cursor join_leader();
  // A follower joins at offset 0 when the flight still accepts followers (not capped, not
  // ended); false otherwise.
  bool try_join_follower(Cursor& cursor);
  // A cache hit reads an ended flight from offset 0.
  Cursor join_cached();
  // The subscriber leaves; the last one out of an unfinished flight ends it and destroys the
  // upstream stream.
  void leave(Cursor cursor);

  // The leader's producer returned: records the head (and the whole body, which ends the
  // flight, or keeps the stream to pull from).
  void publish(Response result);

  // DedupSubscription operations for the subscriber at `cursor`.
  void wait_head();
  const Response& meta() const { return meta_; }  // after wait_head()
  bool streaming() const { return streaming_; }   // after wait_head()
  bool next(Cursor cursor, std::string& out);
  bool completed();
  std::string failure();      // why the stream did not complete; empty when it did
  std::size_t subscribers();  // the leader, followers and cache readers still subscribed

 private:
  // After a transition made under the lock: the actions that must run without it.
  struct Aftermath {
    std::unique_ptr<BodySource> stream_to_destroy;
    bool capped = false;
    bool ended = false;
    bool cacheable = false;
  };
  void append_locked(const std::string& bytes, Aftermath& after);
  std::uint64_t min_cursor_locked() const;
  void end_locked(bool completed, Aftermath& after);
  void drop_read_prefix_locked();
  void run(Aftermath& after);  // without the lock

  const std::string key_;
  const std::size_t max_bytes_;
  const std::weak_ptr<FlightOwner> owner_;
  const std::shared_ptr<StatsSignal> stats_;  // the bytes held; wakes wait_for_stats

  std::mutex mutex_;
  std::condition_variable changed_;
  bool head_ready_ = false;
  bool streaming_ = false;
  Response meta_;                       // the producer's result without `stream` and `body`
  std::unique_ptr<BodySource> stream_;  // while the stream has not ended
  std::string recorded_;                // bytes [base_offset_, base_offset_ + size)
  std::uint64_t base_offset_ = 0;       // bytes dropped from the front
  bool ended_ = false;
  bool failed_ = false;  // pulling the stream threw: ended with an error event
  bool completed_ = false;
  std::string failure_;    // the upstream stream's failure() when it ended without completing
  bool pumping_ = false;   // a subscriber is inside stream_->next() (without the lock)
  bool accepting_ = true;  // followers may still join
  bool capped_ = false;    // recorded more than max_bytes_: read bytes are dropped
  std::size_t subscribers_ = 0;
  std::list<std::uint64_t> cursors_;  // one per subscriber
};

// A subscriber of a flight (roles Leader, Follower, Cache).
class FlightSubscription final : public DedupSubscription {
 public:
  FlightSubscription(std::shared_ptr<Flight> flight, Flight::Cursor cursor, DedupRole role);
  ~FlightSubscription() override;
  FlightSubscription(const FlightSubscription&) = delete;
  FlightSubscription& operator=(const FlightSubscription&) = delete;

  DedupRole role() const override { return role_; }
  int status() override;
  const Headers& headers() override;
  bool streaming() override;
  bool next(std::string& out) override;
  bool completed() override;
  std::string failure() override;
  const Response& meta() override;

 private:
  std::shared_ptr<Flight> flight_;
  Flight::Cursor cursor_;
  DedupRole role_;
};

// Role None: the producer's own result, passed through without recording.
class PassthroughSubscription final : public DedupSubscription {
 public:
  explicit PassthroughSubscription(Response result);

  DedupRole role() const override { return DedupRole::None; }
  int status() override { return meta_.status; }
  const Headers& headers() override { return meta_.headers; }
  bool streaming() override { return stream_ != nullptr; }
  bool next(std::string& out) override;
  bool completed() override;
  std::string failure() override;
  const Response& meta() override { return meta_; }

 private:
  Response meta_;
  std::unique_ptr<BodySource> stream_;
  std::string body_;
  bool body_sent_ = false;
};

// The producer's result, or a 500 api_error when it threw.
Response run_producer(const Deduplicator::Producer& produce);

}  // namespace balancer::detail
