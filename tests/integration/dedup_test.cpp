// Request coalescing end to end (spec §8, issue 6): the real in-process server, real libcurl
// clients on sockets, fake upstreams on 127.0.0.1:0. Followers are made to join at chosen points
// by waiting on recorded state (the deduplicator's counters through Deduplicator::wait_for_stats,
// the fake's events written), each wait woken by the change itself; never by sleeping or polling.
#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "fake_upstream.h"
#include "test_balancer.h"
#include "test_client.h"
#include "test_sync.h"

namespace balancer::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr auto kDeadline = 10s;

HeaderList headers(std::string key = "") {
  HeaderList h = {{"Content-Type", "application/json"}, {"anthropic-version", "2023-06-01"}};
  if (!key.empty()) {
    h.emplace_back("x-api-key", std::move(key));
  }
  return h;
}

std::string body(bool stream, std::string_view text = "same question") {
  return fmt::format(
      R"({{"model":"claude-x","max_tokens":32,"stream":{},"messages":[{{"role":"user","content":"{}"}}]}})",
      stream ? "true" : "false", text);
}

std::string config(const std::string& url, std::string_view settings = "", std::string_view extra = "") {
  return "providers:\n" + provider_yaml("A", url) + "model_routes:\n  \"*\": [{provider: \"A\"}]\n" +
         test_settings_yaml(settings) + std::string(extra);
}

// Waits until the deduplicator counted `n` followers (they are waiting on the flight).
bool followers_joined(TestBalancer& balancer, std::uint64_t n) {
  return balancer.app().dedup().wait_for_stats([n](const DedupStats& s) { return s.followers >= n; }, kDeadline);
}

// Waits until the deduplicator counted a leader (its flight exists).
bool leader_started(TestBalancer& balancer) {
  return balancer.app().dedup().wait_for_stats([](const DedupStats& s) { return s.leaders >= 1; }, kDeadline);
}

bool events_written(const FakeUpstream& upstream, std::size_t n) {
  return upstream.wait_until(
      [n](const auto&, const std::vector<StreamRecord>& streams) {
        return !streams.empty() && streams.back().events_written >= n;
      },
      kDeadline);
}

std::size_t count_role(const std::vector<ClientResponse>& responses, std::string_view role) {
  return static_cast<std::size_t>(std::count_if(responses.begin(), responses.end(), [&](const ClientResponse& r) {
    return r.header("x-balancer-dedup") == std::string(role);
  }));
}

}  // namespace

TEST_CASE("dedup: 5 concurrent identical requests make one upstream call", "[dedup]") {
  TestBalancer* balancer_ptr = nullptr;
  FakeUpstream upstream([&](const RecordedRequest&) {
    followers_joined(*balancer_ptr, 4);  // answer once the other four are waiting
    return Reply::json(message_json("the one answer"));
  });
  TestBalancer balancer(config(upstream.url()));
  balancer_ptr = &balancer;

  std::vector<ClientRequest> requests(5);
  for (auto& r : requests) {
    r.url = balancer.url("/v1/messages");
    r.headers = headers();
    r.body = body(false);
  }
  const auto responses = perform_all(requests);

  CHECK(upstream.request_count() == 1);
  for (const ClientResponse& r : responses) {
    CHECK(r.status == 200);
    CHECK(r.body == responses[0].body);
    CHECK(r.header("x-balancer-provider") == "A");
  }
  CHECK(count_role(responses, "leader") == 1);
  CHECK(count_role(responses, "follower") == 4);
  // Each request keeps its own id.
  CHECK(responses[0].header("x-balancer-request-id") != responses[1].header("x-balancer-request-id"));
}

TEST_CASE("dedup: streams joining before the first byte, mid-stream and near the end all get every byte", "[dedup]") {
  const std::vector<std::string> events = message_stream({"one", " two", " three", " four", " five", " six"});
  FakeUpstream upstream([&](const RecordedRequest&) {
    Reply reply = Reply::sse(events, 60ms);
    reply.header_delay = 200ms;
    return reply;
  });
  TestBalancer balancer(config(upstream.url()));
  const std::string url = balancer.url("/v1/messages");
  std::vector<ClientResponse> responses(4);
  std::vector<std::thread> clients;
  clients.emplace_back([&] { responses[0] = post(url, body(true), headers()); });
  REQUIRE(upstream.wait_for_requests(1, kDeadline));
  clients.emplace_back([&] { responses[1] = post(url, body(true), headers()); });  // before the first byte
  REQUIRE(followers_joined(balancer, 1));
  REQUIRE(events_written(upstream, 4));
  clients.emplace_back([&] { responses[2] = post(url, body(true), headers()); });  // mid-stream
  REQUIRE(followers_joined(balancer, 2));
  REQUIRE(events_written(upstream, events.size() - 2));
  clients.emplace_back([&] { responses[3] = post(url, body(true), headers()); });  // near the end
  for (auto& c : clients) {
    c.join();
  }

  CHECK(upstream.request_count() == 1);
  for (const ClientResponse& r : responses) {
    CHECK(r.status == 200);
    CHECK(r.body == join(events));
  }
  CHECK(responses[0].header("x-balancer-dedup") == "leader");
  // The last one may arrive after the flight ended: then it is a new flight of its own.
  CHECK(upstream.request_count() + static_cast<std::size_t>(count_role(responses, "follower")) == 4);
}

