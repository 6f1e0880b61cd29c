// Deduplicator (spec §8): coalescing identical in-flight requests, fan-out of bodies and streams,
// leaving, byte caps, the cache. Upstream streams are fakes gated by the test; followers join at
// exact points by waiting on the deduplicator's counters (Deduplicator::wait_for_stats, woken by
// every change). Nothing sleeps or polls.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <latch>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <balancer/anthropic_error.h>
#include <balancer/deduplicator.h>
#include <balancer/testing/manual_clock.h>

using namespace balancer;
using namespace std::chrono_literals;

namespace {

// Failure guard for waits on the counters: only a hung test ever reaches it.
constexpr std::chrono::milliseconds kDeadline = 30s;

// Permits handed out by the test; acquire() blocks until one is available.
class Gate {
 public:
  void release(int n = 1) {
    {
      std::lock_guard lock(mutex_);
      permits_ += n;
    }
    cv_.notify_all();
  }
  void open() { release(1 << 20); }
  void acquire() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return permits_ > 0; });
    --permits_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  int permits_ = 0;
};

// What the test observes of a fake stream.
struct StreamProbe {
  std::atomic<int> next_calls{0};  // next() calls that returned
  std::atomic<bool> ended{false};  // next() returned false
  std::atomic<bool> destroyed{false};
  std::atomic<int> in_next{0};
  std::atomic<int> violations{0};  // concurrent next() calls, or destroyed inside next()
};

// An upstream stream of fixed chunks; with a gate, every next() call (the final `false` one
// too) takes one permit.
class FakeStream final : public BodySource {
 public:
  FakeStream(std::vector<std::string> chunks, Gate* gate, std::shared_ptr<StreamProbe> probe, bool completes = true,
             bool yield = false)
      : chunks_(std::move(chunks)), gate_(gate), probe_(std::move(probe)), completes_(completes), yield_(yield) {}
  ~FakeStream() override {
    if (probe_->in_next.load() != 0) {
      ++probe_->violations;
    }
    probe_->destroyed = true;
  }
  bool next(std::string& out) override {
    if (probe_->in_next.fetch_add(1) != 0) {
      ++probe_->violations;
    }
    if (gate_ != nullptr) {
      gate_->acquire();
    }
    if (yield_) {
      std::this_thread::yield();
    }
    const bool more = index_ < chunks_.size();
    if (more) {
      out = chunks_[index_++];
    } else {
      probe_->ended = true;
    }
    --probe_->in_next;
    ++probe_->next_calls;
    return more;
  }
  bool completed() const override { return completes_; }
  const std::string& failure() const override { return failure_; }

 private:
  std::vector<std::string> chunks_;
  std::size_t index_ = 0;
  Gate* gate_;
  std::shared_ptr<StreamProbe> probe_;
  bool completes_;
  bool yield_;
  std::string failure_;
};

Response stream_result(std::unique_ptr<BodySource> stream) {
  Response r;
  r.status = 200;
  r.headers = {{"content-type", "text/event-stream"}, {"x-balancer-provider", "A"}};
  r.stream = std::move(stream);
  r.provider = "A";
  r.model = "claude-x";
  r.attempts.push_back(Attempt{"A", 200, "", 5ms, "ok", {}, "", ""});
  return r;
}

Response body_result(int status, std::string body) {
  Response r;
  r.status = status;
  r.headers = {{"content-type", "application/json"}, {"x-balancer-provider", "A"}};
  r.body = std::move(body);
  r.provider = "A";
  r.model = "claude-x";
  r.attempts.push_back(Attempt{"A", status, "", 5ms, "ok", {}, "", ""});
  return r;
}

std::string read_all(DedupSubscription& s) {
  std::string all;
  std::string chunk;
  while (s.next(chunk)) {
    all += chunk;
  }
  return all;
}

std::string concat(const std::vector<std::string>& chunks) {
  std::string all;
  for (const auto& c : chunks) {
    all += c;
  }
  return all;
}

const std::vector<std::string> kEvents = {
    "event: message_start\ndata: {\"type\":\"message_start\"}\n\n",
    "event: content_block_start\ndata: {\"index\":0}\n\n",
    "event: content_block_delta\ndata: {\"text\":\"Hello\"}\n\n",
    "event: content_block_stop\ndata: {\"index\":0}\n\n",
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
};

DedupOptions options_with(std::size_t max_flight_bytes = 64u << 20, std::size_t max_flights = 1024,
                          std::chrono::milliseconds ttl = 0ms, std::size_t max_cache = 1000) {
  DedupOptions o;
  o.max_flight_bytes = max_flight_bytes;
  o.max_flights = max_flights;
  o.cache_ttl = ttl;
  o.max_cache_entries = max_cache;
  return o;
}

}  // namespace

