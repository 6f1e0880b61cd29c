// coalesce_calls: the Deduplicator alone. Two identical requests arrive while the first one's
// upstream call is still running: the second joins that flight instead of calling again, and
// both get the same bytes. Latches make the timing exact (the follower subscribes while the
// leader's producer is blocked); nothing sleeps. Exits 0 when the producer ran once for both.
#include <atomic>
#include <cstdio>
#include <latch>
#include <memory>
#include <string>
#include <thread>

#include <balancer/deduplicator.h>
#include <balancer/response.h>
#include <balancer/testing/manual_clock.h>

namespace {

// Everything one subscriber received.
struct Received {
  balancer::DedupRole role = balancer::DedupRole::None;
  int status = 0;
  std::string body;
};

Received read_all(balancer::DedupSubscription& subscription) {
  Received received{subscription.role(), subscription.status(), {}};
  for (std::string chunk; subscription.next(chunk);) {
    received.body += chunk;
  }
  return received;
}

void print(const char* who, const Received& received) {
  std::printf("%-8s role=%-8s status=%d body=%s\n", who, std::string(to_string(received.role)).c_str(), received.status,
              received.body.c_str());
}

}  // namespace

int main() {
  balancer::testing::ManualClock clock;
  balancer::Deduplicator dedup(balancer::DedupOptions{}, clock);  // cache off: only live flights

  // Identical path, body, answer-changing headers and caller give the same key.
  const std::string body = R"({"model":"claude-sonnet-4-5","max_tokens":16,"messages":[]})";
  const balancer::Headers headers{{"anthropic-version", "2023-06-01"}};
  const std::string key = balancer::dedup_key("/v1/messages", body, headers, "client-key-1");

  std::atomic<int> producer_calls{0};
  std::latch producer_started(1);  // the leader's upstream call is in progress
  std::latch follower_joined(1);   // the follower has subscribed; the upstream may answer now
  const balancer::Deduplicator::Producer call_upstream = [&] {
    if (++producer_calls == 1) {  // only the first call waits; a second one would be the bug shown
      producer_started.count_down();
      follower_joined.wait();
    }
    balancer::Response response;
    response.status = 200;
    response.headers = {{"content-type", "application/json"}};
    response.body = R"({"type":"message","content":[{"type":"text","text":"hi"}]})";
    response.provider = "primary";
    return response;
  };

  Received leader;
  std::thread leader_thread([&] {
    auto subscription = dedup.subscribe(key, call_upstream);  // runs call_upstream here
    leader = read_all(*subscription);
  });

  producer_started.wait();
  auto follower_subscription = dedup.subscribe(key, call_upstream);  // joins; does not call
  follower_joined.count_down();
  const Received follower = read_all(*follower_subscription);  // blocks until the leader's answer
  leader_thread.join();

  print("leader", leader);
  print("follower", follower);
  const balancer::DedupStats stats = dedup.stats();
  std::printf("producer calls=%d leaders=%llu followers=%llu\n", producer_calls.load(),
              static_cast<unsigned long long>(stats.leaders), static_cast<unsigned long long>(stats.followers));

  const bool ok = producer_calls == 1 && leader.role == balancer::DedupRole::Leader &&
                  follower.role == balancer::DedupRole::Follower && leader.status == 200 && follower.status == 200 &&
                  !leader.body.empty() && follower.body == leader.body;
  std::printf("%s\n", ok ? "OK" : "FAILED: the calls were not coalesced");
  return ok ? 0 : 1;
}