TEST_CASE("dedup: different bodies or different callers are never merged", "[dedup]") {
  Counter calls;
  FakeUpstream upstream([&](const RecordedRequest& r) {
    calls.add();
    // Hold the first answer until the second request reached the upstream too: both in flight.
    calls.wait_for_at_least(2, kDeadline);
    return Reply::json(message_json(r.body.find("other") != std::string::npos ? "B" : "A"));
  });
  SECTION("different bodies") {
    TestBalancer balancer(config(upstream.url()));
    std::vector<ClientRequest> requests(2);
    requests[0] = {"POST", balancer.url("/v1/messages"), headers(), body(false), std::nullopt, 30s};
    requests[1] = {"POST", balancer.url("/v1/messages"), headers(), body(false, "other"), std::nullopt, 30s};
    const auto responses = perform_all(requests);
    CHECK(upstream.request_count() == 2);
    CHECK(responses[0].body != responses[1].body);
    CHECK(count_role(responses, "leader") == 2);
  }
  SECTION("same body, different client keys") {
    TestBalancer balancer(
        config(upstream.url(), "", "auth:\n  enabled: true\n  api_keys: [\"key-one\", \"key-two\"]\n"));
    std::vector<ClientRequest> requests(2);
    requests[0] = {"POST", balancer.url("/v1/messages"), headers("key-one"), body(false), std::nullopt, 30s};
    requests[1] = {"POST", balancer.url("/v1/messages"), headers("key-two"), body(false), std::nullopt, 30s};
    const auto responses = perform_all(requests);
    CHECK(upstream.request_count() == 2);
    CHECK(count_role(responses, "leader") == 2);
  }
  SECTION("same body, different Authorization tokens (passthrough credentials)") {
    TestBalancer balancer(config(upstream.url()));
    HeaderList one = headers(), two = headers();
    one.emplace_back("Authorization", "Bearer user-token-one");
    two.emplace_back("Authorization", "Bearer user-token-two");
    std::vector<ClientRequest> requests(2);
    requests[0] = {"POST", balancer.url("/v1/messages"), one, body(false), std::nullopt, 30s};
    requests[1] = {"POST", balancer.url("/v1/messages"), two, body(false), std::nullopt, 30s};
    const auto responses = perform_all(requests);
    CHECK(upstream.request_count() == 2);
    CHECK(count_role(responses, "leader") == 2);
  }
}

TEST_CASE("dedup: sequential identical requests go upstream each time (no cache by default)", "[dedup]") {
  FakeUpstream upstream;
  TestBalancer balancer(config(upstream.url()));
  const auto first = post(balancer.url("/v1/messages"), body(false), headers());
  const auto second = post(balancer.url("/v1/messages"), body(false), headers());
  CHECK(upstream.request_count() == 2);
  CHECK(first.header("x-balancer-dedup") == "leader");
  CHECK(second.header("x-balancer-dedup") == "leader");
}

TEST_CASE("dedup: the leader hanging up mid-stream does not cut its followers", "[dedup]") {
  const std::vector<std::string> events = message_stream({"a", "b", "c", "d", "e", "f", "g", "h"});
  TestBalancer* balancer_ptr = nullptr;
  FakeUpstream upstream([&](const RecordedRequest&) {
    followers_joined(*balancer_ptr, 2);  // both followers are in before the leader can leave
    return Reply::sse(events, 60ms);
  });
  TestBalancer balancer(config(upstream.url()));
  balancer_ptr = &balancer;
  const std::string url = balancer.url("/v1/messages");
  ClientResponse leader;
  std::vector<ClientResponse> followers(2);
  std::thread leader_client([&] {
    ClientRequest r{"POST", url, headers(), body(true), std::size_t{400}, 30s};  // hangs up after ~2 events
    leader = perform(r);
  });
  // The leader's flight exists (its upstream answer is held until both followers joined).
  REQUIRE(leader_started(balancer));
  std::thread f1([&] { followers[0] = post(url, body(true), headers()); });
  std::thread f2([&] { followers[1] = post(url, body(true), headers()); });
  leader_client.join();
  f1.join();
  f2.join();

  CHECK(leader.body.size() < join(events).size());  // the leader really left early
  CHECK(upstream.request_count() == 1);
  for (const ClientResponse& r : followers) {
    CHECK(r.status == 200);
    CHECK(r.body == join(events));
    CHECK(r.header("x-balancer-dedup") == "follower");
  }
  CHECK(upstream.wait_for_streams(StreamOutcome::Completed, 1, kDeadline));
}