TEST_CASE("dedup_key covers path, body, caller and the answer-changing headers", "[dedup]") {
  const Headers base = {{"anthropic-version", "2023-06-01"}, {"anthropic-beta", "b1"}, {"x-request-id", "1"}};
  const auto key = dedup_key("/v1/messages", "{\"a\":1}", base, "client-1");
  CHECK(key.size() == 64);
  CHECK(key.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(dedup_key("/v1/messages", "{\"a\":1}", base, "client-1") == key);

  CHECK(dedup_key("/v1/messages/count_tokens", "{\"a\":1}", base, "client-1") != key);
  CHECK(dedup_key("/v1/messages", "{\"a\":2}", base, "client-1") != key);
  CHECK(dedup_key("/v1/messages", "{\"a\":1}", base, "client-2") != key);
  CHECK(dedup_key("/v1/messages", "{\"a\":1}", {{"anthropic-version", "2023-06-01"}, {"anthropic-beta", "b2"}},
                  "client-1") != key);
  CHECK(dedup_key("/v1/messages", "{\"a\":1}", {{"anthropic-version", "2024-01-01"}, {"anthropic-beta", "b1"}},
                  "client-1") != key);
  CHECK(dedup_key("/v1/messages", "{\"a\":1}", {{"anthropic-version", "2023-06-01"}}, "client-1") != key);
  // Other headers, and header-name case, do not change it.
  CHECK(dedup_key("/v1/messages", "{\"a\":1}",
                  {{"Anthropic-Version", "2023-06-01"},
                   {"ANTHROPIC-BETA", "b1"},
                   {"x-request-id", "2"},
                   {"user-agent", "claude-cli"}},
                  "client-1") == key);
  // Length prefixes: moving bytes between fields changes the key.
  CHECK(dedup_key("/v1/messagesX", "", {}, "") != dedup_key("/v1/messages", "X", {}, ""));
  CHECK(dedup_key("", "", {}, "ab") != dedup_key("", "a", {}, "b"));
  // An absent header differs from an empty one.
  CHECK(dedup_key("/p", "", {{"anthropic-beta", ""}}, "") != dedup_key("/p", "", {}, ""));
}

TEST_CASE("DedupRole names", "[dedup]") {
  CHECK(to_string(DedupRole::Leader) == "leader");
  CHECK(to_string(DedupRole::Follower) == "follower");
  CHECK(to_string(DedupRole::Cache) == "cache");
  CHECK(to_string(DedupRole::None) == "none");
}

TEST_CASE("5 concurrent identical non-stream requests make one upstream call", "[dedup][concurrency]") {
  testing::ManualClock clock;
  Deduplicator dedup(options_with(), clock);
  Gate produce_gate;
  std::atomic<int> calls{0};
  const std::string body = R"({"type":"message","content":[{"type":"text","text":"hi"}]})";
  const Deduplicator::Producer produce = [&] {
    ++calls;
    produce_gate.acquire();
    return body_result(200, body);
  };

  constexpr int kClients = 5;
  struct Seen {
    DedupRole role = DedupRole::None;
    int status = 0;
    Headers headers;
    bool streaming = true;
    std::string bytes;
    bool completed = false;
    std::string provider;
  };
  std::vector<Seen> seen(kClients);
  std::latch start(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      auto sub = dedup.subscribe("k", produce);
      seen[i].role = sub->role();
      seen[i].status = sub->status();
      seen[i].headers = sub->headers();
      seen[i].streaming = sub->streaming();
      seen[i].bytes = read_all(*sub);
      seen[i].completed = sub->completed();
      seen[i].provider = sub->meta().provider;
    });
  }
  REQUIRE(dedup.wait_for_stats([&](const DedupStats& s) { return s.leaders + s.followers == kClients; }, kDeadline));
  produce_gate.release();
  for (auto& t : threads) {
    t.join();
  }

  CHECK(calls == 1);
  int leaders = 0;
  int followers = 0;
  for (const auto& s : seen) {
    leaders += s.role == DedupRole::Leader ? 1 : 0;
    followers += s.role == DedupRole::Follower ? 1 : 0;
    CHECK(s.status == 200);
    CHECK(s.headers == seen[0].headers);
    CHECK(find_header(s.headers, "x-balancer-provider") == std::optional<std::string_view>("A"));
    CHECK_FALSE(s.streaming);
    CHECK(s.bytes == body);
    CHECK(s.completed);
    CHECK(s.provider == "A");
  }
  CHECK(leaders == 1);
  CHECK(followers == 4);
  const auto stats = dedup.stats();
  CHECK(stats.leaders == 1);
  CHECK(stats.followers == 4);
  CHECK(stats.flights_in_progress == 0);
  CHECK(stats.cache_entries == 0);
  CHECK(stats.recorded_bytes_held == 0);
}

