// dedup_flight.cpp — one coalesced response shared by its subscribers (see dedup_flight.h).
#include "dedup/dedup_flight.h"

#include <algorithm>
#include <exception>
#include <utility>

#include <balancer/anthropic_error.h>

namespace balancer::detail {
namespace {

// True when the last SSE event of `stream` is message_stop (not, e.g., an upstream error event).
// Cursor values of subscribers cut off for falling too far behind (before and after their error
// event was handed out).
constexpr std::uint64_t kOverrun = UINT64_MAX - 1;
constexpr std::uint64_t kFinished = UINT64_MAX;

bool ends_with_message_stop(const std::string& stream) {
  const std::size_t last = stream.find_last_not_of("\r\n");
  if (last == std::string::npos) {
    return false;
  }
  const std::size_t separator = stream.rfind("\n\n", last);
  const std::string_view event(stream.data() + (separator == std::string::npos ? 0 : separator),
                               last + 1 - (separator == std::string::npos ? 0 : separator));
  return event.find("event: message_stop") != std::string_view::npos ||
         event.find("\"type\":\"message_stop\"") != std::string_view::npos;
}

}  // namespace

void StatsSignal::changed() {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    ++version_;
    wake = waiters_ > 0;
  }
  if (wake) {
    cv_.notify_all();
  }
}

bool StatsSignal::wait(const std::function<bool()>& check, std::chrono::milliseconds timeout) {
  // Real time, not the Deduplicator's clock: a test's frozen ManualClock must not stop the
  // deadline of a wait that failed.
  const SteadyTime deadline = Clock::real().now() + timeout;
  std::unique_lock lock(mutex_);
  ++waiters_;
  struct Leave {
    std::unique_lock<std::mutex>& lock;
    std::size_t& waiters;
    ~Leave() {
      if (!lock.owns_lock()) {
        lock.lock();
      }
      --waiters;
    }
  } leave{lock, waiters_};
  for (;;) {
    const std::uint64_t seen = version_;
    lock.unlock();
    const bool held = check();  // outside the lock: it may take the Deduplicator's
    lock.lock();
    if (held) {
      return true;
    }
    // A change made after `seen` was read bumped version_, so it is never missed.
    if (!cv_.wait_until(lock, deadline, [&] { return version_ != seen; })) {
      return false;
    }
  }
}

Flight::Flight(std::string key, std::size_t max_bytes, std::weak_ptr<FlightOwner> owner,
               std::shared_ptr<StatsSignal> stats)
    : key_(std::move(key)), max_bytes_(max_bytes), owner_(std::move(owner)), stats_(std::move(stats)) {}

Flight::~Flight() { stats_->sub_held(recorded_.size()); }

Flight::Cursor Flight::join_leader() {
  std::lock_guard lock(mutex_);
  ++subscribers_;
  return cursors_.insert(cursors_.end(), base_offset_);
}

bool Flight::try_join_follower(Cursor& cursor) {
  std::lock_guard lock(mutex_);
  if (!accepting_ || ended_) {
    return false;
  }
  ++subscribers_;
  cursor = cursors_.insert(cursors_.end(), base_offset_);  // 0: a flight that accepts keeps all
  return true;
}

Flight::Cursor Flight::join_cached() {
  std::lock_guard lock(mutex_);
  ++subscribers_;
  return cursors_.insert(cursors_.end(), base_offset_);  // 0: cached flights were never capped
}

void Flight::leave(Cursor cursor) {
  Aftermath after;
  {
    std::lock_guard lock(mutex_);
    cursors_.erase(cursor);
    --subscribers_;
    if (subscribers_ == 0 && !ended_) {
      end_locked(false, after);  // nobody listens: cancel the upstream call
    } else {
      drop_read_prefix_locked();  // the leaver may have been the slowest reader
      changed_.notify_all();
    }
  }
  run(after);
}

