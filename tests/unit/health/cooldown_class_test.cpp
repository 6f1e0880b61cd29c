// cooldown_class_test.cpp — which settings.cooldowns class a failure gets, and that the
// HealthTracker uses that class's cooldown (and its 10x cap) for it.
#include <catch2/catch.hpp>

#include <balancer/health.h>
#include <balancer/health_tracker.h>
#include <balancer/testing/manual_clock.h>

using namespace balancer;
using namespace std::chrono_literals;

TEST_CASE("cooldown_class_of: the upstream's error type first, then the failure class, then the status",
          "[unit][health]") {
  CHECK(cooldown_class_of("http_status", 429) == CooldownClass::RateLimit);
  CHECK(cooldown_class_of("http_status", 529) == CooldownClass::Overloaded);
  CHECK(cooldown_class_of("http_status", 503) == CooldownClass::Overloaded);
  CHECK(cooldown_class_of("http_status", 500) == CooldownClass::ServerError);
  CHECK(cooldown_class_of("http_status", 502) == CooldownClass::ServerError);
  CHECK(cooldown_class_of("http_status", 401) == CooldownClass::Auth);
  CHECK(cooldown_class_of("http_status", 403) == CooldownClass::Auth);
  CHECK(cooldown_class_of("http_status", 504) == CooldownClass::Timeout);
  CHECK(cooldown_class_of("timeout_error", 0) == CooldownClass::Timeout);
  CHECK(cooldown_class_of("connection_error", 0) == CooldownClass::Connection);
  CHECK(cooldown_class_of("ssl_error", 0) == CooldownClass::Connection);
  CHECK(cooldown_class_of("oauth_refresh", 0) == CooldownClass::Auth);
  CHECK(cooldown_class_of("error_payload", 200) == CooldownClass::ServerError);
  CHECK(cooldown_class_of("stream_error", 0) == CooldownClass::ServerError);
  // An error type the upstream named wins: a 400 saying overloaded, a mid-stream error event.
  CHECK(cooldown_class_of("upstream_error", 0, "overloaded_error") == CooldownClass::Overloaded);
  CHECK(cooldown_class_of("upstream_error", 0, "rate_limit_error") == CooldownClass::RateLimit);
  CHECK(cooldown_class_of("http_status", 500, "authentication_error") == CooldownClass::Auth);
  CHECK(cooldown_class_of("upstream_error", 0, "api_error") == CooldownClass::ServerError);
  for (auto c : {CooldownClass::RateLimit, CooldownClass::Overloaded, CooldownClass::ServerError, CooldownClass::Auth,
                 CooldownClass::Connection, CooldownClass::Timeout}) {
    CHECK_FALSE(to_string(c).empty());
  }
  CHECK(to_string(CooldownClass::RateLimit) == "rate_limit");
  CHECK(to_string(CooldownClass::ServerError) == "server_error");
}

TEST_CASE("HealthTracker: each failure class cools down for its own time, failure_cooldown for the rest",
          "[unit][health]") {
  testing::ManualClock clock;
  HealthConfig config;
  config.unhealthy_threshold = 1;
  config.failure_cooldown = 60s;
  config.max_cooldown_factor = 10;
  config.cooldowns[static_cast<std::size_t>(CooldownClass::Auth)] = 1800s;
  config.cooldowns[static_cast<std::size_t>(CooldownClass::Overloaded)] = 30s;
  HealthTracker t(config, clock);
  const auto remaining = [&](std::string_view p) {
    const auto until = t.unavailable_until(p);
    return until ? std::chrono::duration_cast<std::chrono::seconds>(*until - clock.now()) : 0s;
  };

  t.record("auth", Outcome::failure("http_status", 401));
  t.record("overloaded", Outcome::failure("http_status", 529));
  t.record("server", Outcome::failure("http_status", 500));
  t.record("named", Outcome::failure("upstream_error", 0, std::nullopt, CooldownClass::Overloaded));
  CHECK(remaining("auth") == 1800s);
  CHECK(remaining("overloaded") == 30s);
  CHECK(remaining("server") == 60s);
  CHECK(remaining("named") == 30s);

  // A failed probe doubles the class's own time; a Retry-After is capped at 10x the class's.
  clock.advance(30s);
  REQUIRE(t.acquire("overloaded", false) == HealthPermit::GrantedProbe);
  t.record("overloaded", Outcome::failure("http_status", 529, 3600s));
  CHECK(remaining("overloaded") == 300s);
}