TEST_CASE("identical streams joining at different points all get the whole stream", "[dedup][concurrency]") {
  testing::ManualClock clock;
  Deduplicator dedup(options_with(), clock);
  Gate produce_gate;
  Gate stream_gate;
  auto probe = std::make_shared<StreamProbe>();
  std::atomic<int> calls{0};
  const Deduplicator::Producer produce = [&] {
    ++calls;
    produce_gate.acquire();
    return stream_result(std::make_unique<FakeStream>(kEvents, &stream_gate, probe));
  };
  const std::string expected = concat(kEvents);
  auto bytes_upto = [&](std::size_t n) {
    std::size_t total = 0;
    for (std::size_t i = 0; i < n; ++i) {
      total += kEvents[i].size();
    }
    return total;
  };

  struct Reader {
    std::string bytes;
    bool completed = false;
    bool streaming = false;
    int status = 0;
    DedupRole role = DedupRole::None;
  };
  std::vector<Reader> readers(4);
  std::vector<std::thread> threads;
  auto read_into = [](std::unique_ptr<DedupSubscription> sub, Reader& r) {
    r.role = sub->role();
    r.status = sub->status();
    r.streaming = sub->streaming();
    r.bytes = read_all(*sub);
    r.completed = sub->completed();
  };

  // The leader, blocked in its producer.
  threads.emplace_back([&] { read_into(dedup.subscribe("k", produce), readers[0]); });
  REQUIRE(dedup.wait_for_stats([](const DedupStats& s) { return s.leaders == 1; }, kDeadline));
  // Before the first byte: the producer has not returned yet.
  auto a = dedup.subscribe("k", produce);
  CHECK(a->role() == DedupRole::Follower);
  threads.emplace_back([&, s = std::move(a)]() mutable { read_into(std::move(s), readers[1]); });
  produce_gate.release();

  // Mid-stream: after two events were recorded.
  stream_gate.release(2);
  REQUIRE(dedup.wait_for_stats([&](const DedupStats& s) { return s.recorded_bytes_held == bytes_upto(2); }, kDeadline));
  auto b = dedup.subscribe("k", produce);
  CHECK(b->role() == DedupRole::Follower);
  threads.emplace_back([&, s = std::move(b)]() mutable { read_into(std::move(s), readers[2]); });

  // Near the end: every event recorded, the end not yet seen.
  stream_gate.release(3);
  REQUIRE(dedup.wait_for_stats([&](const DedupStats& s) { return s.recorded_bytes_held == bytes_upto(5); }, kDeadline));
  CHECK_FALSE(probe->ended);
  auto c = dedup.subscribe("k", produce);
  CHECK(c->role() == DedupRole::Follower);
  threads.emplace_back([&, s = std::move(c)]() mutable { read_into(std::move(s), readers[3]); });
  stream_gate.release(1);  // the end

  for (auto& t : threads) {
    t.join();
  }
  CHECK(calls == 1);
  CHECK(readers[0].role == DedupRole::Leader);
  for (const auto& r : readers) {
    CHECK(r.status == 200);
    CHECK(r.streaming);
    CHECK(r.bytes == expected);
    CHECK(r.completed);
  }
  CHECK(probe->next_calls == static_cast<int>(kEvents.size()) + 1);
  CHECK(probe->destroyed);
  CHECK(probe->violations == 0);
  CHECK(dedup.stats().followers == 3);
  CHECK(dedup.stats().flights_in_progress == 0);
  CHECK(dedup.stats().recorded_bytes_held == 0);
}

TEST_CASE("different bodies or callers make separate flights", "[dedup]") {
  testing::ManualClock clock;
  Deduplicator dedup(options_with(), clock);
  Gate gate;  // never released: every flight stays in progress
  std::vector<std::shared_ptr<StreamProbe>> probes;
  std::atomic<int> calls{0};
  const Deduplicator::Producer produce = [&] {
    ++calls;
    probes.push_back(std::make_shared<StreamProbe>());
    return stream_result(std::make_unique<FakeStream>(kEvents, &gate, probes.back()));
  };
  const Headers headers = {{"anthropic-version", "2023-06-01"}};
  const auto k1 = dedup_key("/v1/messages", "{\"n\":1}", headers, "alice");
  const auto k2 = dedup_key("/v1/messages", "{\"n\":2}", headers, "alice");
  const auto k3 = dedup_key("/v1/messages", "{\"n\":1}", headers, "bob");

  auto s1 = dedup.subscribe(k1, produce);
  auto s2 = dedup.subscribe(k2, produce);
  auto s3 = dedup.subscribe(k3, produce);
  auto s4 = dedup.subscribe(dedup_key("/v1/messages", "{\"n\":1}", headers, "alice"), produce);
  CHECK(s1->role() == DedupRole::Leader);
  CHECK(s2->role() == DedupRole::Leader);
  CHECK(s3->role() == DedupRole::Leader);
  CHECK(s4->role() == DedupRole::Follower);
  CHECK(calls == 3);
  CHECK(dedup.stats().flights_in_progress == 3);
  s1.reset();
  s2.reset();
  s3.reset();
  s4.reset();  // every flight cancelled: no one listens
  for (const auto& p : probes) {
    CHECK(p->destroyed);
    CHECK_FALSE(p->ended);
  }
  CHECK(dedup.stats().flights_in_progress == 0);
}