void Flight::publish(Response result) {
  std::unique_ptr<BodySource> stream = std::move(result.stream);
  std::string body = std::move(result.body);
  result.body.clear();
  Aftermath after;
  {
    std::lock_guard lock(mutex_);
    meta_ = std::move(result);
    streaming_ = stream != nullptr;
    head_ready_ = true;
    if (!body.empty()) {
      append_locked(body, after);
    }
    if (ended_) {
      after.stream_to_destroy = std::move(stream);  // every subscriber already left
    } else if (stream) {
      stream_ = std::move(stream);
    } else {
      end_locked(true, after);  // the whole body came at once
    }
    changed_.notify_all();
  }
  run(after);
}

void Flight::wait_head() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return head_ready_; });
}

bool Flight::next(Cursor cursor, std::string& out) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return head_ready_; });
  for (;;) {
    if (*cursor == kOverrun) {  // fell more than max_bytes behind: cut, visibly
      out = anthropic_error_event("api_error", "this client fell too far behind the shared response stream");
      *cursor = kFinished;
      return true;
    }
    if (*cursor == kFinished) {
      out.clear();
      return false;
    }
    const std::uint64_t end = base_offset_ + recorded_.size();
    if (*cursor < end) {
      out.assign(recorded_, static_cast<std::size_t>(*cursor - base_offset_));
      *cursor = end;
      drop_read_prefix_locked();
      return true;
    }
    if (ended_) {
      out.clear();
      return false;
    }
    if (pumping_) {
      changed_.wait(lock);  // another subscriber is fetching the next bytes
      continue;
    }
    Aftermath after;
    if (!stream_) {
      end_locked(false, after);  // not reachable once the head is ready; never hang on it
    } else {
      // Nobody fetches: pull the next bytes ourselves, outside the lock (the stream is only
      // touched by the pumping subscriber, and never destroyed while one pumps).
      pumping_ = true;
      BodySource* stream = stream_.get();
      lock.unlock();
      std::string chunk;
      bool more = false;
      bool stream_completed = false;
      std::string failure;
      try {
        more = stream->next(chunk);
        stream_completed = !more && stream->completed();
        if (!more && !stream_completed) {
          failure = stream->failure();
        }
      } catch (...) {  // end it as a cut stream, visibly, for every subscriber
        chunk = anthropic_error_event("api_error", "the balancer failed while relaying the upstream stream");
        more = true;
        failed_ = true;
        failure = "the balancer failed while relaying the upstream stream";
      }
      lock.lock();
      if (!failure.empty()) {
        failure_ = std::move(failure);
      }
      pumping_ = false;
      if (ended_) {
        after.stream_to_destroy = std::move(stream_);  // ended while we pumped
      } else if (more) {
        append_locked(chunk, after);
        if (failed_) {
          end_locked(false, after);
        }
      } else {
        end_locked(stream_completed, after);
      }
      changed_.notify_all();
    }
    if (after.stream_to_destroy || after.capped || after.ended) {
      lock.unlock();
      run(after);
      lock.lock();
    }
  }
}

bool Flight::completed() {
  std::lock_guard lock(mutex_);
  return completed_;
}

std::size_t Flight::subscribers() {
  std::lock_guard lock(mutex_);
  return subscribers_;
}

std::string Flight::failure() {
  std::lock_guard lock(mutex_);
  return failure_;
}

void Flight::append_locked(const std::string& bytes, Aftermath& after) {
  const std::uint64_t old_end = base_offset_ + recorded_.size();
  recorded_ += bytes;
  stats_->add_held(bytes.size());
  if (!capped_ && base_offset_ + recorded_.size() > max_bytes_) {
    capped_ = true;
    accepting_ = false;
    after.capped = true;
  }
  if (capped_) {
    // Bounded memory: a subscriber that left more than max_bytes unread before this chunk is
    // cut off (it gets an error event) instead of holding the bytes for everyone.
    for (std::uint64_t& c : cursors_) {
      if (c < kOverrun && old_end - c > max_bytes_) {
        c = kOverrun;
      }
    }
    drop_read_prefix_locked();
  }
}

