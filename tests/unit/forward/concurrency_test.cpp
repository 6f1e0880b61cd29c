// Shared objects used from many request threads at once. Also run under ThreadSanitizer.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include <balancer/testing/fake_transport.h>
#include <balancer/testing/manual_clock.h>
#include <balancer/testing/scripted_random.h>
#include "forward/forwarder.h"

using namespace balancer;
using balancer::testing::FakeResponse;

TEST_CASE("Forwarder, Router and ProviderStats serve many threads at once", "[unit][concurrency]") {
  auto config = std::make_shared<BalancerConfig>();
  for (const char* name : {"A", "B"}) {
    ProviderConfig p;
    p.name = name;
    p.base_url = std::string("https://") + name + ".example";
    p.auth_value = "k";
    config->providers.push_back(p);
  }
  RouteEntry a;
  a.provider = "A";
  RouteEntry b;
  b.provider = "B";
  b.priority = 2;
  config->model_routes = {{"*", {a, b}}};
  std::atomic<int> calls{0};
  testing::FakeTransport transport([&](const HttpRequest& r) {
    // Every other request fails on A, so both the failover path and the success path race.
    const bool fail = r.url.find("A.example") != std::string::npos && (calls++ % 2 == 0);
    if (fail) {
      return FakeResponse::json(529, "{}");
    }
    return FakeResponse::sse(
        {"event: message_start\ndata: {}\n\n", "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"});
  });
  AlwaysHealthy health;
  testing::ScriptedRandom random{1, 2, 3};
  testing::ManualClock clock;
  ProviderStats stats;
  ClientAuth auth(config->auth);
  Router router(config, health, random);
  Forwarder forwarder(router, transport, auth, clock, stats);

  constexpr int kThreads = 16;
  constexpr int kPerThread = 50;
  std::atomic<int> complete{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r = forwarder.forward({"/v1/messages", "", {}, R"({"model":"m","stream":true})"});
        std::string all;
        std::string chunk;
        while (r.stream && r.stream->next(chunk)) {
          all += chunk;
        }
        if (r.status == 200 && r.stream && r.stream->completed()) {
          ++complete;
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  CHECK(complete == kThreads * kPerThread);
  const auto a_counters = stats.get("A");
  const auto b_counters = stats.get("B");
  CHECK(a_counters.requests == kThreads * kPerThread);
  CHECK(a_counters.failures + b_counters.requests == a_counters.requests);
  CHECK(transport.call_count() == a_counters.requests + b_counters.requests);
}