TEST_CASE("sequential identical requests go upstream again without a cache", "[dedup]") {
  testing::ManualClock clock;
  Deduplicator dedup(options_with(), clock);
  std::atomic<int> calls{0};
  const Deduplicator::Producer produce = [&] {
    ++calls;
    return body_result(200, "{\"n\":" + std::to_string(calls.load()) + "}");
  };
  {
    auto s = dedup.subscribe("k", produce);
    CHECK(s->role() == DedupRole::Leader);
    CHECK(read_all(*s) == "{\"n\":1}");
  }
  {
    auto s = dedup.subscribe("k", produce);
    CHECK(s->role() == DedupRole::Leader);
    CHECK(read_all(*s) == "{\"n\":2}");
  }
  CHECK(calls == 2);
  CHECK(dedup.stats().cache_entries == 0);
}

TEST_CASE("the leader leaving mid-stream does not cut its followers", "[dedup][concurrency]") {
  testing::ManualClock clock;
  Deduplicator dedup(options_with(), clock);
  Gate gate;
  auto probe = std::make_shared<StreamProbe>();
  std::atomic<int> calls{0};
  const Deduplicator::Producer produce = [&] {
    ++calls;
    return stream_result(std::make_unique<FakeStream>(kEvents, &gate, probe));
  };
  auto leader = dedup.subscribe("k", produce);
  REQUIRE(leader->role() == DedupRole::Leader);
  auto f1 = dedup.subscribe("k", produce);
  auto f2 = dedup.subscribe("k", produce);
  CHECK(f1->role() == DedupRole::Follower);
  CHECK(f2->role() == DedupRole::Follower);

  gate.release(2);
  std::string chunk;
  REQUIRE(leader->next(chunk));
  CHECK(chunk == kEvents[0]);
  REQUIRE(leader->next(chunk));
  CHECK(chunk == kEvents[1]);
  CHECK(probe->next_calls == 2);

  std::string got1;
  std::string got2;
  bool done1 = false;
  bool done2 = false;
  std::thread t1([&] {
    got1 = read_all(*f1);
    done1 = f1->completed();
  });
  std::thread t2([&] {
    got2 = read_all(*f2);
    done2 = f2->completed();
  });
  leader.reset();  // the leader's client disconnects
  CHECK_FALSE(probe->destroyed);
  gate.release(static_cast<int>(kEvents.size()) - 2 + 1);
  t1.join();
  t2.join();
  CHECK(got1 == concat(kEvents));
  CHECK(got2 == concat(kEvents));
  CHECK(done1);
  CHECK(done2);
  CHECK(probe->next_calls == static_cast<int>(kEvents.size()) + 1);  // pulled by followers
  CHECK(probe->ended);
  CHECK(probe->destroyed);
  CHECK(probe->violations == 0);
  CHECK(calls == 1);
}

TEST_CASE("when every subscriber leaves, the upstream stream is cancelled", "[dedup]") {
  testing::ManualClock clock;
  Deduplicator dedup(options_with(), clock);
  Gate gate;
  std::vector<std::shared_ptr<StreamProbe>> probes;
  std::atomic<int> calls{0};
  const Deduplicator::Producer produce = [&] {
    ++calls;
    probes.push_back(std::make_shared<StreamProbe>());
    return stream_result(std::make_unique<FakeStream>(kEvents, &gate, probes.back()));
  };
  auto leader = dedup.subscribe("k", produce);
  auto follower = dedup.subscribe("k", produce);
  gate.release(1);
  std::string chunk;
  REQUIRE(follower->next(chunk));
  CHECK(chunk == kEvents[0]);
  follower.reset();
  CHECK_FALSE(probes[0]->destroyed);
  leader.reset();
  CHECK(probes[0]->destroyed);
  CHECK_FALSE(probes[0]->ended);
  CHECK(dedup.stats().flights_in_progress == 0);
  CHECK(dedup.stats().recorded_bytes_held == 0);

  auto again = dedup.subscribe("k", produce);
  CHECK(again->role() == DedupRole::Leader);
  CHECK(calls == 2);
  gate.open();
  CHECK(read_all(*again) == concat(kEvents));
  CHECK(again->completed());
}

TEST_CASE("an error answer is shared with the followers and never cached", "[dedup][concurrency]") {
  testing::ManualClock clock;
  Deduplicator dedup(options_with(64u << 20, 1024, 60s), clock);
  Gate produce_gate;
  std::atomic<int> calls{0};
  const std::string error = anthropic_error_body("overloaded_error", "every provider failed");
  const Deduplicator::Producer produce = [&] {
    ++calls;
    produce_gate.acquire();
    return body_result(503, error);
  };
  struct Seen {
    int status = 0;
    std::string bytes;
    Headers headers;
  };
  std::vector<Seen> seen(3);
  std::vector<std::thread> threads;
  auto read_into = [](std::unique_ptr<DedupSubscription> sub, Seen& s) {
    s.status = sub->status();
    s.headers = sub->headers();
    s.bytes = read_all(*sub);
  };
  threads.emplace_back([&] { read_into(dedup.subscribe("k", produce), seen[0]); });
  REQUIRE(dedup.wait_for_stats([](const DedupStats& s) { return s.leaders == 1; }, kDeadline));
  for (int i = 1; i < 3; ++i) {
    auto sub = dedup.subscribe("k", produce);
    CHECK(sub->role() == DedupRole::Follower);
    threads.emplace_back([&, i, s = std::move(sub)]() mutable { read_into(std::move(s), seen[i]); });
  }
  produce_gate.release();
  for (auto& t : threads) {
    t.join();
  }
  for (const auto& s : seen) {
    CHECK(s.status == 503);
    CHECK(s.bytes == error);
    CHECK(s.headers == seen[0].headers);
  }
  CHECK(calls == 1);
  CHECK(dedup.stats().cache_entries == 0);
  produce_gate.release();
  auto again = dedup.subscribe("k", produce);
  CHECK(again->role() == DedupRole::Leader);
  CHECK(calls == 2);
}