void Flight::end_locked(bool completed, Aftermath& after) {
  ended_ = true;
  completed_ = completed;
  accepting_ = false;
  if (!pumping_) {
    after.stream_to_destroy = std::move(stream_);  // else the pumper destroys it when back
  }
  after.ended = true;
  // A stream that ended with an error event the upstream sent counts as completed for the
  // relay, but is no answer to keep: only streams whose last event is message_stop are cached.
  after.cacheable = completed && !capped_ && meta_.status >= 200 && meta_.status < 300 &&
                    (!streaming_ || ends_with_message_stop(recorded_));
  changed_.notify_all();
}

std::uint64_t Flight::min_cursor_locked() const {
  std::uint64_t min_cursor = base_offset_ + recorded_.size();
  for (const std::uint64_t c : cursors_) {
    if (c < kOverrun) {
      min_cursor = std::min(min_cursor, c);
    }
  }
  return min_cursor;
}

void Flight::drop_read_prefix_locked() {
  if (!capped_) {
    return;  // followers may still join (or the cache may keep it): every byte stays
  }
  const std::uint64_t min_cursor = min_cursor_locked();
  const auto droppable = static_cast<std::size_t>(min_cursor - base_offset_);
  // Amortised: drop once at least half the held bytes were read by everyone. A fresh string
  // (rather than erase) gives the memory back.
  if (droppable == 0 || droppable * 2 < recorded_.size()) {
    return;
  }
  std::string rest(recorded_, droppable);
  recorded_.swap(rest);
  base_offset_ = min_cursor;
  stats_->sub_held(droppable);
}

void Flight::run(Aftermath& after) {
  after.stream_to_destroy.reset();  // cancels the upstream transfer
  if (!after.ended && !after.capped) {
    return;
  }
  const auto owner = owner_.lock();
  if (!owner) {
    return;  // the Deduplicator is gone
  }
  if (after.ended) {
    owner->flight_ended(shared_from_this(), after.cacheable);
  } else {
    owner->flight_capped(*this);
  }
}

FlightSubscription::FlightSubscription(std::shared_ptr<Flight> flight, Flight::Cursor cursor, DedupRole role)
    : flight_(std::move(flight)), cursor_(cursor), role_(role) {}

FlightSubscription::~FlightSubscription() { flight_->leave(cursor_); }

int FlightSubscription::status() {
  flight_->wait_head();
  return flight_->meta().status;
}

const Headers& FlightSubscription::headers() {
  flight_->wait_head();
  return flight_->meta().headers;
}

bool FlightSubscription::streaming() {
  flight_->wait_head();
  return flight_->streaming();
}

bool FlightSubscription::next(std::string& out) { return flight_->next(cursor_, out); }

bool FlightSubscription::completed() { return flight_->completed(); }

std::string FlightSubscription::failure() { return flight_->failure(); }

const Response& FlightSubscription::meta() {
  flight_->wait_head();
  return flight_->meta();
}

PassthroughSubscription::PassthroughSubscription(Response result)
    : stream_(std::move(result.stream)), body_(std::move(result.body)) {
  result.body.clear();
  meta_ = std::move(result);
}

bool PassthroughSubscription::next(std::string& out) {
  if (stream_) {
    return stream_->next(out);
  }
  const bool send = !body_sent_ && !body_.empty();
  body_sent_ = true;
  if (!send) {
    out.clear();
    return false;
  }
  out = std::move(body_);
  body_.clear();
  return true;
}

bool PassthroughSubscription::completed() { return stream_ ? stream_->completed() : true; }

std::string PassthroughSubscription::failure() { return stream_ ? stream_->failure() : std::string(); }

namespace {

Response internal_error(std::string_view what) {
  Response result;
  result.status = 500;
  result.headers = {{"content-type", "application/json"}};
  result.body = anthropic_error_body("api_error", "internal error: " + std::string(what));
  return result;
}

}  // namespace

Response run_producer(const Deduplicator::Producer& produce) {
  try {
    return produce();
  } catch (const std::exception& e) {
    return internal_error(e.what());
  } catch (...) {
    return internal_error("unknown exception");
  }
}

}  // namespace balancer::detail