TEST_CASE("dedup: when every subscriber hangs up the upstream call is cancelled", "[dedup]") {
  const std::vector<std::string> events = message_stream(std::vector<std::string>(40, "tick"));
  TestBalancer* balancer_ptr = nullptr;
  FakeUpstream upstream([&](const RecordedRequest&) {
    followers_joined(*balancer_ptr, 1);
    return Reply::sse(events, 50ms);
  });
  TestBalancer balancer(config(upstream.url()));
  balancer_ptr = &balancer;
  const std::string url = balancer.url("/v1/messages");
  std::thread a([&] { perform({"POST", url, headers(), body(true), std::size_t{300}, 30s}); });
  REQUIRE(leader_started(balancer));
  std::thread b([&] { perform({"POST", url, headers(), body(true), std::size_t{300}, 30s}); });
  a.join();
  b.join();
  CHECK(upstream.wait_for_streams(StreamOutcome::ClientGone, 1, kDeadline));
  CHECK(upstream.request_count() == 1);
  CHECK(
      balancer.app().dedup().wait_for_stats([](const DedupStats& s) { return s.flights_in_progress == 0; }, kDeadline));
}

TEST_CASE("dedup: an error before the first byte reaches every subscriber the same way", "[dedup]") {
  TestBalancer* balancer_ptr = nullptr;
  FakeUpstream upstream([&](const RecordedRequest&) {
    followers_joined(*balancer_ptr, 2);
    return Reply::error(529, "overloaded_error", "Overloaded");
  });
  TestBalancer balancer(config(upstream.url()));
  balancer_ptr = &balancer;
  std::vector<ClientRequest> requests(3);
  for (auto& r : requests) {
    r = {"POST", balancer.url("/v1/messages"), headers(), body(true), std::nullopt, 30s};
  }
  const auto responses = perform_all(requests);
  CHECK(upstream.request_count() == 1);
  for (const ClientResponse& r : responses) {
    CHECK(r.status == 529);
    CHECK(r.body == responses[0].body);
    CHECK(anthropic_error_type(r.body) == "overloaded_error");
  }
}

TEST_CASE("dedup: past the per-flight byte cap a late request gets its own flight", "[dedup]") {
  const std::vector<std::string> events = message_stream({"aaaaaaaaaa", "bbbbbbbbbb", "cccccccccc", "dddddddddd"});
  FakeUpstream upstream([&](const RecordedRequest&) { return Reply::sse(events, 80ms); });
  TestBalancer balancer(
      config(upstream.url(), "  deduplication: {enabled: true, max_flight_bytes: 300, max_flights: 16}\n"));
  const std::string url = balancer.url("/v1/messages");
  ClientResponse first, late;
  std::thread a([&] { first = post(url, body(true), headers()); });
  REQUIRE(upstream.wait_for_requests(1, kDeadline));
  REQUIRE(events_written(upstream, 4));  // well past 300 bytes
  late = post(url, body(true), headers());
  a.join();
  CHECK(upstream.request_count() == 2);
  CHECK(first.body == join(events));
  CHECK(late.body == join(events));
  CHECK(late.header("x-balancer-dedup") == "leader");
}

TEST_CASE("dedup: the opt-in cache serves completed answers, unless the client says no-cache", "[dedup]") {
  FakeUpstream upstream;
  TestBalancer balancer(config(upstream.url(), "  cache_ttl_seconds: 60\n"));
  const auto first = post(balancer.url("/v1/messages"), body(false), headers());
  const auto cached = post(balancer.url("/v1/messages"), body(false), headers());
  HeaderList no_cache = headers();
  no_cache.emplace_back("Cache-Control", "no-cache");
  const auto bypassed = post(balancer.url("/v1/messages"), body(false), no_cache);

  CHECK(upstream.request_count() == 2);
  CHECK(cached.header("x-balancer-dedup") == "cache");
  CHECK(cached.body == first.body);
  CHECK(bypassed.header("x-balancer-dedup") == "leader");
  const json providers = json::parse(get(balancer.url("/providers")).body);
  CHECK(providers.at("deduplication").at("cache_hits") == 1);
}

TEST_CASE("dedup: off when deduplication.enabled is false", "[dedup]") {
  Counter calls;
  FakeUpstream upstream([&](const RecordedRequest&) {
    calls.add();
    calls.wait_for_at_least(2, kDeadline);
    return Reply::json(message_json("x"));
  });
  TestBalancer balancer(config(upstream.url(), "  deduplication: {enabled: false}\n"));
  std::vector<ClientRequest> requests(2);
  for (auto& r : requests) {
    r = {"POST", balancer.url("/v1/messages"), headers(), body(false), std::nullopt, 30s};
  }
  const auto responses = perform_all(requests);
  CHECK(upstream.request_count() == 2);
  CHECK_FALSE(responses[0].header("x-balancer-dedup"));
}

}  // namespace balancer::test