TEST_CASE("a producer that throws becomes a 500 for every subscriber", "[dedup]") {
  testing::ManualClock clock;
  Deduplicator dedup(options_with(64u << 20, 1024, 60s), clock);
  auto s = dedup.subscribe("k", []() -> Response { throw std::runtime_error("boom"); });
  CHECK(s->role() == DedupRole::Leader);
  CHECK(s->status() == 500);
  CHECK_FALSE(s->streaming());
  CHECK(read_all(*s) == anthropic_error_body("api_error", "internal error: boom"));
  CHECK(dedup.stats().cache_entries == 0);
}

TEST_CASE("past the byte cap a flight takes no followers and drops what everyone read", "[dedup]") {
  testing::ManualClock clock;
  const std::vector<std::string> chunks = {"aaaaaaaa", "bbbbbbbb", "cccccccc", "dddddddd"};
  Deduplicator dedup(options_with(10, 1024, 60s), clock);
  Gate gate;
  std::vector<std::shared_ptr<StreamProbe>> probes;
  std::atomic<int> calls{0};
  const Deduplicator::Producer produce = [&] {
    ++calls;
    probes.push_back(std::make_shared<StreamProbe>());
    return stream_result(std::make_unique<FakeStream>(chunks, &gate, probes.back()));
  };
  auto leader = dedup.subscribe("k", produce);
  auto follower = dedup.subscribe("k", produce);  // joins under the cap
  CHECK(follower->role() == DedupRole::Follower);

  gate.release(2);
  std::string leader_bytes;
  std::string chunk;
  REQUIRE(leader->next(chunk));
  leader_bytes += chunk;
  CHECK(dedup.stats().recorded_bytes_held == 8);
  auto early = dedup.subscribe("k", produce);  // 8 bytes: still under the cap
  CHECK(early->role() == DedupRole::Follower);
  REQUIRE(leader->next(chunk));  // 16 bytes: past the cap
  leader_bytes += chunk;
  CHECK(dedup.stats().recorded_bytes_held == 16);  // the follower has not read yet

  auto late = dedup.subscribe("k", produce);
  CHECK(late->role() == DedupRole::Leader);  // its own flight
  CHECK(calls == 2);
  CHECK(dedup.stats().flights_in_progress == 2);

  std::string follower_bytes;
  REQUIRE(follower->next(chunk));
  follower_bytes += chunk;
  CHECK(follower_bytes == "aaaaaaaabbbbbbbb");
  CHECK(dedup.stats().recorded_bytes_held == 16);  // `early` has not read
  std::string early_bytes;
  REQUIRE(early->next(chunk));
  early_bytes += chunk;
  CHECK(dedup.stats().recorded_bytes_held == 0);  // everyone read it: dropped

  gate.release(3);  // the rest of the first flight and its end
  leader_bytes += read_all(*leader);
  CHECK(dedup.stats().recorded_bytes_held == 16);
  follower_bytes += read_all(*follower);
  early_bytes += read_all(*early);
  CHECK(dedup.stats().recorded_bytes_held == 0);
  CHECK(leader_bytes == concat(chunks));
  CHECK(follower_bytes == concat(chunks));
  CHECK(early_bytes == concat(chunks));
  CHECK(leader->completed());
  CHECK(follower->completed());
  CHECK(dedup.stats().cache_entries == 0);  // too big to keep

  gate.open();
  CHECK(read_all(*late) == concat(chunks));
  CHECK(late->completed());
  CHECK(probes[0]->violations == 0);
  CHECK(probes[1]->violations == 0);
}

TEST_CASE("past the byte cap a subscriber that falls too far behind is cut, not buffered for", "[dedup]") {
  testing::ManualClock clock;
  std::vector<std::string> chunks;
  for (int i = 0; i < 20; ++i) {
    chunks.push_back(std::string(8, static_cast<char>('a' + i)));
  }
  Deduplicator dedup(options_with(20, 1024), clock);
  const Deduplicator::Producer produce = [&] {
    return stream_result(std::make_unique<FakeStream>(chunks, nullptr, std::make_shared<StreamProbe>()));
  };
  auto reader = dedup.subscribe("k", produce);
  auto idle = dedup.subscribe("k", produce);  // joins, then never reads while the other does
  REQUIRE(idle->role() == DedupRole::Follower);

  std::string got;
  std::string chunk;
  std::size_t most_held = 0;
  while (reader->next(chunk)) {
    got += chunk;
    most_held = std::max(most_held, dedup.stats().recorded_bytes_held);
  }
  CHECK(got == concat(chunks));  // the reader is not held back by the idle one
  CHECK(reader->completed());
  CHECK(most_held <= 2 * 20 + 8);  // bounded by the cap, not by the response (160 bytes)

  // The idle subscriber learns it was cut, with an Anthropic error event, then the end.
  REQUIRE(idle->next(chunk));
  CHECK(chunk.find("event: error") == 0);
  CHECK(chunk.find("fell too far behind") != std::string::npos);
  CHECK_FALSE(idle->next(chunk));
}

TEST_CASE("a non-stream body past the byte cap is answered but not kept", "[dedup]") {
  testing::ManualClock clock;
  Deduplicator dedup(options_with(4, 1024, 60s), clock);
  int calls = 0;
  const Deduplicator::Producer produce = [&] {
    ++calls;
    return body_result(200, "0123456789");
  };
  {
    auto s = dedup.subscribe("k", produce);
    CHECK(read_all(*s) == "0123456789");
    CHECK(dedup.stats().recorded_bytes_held == 0);
  }
  auto s = dedup.subscribe("k", produce);
  CHECK(s->role() == DedupRole::Leader);
  CHECK(calls == 2);
}

TEST_CASE("the cache serves completed 2xx answers within the TTL", "[dedup]") {
  testing::ManualClock clock;
  Deduplicator dedup(options_with(64u << 20, 1024, 1000ms, 2), clock);
  std::atomic<int> calls{0};
  auto body_producer = [&](std::string body) {
    return Deduplicator::Producer([&calls, body] {
      ++calls;
      return body_result(200, body);
    });
  };

  SECTION("hit within the TTL, miss after it") {
    {
      auto s = dedup.subscribe("k", body_producer("one"));
      CHECK(s->role() == DedupRole::Leader);
      CHECK(read_all(*s) == "one");
    }
    CHECK(dedup.stats().cache_entries == 1);
    CHECK(dedup.stats().recorded_bytes_held == 3);
    clock.advance(999ms);
    {
      auto s = dedup.subscribe("k", body_producer("two"));
      CHECK(s->role() == DedupRole::Cache);
      CHECK(s->status() == 200);
      CHECK(find_header(s->headers(), "content-type") == std::optional<std::string_view>("application/json"));
      CHECK_FALSE(s->streaming());
      CHECK(read_all(*s) == "one");
      CHECK(s->completed());
      CHECK(s->meta().provider == "A");
      CHECK(s->meta().attempts.size() == 1);
    }
    CHECK(calls == 1);
    CHECK(dedup.stats().cache_hits == 1);
    clock.advance(1ms);
    {
      auto s = dedup.subscribe("k", body_producer("three"));
      CHECK(s->role() == DedupRole::Leader);
      CHECK(read_all(*s) == "three");
    }
    CHECK(calls == 2);
    auto s = dedup.subscribe("k", body_producer("four"));
    CHECK(s->role() == DedupRole::Cache);
    CHECK(read_all(*s) == "three");
  }

  SECTION("least recently used entries are evicted first") {
    dedup.subscribe("a", body_producer("A"));
    dedup.subscribe("b", body_producer("B"));
    CHECK(dedup.subscribe("a", body_producer("x"))->role() == DedupRole::Cache);  // touch a
    dedup.subscribe("c", body_producer("C"));                                     // evicts b
    CHECK(dedup.stats().cache_entries == 2);
    CHECK(dedup.subscribe("a", body_producer("x"))->role() == DedupRole::Cache);
    CHECK(dedup.subscribe("c", body_producer("x"))->role() == DedupRole::Cache);
    CHECK(dedup.subscribe("b", body_producer("x"))->role() == DedupRole::Leader);
    CHECK(calls == 4);
  }

  SECTION("bypass_cache goes upstream and refreshes the entry") {
    dedup.subscribe("k", body_producer("old"));
    auto fresh = dedup.subscribe("k", body_producer("new"), true);
    CHECK(fresh->role() == DedupRole::Leader);
    CHECK(read_all(*fresh) == "new");
    auto s = dedup.subscribe("k", body_producer("x"));
    CHECK(s->role() == DedupRole::Cache);
    CHECK(read_all(*s) == "new");
    CHECK(calls == 2);
  }

  SECTION("completed streams are cached byte for byte; incomplete ones are not") {
    auto probe = std::make_shared<StreamProbe>();
    const Deduplicator::Producer ok = [&] {
      ++calls;
      return stream_result(std::make_unique<FakeStream>(kEvents, nullptr, probe));
    };
    {
      auto s = dedup.subscribe("s", ok);
      CHECK(read_all(*s) == concat(kEvents));
    }
    auto hit = dedup.subscribe("s", ok);
    CHECK(hit->role() == DedupRole::Cache);
    CHECK(hit->streaming());
    CHECK(read_all(*hit) == concat(kEvents));
    CHECK(hit->completed());

    const Deduplicator::Producer broken = [&] {
      ++calls;
      return stream_result(std::make_unique<FakeStream>(kEvents, nullptr, probe, false));
    };
    {
      auto s = dedup.subscribe("t", broken);
      CHECK(read_all(*s) == concat(kEvents));
      CHECK_FALSE(s->completed());
    }
    CHECK(dedup.subscribe("t", broken)->role() == DedupRole::Leader);
    // A stream cut because everyone left is not cached either.
    Gate gate;
    const Deduplicator::Producer gated = [&] {
      ++calls;
      return stream_result(std::make_unique<FakeStream>(kEvents, &gate, probe));
    };
    dedup.subscribe("u", gated);
    CHECK(dedup.subscribe("u", gated)->role() == DedupRole::Leader);
    CHECK(calls == 5);
  }

  SECTION("a 200 stream the upstream ended with an error event is not cached") {
    std::vector<std::string> errored(kEvents.begin(), kEvents.end() - 1);
    errored.push_back(anthropic_error_event("overloaded_error", "busy"));
    const Deduplicator::Producer producer = [&] {
      ++calls;  // the relay calls such a stream completed: the upstream ended it itself
      return stream_result(std::make_unique<FakeStream>(errored, nullptr, std::make_shared<StreamProbe>()));
    };
    {
      auto s = dedup.subscribe("x", producer);
      CHECK(read_all(*s) == concat(errored));
      CHECK(s->completed());
    }
    CHECK(dedup.subscribe("x", producer)->role() == DedupRole::Leader);
    CHECK(calls == 2);
  }

  SECTION("errors are not cached") {
    const Deduplicator::Producer failing = [&] {
      ++calls;
      return body_result(529, anthropic_error_body("overloaded_error", "busy"));
    };
    dedup.subscribe("e", failing);
    CHECK(dedup.subscribe("e", failing)->role() == DedupRole::Leader);
    CHECK(dedup.stats().cache_entries == 0);
  }

  SECTION("turning the cache off empties it") {
    dedup.subscribe("k", body_producer("one"));
    CHECK(dedup.stats().cache_entries == 1);
    dedup.set_options(options_with());
    CHECK(dedup.stats().cache_entries == 0);
    CHECK(dedup.stats().recorded_bytes_held == 0);
    CHECK(dedup.subscribe("k", body_producer("two"))->role() == DedupRole::Leader);
  }
}

TEST_CASE("past max_flights requests run uncoalesced", "[dedup]") {
  testing::ManualClock clock;
  Deduplicator dedup(options_with(64u << 20, 1), clock);
  Gate gate;
  auto probe = std::make_shared<StreamProbe>();
  auto probe2 = std::make_shared<StreamProbe>();
  std::atomic<int> calls{0};
  auto first = dedup.subscribe("k1", [&] {
    ++calls;
    return stream_result(std::make_unique<FakeStream>(kEvents, &gate, probe));
  });
  CHECK(first->role() == DedupRole::Leader);
  auto follower = dedup.subscribe("k1", [&] {
    ++calls;
    return body_result(200, "unused");
  });
  CHECK(follower->role() == DedupRole::Follower);  // joining is not limited

  auto none = dedup.subscribe("k2", [&] {
    ++calls;
    return stream_result(std::make_unique<FakeStream>(kEvents, nullptr, probe2));
  });
  CHECK(none->role() == DedupRole::None);
  CHECK(none->status() == 200);
  CHECK(none->streaming());
  CHECK(none->meta().provider == "A");
  CHECK(read_all(*none) == concat(kEvents));
  CHECK(none->completed());
  none.reset();
  CHECK(probe2->destroyed);

  auto body = dedup.subscribe("k3", [&] {
    ++calls;
    return body_result(200, "body");
  });
  CHECK(body->role() == DedupRole::None);
  CHECK_FALSE(body->streaming());
  CHECK(read_all(*body) == "body");
  CHECK(body->completed());
  CHECK(calls == 3);
  const auto stats = dedup.stats();
  CHECK(stats.uncoalesced == 2);
  CHECK(stats.flights_in_progress == 1);

  dedup.set_options(options_with(64u << 20, 2));
  CHECK(dedup.subscribe("k4", [] { return body_result(200, ""); })->role() == DedupRole::Leader);
}

TEST_CASE("flights outlive the Deduplicator", "[dedup]") {
  testing::ManualClock clock;
  auto dedup = std::make_unique<Deduplicator>(options_with(64u << 20, 1024, 60s), clock);
  auto probe = std::make_shared<StreamProbe>();
  Gate gate;
  auto leader =
      dedup->subscribe("k", [&] { return stream_result(std::make_unique<FakeStream>(kEvents, &gate, probe)); });
  auto follower = dedup->subscribe("k", [] { return body_result(200, ""); });
  dedup.reset();
  gate.open();
  CHECK(read_all(*leader) == concat(kEvents));
  CHECK(read_all(*follower) == concat(kEvents));
  CHECK(follower->completed());
  leader.reset();
  follower.reset();
  CHECK(probe->destroyed);
}

TEST_CASE("many threads subscribe, read and leave at random points", "[dedup][concurrency]") {
  constexpr int kThreads = 16;
  constexpr int kIterations = 150;
  constexpr int kKeys = 7;
  // Key k: a stream of (6 + 3k) events; key 5 answers a body at once, key 6 throws.
  auto events_of = [](int k) {
    std::vector<std::string> events;
    for (int i = 0; i < 6 + 3 * k; ++i) {
      events.push_back("k" + std::to_string(k) + "e" + std::to_string(i) + ":" +
                       std::string(static_cast<std::size_t>((k * 7 + i) % 13), 'x') + "\n");
    }
    events.push_back("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");  // cacheable
    return events;
  };
  const std::string boom = anthropic_error_body("api_error", "internal error: boom");

  for (const bool cache : {false, true}) {
    INFO("cache " << cache);
    testing::ManualClock clock;
    // A 120-byte cap: the longer streams stop taking followers and drop what was read.
    Deduplicator dedup(options_with(120, 1024, cache ? 20ms : 0ms, 3), clock);
    std::atomic<int> violations{0};
    std::atomic<int> failures{0};
    std::atomic<int> completed_reads{0};
    std::atomic<int> produced{0};
    std::latch start(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937 rng(1234u + static_cast<unsigned>(t));
        start.arrive_and_wait();
        for (int i = 0; i < kIterations; ++i) {
          const int k = static_cast<int>(rng() % kKeys);
          const auto events = events_of(k);
          const std::string expected = k == 6 ? boom : concat(events);
          const Deduplicator::Producer produce = [&, k, events]() -> Response {
            ++produced;
            if (k == 6) {
              throw std::runtime_error("boom");
            }
            if (k == 5) {
              return body_result(200, concat(events));
            }
            auto probe = std::make_shared<StreamProbe>();
            // The probe outlives the stream only through this shared_ptr; violations are
            // counted into the test's counter when the stream is destroyed.
            struct Checked final : BodySource {
              Checked(std::vector<std::string> e, std::shared_ptr<StreamProbe> p, std::atomic<int>& v)
                  : inner(std::move(e), nullptr, p, true, true), probe(std::move(p)), out(v) {}
              ~Checked() override { out += probe->violations.load(); }
              bool next(std::string& o) override { return inner.next(o); }
              bool completed() const override { return inner.completed(); }
              const std::string& failure() const override { return inner.failure(); }
              FakeStream inner;
              std::shared_ptr<StreamProbe> probe;
              std::atomic<int>& out;
            };
            return stream_result(std::make_unique<Checked>(events, probe, violations));
          };
          const bool bypass = rng() % 5 == 0;
          auto sub = dedup.subscribe("key" + std::to_string(k), produce, bypass);
          // Half the readers read to the end, the others leave after a random number of reads.
          const int leave_after = rng() % 2 == 0 ? 1 << 20 : static_cast<int>(rng() % (events.size() + 1));
          std::string got;
          std::string chunk;
          bool ended = false;
          bool cut = false;  // fell more than the cap behind: an error event, then the end
          for (int n = 0; n < leave_after; ++n) {
            if (!sub->next(chunk)) {
              ended = true;
              break;
            }
            if (chunk.find("fell too far behind") != std::string::npos) {
              cut = true;
              if (sub->next(chunk)) {
                ++failures;  // nothing may follow the cut
              }
              break;
            }
            got += chunk;
          }
          if (expected.compare(0, got.size(), got) != 0) {
            ++failures;  // not a prefix of the response
          }
          if (ended && !cut) {
            const int status = sub->status();
            if (got != expected || !sub->completed() || status != (k == 6 ? 500 : 200)) {
              ++failures;
            } else {
              ++completed_reads;
            }
          }
          if (cache && rng() % 4 == 0) {
            clock.advance(1ms);
          }
        }
      });
    }
    for (auto& th : threads) {
      th.join();
    }
    CHECK(failures == 0);
    CHECK(violations == 0);
    CHECK(completed_reads > kThreads * kIterations / 4);
    const auto stats = dedup.stats();
    CHECK(stats.followers > 0);  // ~half the subscriptions join a flight in practice
    if (cache) {
      CHECK(stats.cache_hits > 0);
    }
    CHECK(stats.flights_in_progress == 0);
    CHECK(stats.leaders + stats.followers + stats.cache_hits + stats.uncoalesced ==
          static_cast<std::uint64_t>(kThreads * kIterations));
    CHECK(static_cast<std::uint64_t>(produced.load()) == stats.leaders + stats.uncoalesced);
    if (!cache) {
      CHECK(stats.recorded_bytes_held == 0);
      CHECK(stats.cache_entries == 0);
    }
  }
}
