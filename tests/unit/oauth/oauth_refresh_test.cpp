// OAuth access tokens and refreshes (spec §9): refresh at exactly expires_at - skew, rotation,
// refresh after a 401, one refresh in flight per account however many threads need it, backoff
// (Retry-After, doubling, cap), invalid_grant → needs_login, accounts removed or re-logged-in
// while their refresh runs, and no token text in status or errors. FakeTransport + ManualClock;
// nothing sleeps or polls: threads are waited for through the events they cause (the token
// endpoint being called, the clock being read).
#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "oauth_test_support.h"
#include "test_sync.h"

using namespace balancer;
using namespace oauth_test;
using namespace std::chrono_literals;
using balancer::test::Counter;
using balancer::test::Gate;

namespace {

constexpr const char* kEmail = "a@example.com";

// Failure guard for the waits on other threads: only a hung test ever reaches it.
constexpr std::chrono::milliseconds kDeadline = 30s;

OAuthAccountStatus status_of(const OAuthClient& client, const std::string& email = kEmail) {
  for (auto& s : client.status()) {
    if (s.account_email == email) {
      return s;
    }
  }
  FAIL("no status for " << email);
  return {};
}

}  // namespace

TEST_CASE("a token is refreshed at exactly expires_at - skew, not a millisecond before", "[unit][oauth]") {
  Fixture f;
  f.login(kEmail, "A1", "R1");
  f.set_respond([](const HttpRequest&) { return grant("A2", "R2"); });

  f.clock.advance(3600s - 300s - 1ms);
  CHECK(status_of(*f.client).state == "valid");
  CHECK(str(f.client->access_token(kEmail)) == "A1");
  CHECK(f.refresh_calls() == 0);

  f.clock.advance(1ms);
  CHECK(status_of(*f.client).state == "expiring");
  CHECK(str(f.client->access_token(kEmail)) == "A2");
  const auto refreshes = f.requests_of("refresh_token");
  REQUIRE(refreshes.size() == 1);
  const HttpRequest& r = refreshes[0];
  CHECK(r.url == "https://token.example/v1/oauth/token");
  CHECK(r.proxy == "socks5://127.0.0.1:1080");
  CHECK(r.header_timeout == 30s);
  CHECK(find_header(r.headers, "content-type") == std::optional<std::string_view>("application/json"));
  const json body = body_of(r);
  CHECK(body == json{{"grant_type", "refresh_token"}, {"refresh_token", "R1"}, {"client_id", "client-123"}});

  const auto s = status_of(*f.client);
  CHECK(s.state == "valid");
  CHECK(s.expires_at == f.clock.wall_now() + 3600s);
  CHECK(s.last_refresh == std::optional<WallTime>(f.clock.wall_now()));
  CHECK(s.requests == 2);
  // Served from memory now.
  CHECK(str(f.client->access_token(kEmail)) == "A2");
  CHECK(f.refresh_calls() == 1);
}

TEST_CASE("a refreshed token shorter than the skew serves half its lifetime before the next refresh", "[unit][oauth]") {
  Fixture f;  // skew 300 s
  f.login(kEmail, "A1", "R1");
  f.set_respond([](const HttpRequest&) { return grant("A2", "R2", 120); });
  f.clock.advance(3600s);
  CHECK(str(f.client->access_token(kEmail)) == "A2");
  CHECK(f.refresh_calls() == 1);
  f.set_respond([](const HttpRequest&) { return grant("A3", "R3", 120); });
  f.clock.advance(60s - 1ms);  // without the clamp every request would refresh (120 s < 300 s)
  CHECK(str(f.client->access_token(kEmail)) == "A2");
  CHECK(f.refresh_calls() == 1);
  f.clock.advance(1ms);
  CHECK(str(f.client->access_token(kEmail)) == "A3");
  CHECK(f.refresh_calls() == 2);
}

TEST_CASE("a rotated refresh token is stored, persisted and sent next; none in the response keeps it",
          "[unit][oauth]") {
  Fixture f;
  f.login(kEmail, "A1", "R1");
  const int saves_after_login = f.store->saves();

  f.set_respond([](const HttpRequest&) { return grant("A2", "R2"); });
  REQUIRE(f.client->refresh(kEmail).has_value());
  CHECK(f.store->saves() == saves_after_login + 1);
  REQUIRE(f.store->saved_for(kEmail).has_value());
  CHECK(f.store->saved_for(kEmail)->refresh_token == "R2");
  CHECK(f.store->saved_for(kEmail)->access_token == "A2");

  f.set_respond([](const HttpRequest&) { return grant("A3"); });  // no refresh_token
  REQUIRE(f.client->refresh(kEmail).has_value());
  CHECK(f.store->saved_for(kEmail)->refresh_token == "R2");
  CHECK(f.store->saved_for(kEmail)->access_token == "A3");

  f.set_respond([](const HttpRequest&) { return grant("A4", "R4"); });
  REQUIRE(f.client->refresh(kEmail).has_value());
  const auto refreshes = f.requests_of("refresh_token");
  REQUIRE(refreshes.size() == 3);
  CHECK(body_of(refreshes[0]).at("refresh_token") == "R1");
  CHECK(body_of(refreshes[1]).at("refresh_token") == "R2");
  CHECK(body_of(refreshes[2]).at("refresh_token") == "R2");
  CHECK(str(f.client->access_token(kEmail)) == "A4");
  CHECK(status_of(*f.client).requests == 1);  // refresh() hands out nothing
}

TEST_CASE(
    "refresh_after_rejection refreshes the rejected token once; a stale rejection gets the "
    "current token",
    "[unit][oauth]") {
  Fixture f;
  f.login(kEmail, "A1", "R1");
  f.set_respond([](const HttpRequest&) { return grant("A2", "R2"); });

  CHECK(str(f.client->refresh_after_rejection(kEmail, "A1")) == "A2");
  CHECK(f.refresh_calls() == 1);
  // Another request that was also rejected with A1 arrives late: no second refresh.
  CHECK(str(f.client->refresh_after_rejection(kEmail, "A1")) == "A2");
  CHECK(f.refresh_calls() == 1);
  // The current token rejected: refreshed again.
  f.set_respond([](const HttpRequest&) { return grant("A3", "R3"); });
  CHECK(str(f.client->refresh_after_rejection(kEmail, "A2")) == "A3");
  CHECK(f.refresh_calls() == 2);
}

TEST_CASE("a stale rejection of a token that is itself within the skew still refreshes", "[unit][oauth]") {
  Fixture f;
  f.login(kEmail, "A1", "R1");
  f.clock.advance(3600s - 100s);
  f.set_respond([](const HttpRequest&) { return grant("A2", "R2"); });
  CHECK(str(f.client->refresh_after_rejection(kEmail, "some-older-token")) == "A2");
  CHECK(f.refresh_calls() == 1);
}

TEST_CASE("429 with Retry-After on an expired token: errors without calls until it has passed", "[unit][oauth]") {
  Fixture f;
  f.login(kEmail, "A1", "R1");
  f.clock.advance(3600s);
  f.set_respond([](const HttpRequest&) {
    auto r = oauth_error(429, "rate_limit_error", "Too many requests");
    r.headers.emplace_back("Retry-After", "120");
    return r;
  });

  const auto first = f.client->access_token(kEmail);
  REQUIRE_FALSE(first.has_value());
  CHECK(first.error().code == ErrorCode::UpstreamProtocol);
  CHECK_THAT(first.error().message, Catch::Contains("HTTP 429"));
  CHECK_THAT(first.error().message, Catch::Contains("retry in 120 s"));
  CHECK(f.refresh_calls() == 1);
  CHECK(status_of(*f.client).backoff_remaining_s == Approx(120.0));

  f.clock.advance(120s - 1ms);
  const auto during = f.client->access_token(kEmail);
  REQUIRE_FALSE(during.has_value());
  CHECK(during.error().code == ErrorCode::UpstreamProtocol);
  CHECK_THAT(during.error().message, Catch::Contains("backing off"));
  CHECK_THAT(during.error().message, Catch::Contains("retry in 1 s"));
  CHECK_FALSE(f.client->refresh(kEmail).has_value());
  CHECK_FALSE(f.client->refresh_after_rejection(kEmail, "A1").has_value());
  CHECK(f.refresh_calls() == 1);

  f.clock.advance(1ms);
  f.set_respond([](const HttpRequest&) { return grant("A2", "R2"); });
  CHECK(str(f.client->access_token(kEmail)) == "A2");
  CHECK(f.refresh_calls() == 2);
  const auto s = status_of(*f.client);
  CHECK(s.backoff_remaining_s == 0.0);
  CHECK(s.last_error.empty());
}

TEST_CASE("429 on a token within the skew but unexpired: the old token is served meanwhile", "[unit][oauth]") {
  Fixture f;
  f.login(kEmail, "A1", "R1");
  f.clock.advance(3600s - 100s);
  f.set_respond([](const HttpRequest&) {
    auto r = oauth_error(429, "rate_limit_error");
    r.headers.emplace_back("retry-after", "120");
    return r;
  });

  CHECK(str(f.client->access_token(kEmail)) == "A1");
  CHECK(f.refresh_calls() == 1);
  CHECK(str(f.client->access_token(kEmail)) == "A1");
  CHECK(f.refresh_calls() == 1);
  const auto s = status_of(*f.client);
  CHECK(s.state == "expiring");
  CHECK(s.backoff_remaining_s == Approx(120.0));
  CHECK_THAT(s.last_error, Catch::Contains("429"));

  // The backoff outlasts the token: once expired, errors instead.
  f.clock.advance(100s);
  const auto expired = f.client->access_token(kEmail);
  REQUIRE_FALSE(expired.has_value());
  CHECK(expired.error().code == ErrorCode::UpstreamProtocol);
  CHECK_THAT(expired.error().message, Catch::Contains("backing off"));
  CHECK_THAT(expired.error().message, Catch::Contains("retry in 20 s"));
  CHECK(f.refresh_calls() == 1);
}

TEST_CASE("without Retry-After the backoff doubles from 30 s up to 900 s", "[unit][oauth]") {
  Fixture f;
  f.login(kEmail, "A1", "R1");
  f.clock.advance(3600s);
  f.set_respond([](const HttpRequest&) { return FakeResponse::json(503, "upstream overloaded"); });

  const std::vector<long> expected{30, 60, 120, 240, 480, 900, 900};
  std::size_t calls = 0;
  for (const long backoff : expected) {
    CAPTURE(backoff);
    const auto r = f.client->access_token(kEmail);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::UpstreamProtocol);
    CHECK_THAT(r.error().message, Catch::Contains("HTTP 503"));
    CHECK(f.refresh_calls() == ++calls);
    CHECK(status_of(*f.client).backoff_remaining_s == Approx(static_cast<double>(backoff)));
    f.clock.advance(std::chrono::seconds(backoff) - 1ms);
    CHECK_FALSE(f.client->access_token(kEmail).has_value());
    CHECK(f.refresh_calls() == calls);
    f.clock.advance(1ms);
  }
  // A success resets the sequence.
  f.set_respond([](const HttpRequest&) { return grant("A2", "R2"); });
  CHECK(str(f.client->access_token(kEmail)) == "A2");
  f.clock.advance(3600s);
  f.set_respond([](const HttpRequest&) { return FakeResponse::json(500, "{}"); });
  CHECK_FALSE(f.client->access_token(kEmail).has_value());
  CHECK(status_of(*f.client).backoff_remaining_s == Approx(30.0));
}

TEST_CASE("transport failures and unusable 2xx bodies back off and keep their error code", "[unit][oauth]") {
  Fixture f;
  f.login(kEmail, "A1", "R1");
  f.clock.advance(3600s);
  SECTION("connect failure") {
    f.set_respond(
        [](const HttpRequest&) { return FakeResponse::failure(ErrorCode::UpstreamConnect, "connection refused"); });
    const auto r = f.client->access_token(kEmail);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::UpstreamConnect);
    CHECK_THAT(r.error().message, Catch::Contains("connection refused"));
    const auto again = f.client->access_token(kEmail);
    REQUIRE_FALSE(again.has_value());
    CHECK(again.error().code == ErrorCode::UpstreamConnect);
  }
  SECTION("unusable 200") {
    f.set_respond([](const HttpRequest&) { return FakeResponse::json(200, R"({"token":"x"})"); });
    const auto r = f.client->access_token(kEmail);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::UpstreamProtocol);
    CHECK_THAT(r.error().message, Catch::Contains("access_token"));
  }
  SECTION("other 4xx") {
    f.set_respond([](const HttpRequest&) { return oauth_error(403, "forbidden", "region"); });
    const auto r = f.client->access_token(kEmail);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::UpstreamProtocol);
    CHECK_THAT(r.error().message, Catch::Contains("HTTP 403 (forbidden: region)"));
    CHECK(f.client->usable_accounts() == std::vector<std::string>{kEmail});
  }
  CHECK(f.refresh_calls() == 1);
  CHECK(status_of(*f.client).backoff_remaining_s == Approx(30.0));
  CHECK(status_of(*f.client).state == "expired");
  CHECK(status_of(*f.client).expires_in_s == Approx(0.0).margin(1e-9));
}

TEST_CASE("invalid_grant marks the account as needing a login until a new exchange", "[unit][oauth]") {
  const int status = GENERATE(400, 401);
  CAPTURE(status);
  Fixture f;
  f.login(kEmail, "A1", "R1");
  f.clock.advance(3600s - 100s);  // within the skew, still valid: needs_login wins anyway
  f.set_respond([status](const HttpRequest&) {
    return oauth_error(status, "invalid_grant", "Refresh token not found or invalid");
  });

  const auto r = f.client->access_token(kEmail);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == ErrorCode::Unauthorized);
  CHECK_THAT(r.error().message, Catch::Contains("needs a new login"));
  CHECK_THAT(r.error().message, Catch::Contains("invalid_grant"));
  CHECK(f.refresh_calls() == 1);

  const auto s = status_of(*f.client);
  CHECK(s.state == "needs_login");
  CHECK_FALSE(s.refresh_in_flight);
  CHECK(f.client->usable_accounts().empty());
  REQUIRE(f.store->saved_for(kEmail).has_value());
  CHECK(f.store->saved_for(kEmail)->needs_login);

  const auto again = f.client->access_token(kEmail);
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error().code == ErrorCode::Unauthorized);
  CHECK_FALSE(f.client->refresh(kEmail).has_value());
  CHECK(f.refresh_calls() == 1);

  f.login("A@example.com", "B1", "S1");
  CHECK(str(f.client->access_token(kEmail)) == "B1");
  CHECK(status_of(*f.client).state == "valid");
  CHECK(status_of(*f.client).last_error.empty());
  CHECK_FALSE(f.store->saved_for(kEmail)->needs_login);
  CHECK(f.client->usable_accounts() == std::vector<std::string>{kEmail});
}

TEST_CASE("an account without a refresh token needs a login once its token is due", "[unit][oauth]") {
  Fixture f;
  f.login(kEmail, "A1", "");
  CHECK_FALSE(status_of(*f.client).has_refresh_token);
  CHECK(str(f.client->access_token(kEmail)) == "A1");
  f.clock.advance(3600s - 300s);
  const auto r = f.client->access_token(kEmail);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == ErrorCode::Unauthorized);
  CHECK(f.refresh_calls() == 0);
  CHECK(status_of(*f.client).state == "needs_login");
  CHECK(f.store->saved_for(kEmail)->needs_login);
}

TEST_CASE("unknown accounts are NotFound; remove and remove_all persist at once", "[unit][oauth]") {
  Fixture f;
  const auto missing = f.client->access_token("nobody@example.com");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == ErrorCode::NotFound);
  CHECK(f.client->refresh("nobody@example.com").error().code == ErrorCode::NotFound);
  CHECK(f.client->refresh_after_rejection("nobody@example.com", "x").error().code == ErrorCode::NotFound);

  f.login("b@example.com", "B1", "S1");
  f.login(kEmail, "A1", "R1");
  f.login("c@example.com", "C1", "T1");
  CHECK(f.client->usable_accounts() == std::vector<std::string>{"a@example.com", "b@example.com", "c@example.com"});
  CHECK(f.client->remove(" B@Example.com"));
  CHECK_FALSE(f.client->remove("b@example.com"));
  CHECK(f.store->saved().size() == 2);
  CHECK(f.client->access_token("b@example.com").error().code == ErrorCode::NotFound);
  f.client->remove_all();
  CHECK(f.client->usable_accounts().empty());
  CHECK(f.store->saved().empty());
  CHECK(f.transport.call_count() == 3);
}

TEST_CASE("an account removed while its refresh runs: the result is dropped", "[unit][oauth]") {
  Fixture f;
  f.login(kEmail, "A1", "R1");
  const int saves = f.store->saves();
  f.set_respond([&](const HttpRequest&) {
    CHECK(f.client->status().at(0).refresh_in_flight);
    CHECK(f.client->remove(kEmail));
    return grant("A2", "R2");
  });
  const auto r = f.client->refresh_after_rejection(kEmail, "A1");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == ErrorCode::NotFound);
  CHECK(f.client->status().empty());
  CHECK(f.store->saves() == saves + 1);  // the removal only
  CHECK(f.store->saved().empty());
}

TEST_CASE("a new login while the account's refresh runs wins over the refresh", "[unit][oauth]") {
  Fixture f;
  f.login(kEmail, "A1", "R1");
  f.clock.advance(3600s);
  f.set_respond([&](const HttpRequest& r) {
    if (grant_type(r) == "authorization_code") {
      return grant("FRESH", "FRESH-R");
    }
    const auto flow = f.client->begin_login();
    CHECK(f.client->exchange_code("c#" + flow.state, kEmail).has_value());
    return grant("STALE", "STALE-R");
  });
  CHECK(str(f.client->access_token(kEmail)) == "FRESH");
  CHECK(f.store->saved_for(kEmail)->refresh_token == "FRESH-R");
  CHECK(f.refresh_calls() == 1);
  CHECK_FALSE(status_of(*f.client).refresh_in_flight);
}

TEST_CASE("a manual refresh refreshes even a fresh token", "[unit][oauth]") {
  Fixture f;
  f.login(kEmail, "A1", "R1");
  f.set_respond([](const HttpRequest&) { return grant("A2", "R2"); });
  REQUIRE(f.client->refresh(kEmail).has_value());
  CHECK(f.refresh_calls() == 1);
  CHECK(str(f.client->access_token(kEmail)) == "A2");
  f.set_respond([](const HttpRequest&) { return FakeResponse::json(500, "{}"); });
  const auto failed = f.client->refresh(kEmail);
  REQUIRE_FALSE(failed.has_value());
  CHECK(failed.error().code == ErrorCode::UpstreamProtocol);
  // The failure does not take the still-valid token away.
  CHECK(str(f.client->access_token(kEmail)) == "A2");
}

TEST_CASE("16 threads needing an expired token cause exactly one refresh and all get its token",
          "[unit][oauth][concurrency]") {
  Fixture f;
  f.login(kEmail, "OLD", "R1");
  f.clock.advance(3600s);
  Gate gate;
  std::atomic<int> in_handler{0};
  Counter handler_calls;  // wakes the test when the refresh reached the token endpoint
  f.set_respond([&](const HttpRequest&) {
    ++in_handler;
    handler_calls.add();
    gate.wait();
    return grant("NEW", "R2");
  });

  constexpr int kThreads = 16;
  std::vector<std::string> results(kThreads);
  std::atomic<int> entered{0};
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      ++entered;
      results[static_cast<std::size_t>(i)] =
          str(i % 2 == 0 ? f.client->access_token(kEmail) : f.client->refresh_after_rejection(kEmail, "OLD"));
    });
  }
  // Every thread is in: the refresh is held in the token endpoint, and each thread has read the
  // clock, which obtain() does under the client's lock before it joins the refresh in flight, so
  // each is bound to wait for this refresh (the refresh cannot finish without that lock).
  const bool all_in = handler_calls.wait_for_at_least(1, kDeadline) && f.clock.wait_for_readers(kThreads, kDeadline) &&
                      entered.load() == kThreads && in_handler.load() == 1 && status_of(*f.client).refresh_in_flight;
  gate.open();
  for (auto& t : threads) {
    t.join();
  }
  REQUIRE(all_in);
  CHECK(in_handler.load() == 1);
  CHECK(f.refresh_calls() == 1);
  for (const auto& r : results) {
    CHECK(r == "NEW");
  }
  const auto s = status_of(*f.client);
  CHECK(s.requests == kThreads);
  CHECK_FALSE(s.refresh_in_flight);
  CHECK(f.store->saved_for(kEmail)->refresh_token == "R2");
}

TEST_CASE("16 threads and a failing refresh: one call, everyone gets the error", "[unit][oauth][concurrency]") {
  Fixture f;
  f.login(kEmail, "OLD", "R1");
  f.clock.advance(3600s);
  Gate gate;
  Counter handler_calls;  // wakes the test when the refresh reached the token endpoint
  f.set_respond([&](const HttpRequest&) {
    handler_calls.add();
    gate.wait();
    return FakeResponse::json(502, "bad gateway");
  });
  constexpr int kThreads = 16;
  std::vector<std::optional<Error>> errors(kThreads);
  std::atomic<int> entered{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      ++entered;
      auto r = f.client->access_token(kEmail);
      if (!r) {
        errors[static_cast<std::size_t>(i)] = r.error();
      }
    });
  }
  // As above: the refresh is held in the token endpoint and every thread read the clock under the
  // client's lock, so every one of them waits for this refresh.
  const bool all_in = handler_calls.wait_for_at_least(1, kDeadline) && f.clock.wait_for_readers(kThreads, kDeadline) &&
                      entered.load() == kThreads && status_of(*f.client).refresh_in_flight;
  gate.open();
  for (auto& t : threads) {
    t.join();
  }
  REQUIRE(all_in);
  CHECK(f.refresh_calls() == 1);
  for (const auto& e : errors) {
    REQUIRE(e.has_value());
    CHECK(e->code == ErrorCode::UpstreamProtocol);
    CHECK_THAT(e->message, Catch::Contains("HTTP 502"));
  }
}

TEST_CASE("concurrent refreshes of different accounts run independently", "[unit][oauth][concurrency]") {
  Fixture f;
  const std::vector<std::string> emails{"a@example.com", "b@example.com", "c@example.com", "d@example.com"};
  for (const auto& e : emails) {
    f.login(e, "old-" + e, "r-" + e);
  }
  f.clock.advance(3600s);
  std::latch all_in_flight(static_cast<std::ptrdiff_t>(emails.size()));
  f.set_respond([&](const HttpRequest& r) {
    const std::string refresh = body_of(r).at("refresh_token").get<std::string>();
    all_in_flight.arrive_and_wait();  // only returns once every account's refresh has started
    return grant("new-" + refresh.substr(2), "r2-" + refresh.substr(2));
  });
  std::vector<std::string> results(emails.size() * 4);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = str(f.client->access_token(emails[i % emails.size()])); });
  }
  for (auto& t : threads) {
    t.join();
  }
  CHECK(f.refresh_calls() == emails.size());
  for (std::size_t i = 0; i < results.size(); ++i) {
    CHECK(results[i] == "new-" + emails[i % emails.size()]);
  }
}

TEST_CASE("status and errors never carry token characters", "[unit][oauth]") {
  Fixture f;
  const std::string access = "sk-ant-oat01-ACCESSSECRETVALUE";
  const std::string refresh = "sk-ant-ort01-REFRESHSECRETVALUE";
  f.login(kEmail, access, refresh);
  f.clock.advance(3600s);
  // The endpoint echoes what it got in its error description.
  f.set_respond([](const HttpRequest& r) {
    return oauth_error(500, "server_error", "could not use " + body_of(r).at("refresh_token").get<std::string>());
  });
  const auto r = f.client->access_token(kEmail);
  REQUIRE_FALSE(r.has_value());
  CHECK_THAT(r.error().message, Catch::Contains("[redacted]"));
  const auto during = f.client->access_token(kEmail);
  REQUIRE_FALSE(during.has_value());

  f.clock.advance(30s);
  f.set_respond([](const HttpRequest& r2) {
    return oauth_error(400, "invalid_grant", "token " + body_of(r2).at("refresh_token").get<std::string>());
  });
  const auto refused = f.client->access_token(kEmail);
  REQUIRE_FALSE(refused.has_value());

  std::vector<std::string> texts{r.error().message, during.error().message, refused.error().message};
  for (const auto& s : f.client->status()) {
    texts.push_back(s.account_email);
    texts.push_back(s.state);
    texts.push_back(s.last_error);
    for (const auto& scope : s.scopes) {
      texts.push_back(scope);
    }
  }
  for (const auto& text : texts) {
    CAPTURE(text);
    CHECK(text.find(access) == std::string::npos);
    CHECK(text.find(refresh) == std::string::npos);
    CHECK(text.find("SECRETVALUE") == std::string::npos);
  }
}

TEST_CASE("refresh_due refreshes only accounts within the skew that may be refreshed, without counting a use",
          "[unit][oauth]") {
  Fixture f;  // skew 300 s
  f.login("due@example.com", "A1", "R1");
  f.clock.advance(1000s);
  f.login("later@example.com", "B1", "S1");
  f.login("gone@example.com", "C1", "T1");
  // "gone" is refused at its first refresh and needs a login from then on.
  f.set_respond([](const HttpRequest&) { return oauth_error(400, "invalid_grant"); });
  REQUIRE(f.client->refresh("gone@example.com").error().code == ErrorCode::Unauthorized);

  f.set_respond([](const HttpRequest&) { return grant("A2", "R2"); });
  f.clock.advance(3600s - 1000s - 300s - 1ms);
  CHECK(f.client->refresh_due().empty());  // nobody within the skew yet
  f.clock.advance(1ms);
  const auto done = f.client->refresh_due();
  REQUIRE(done.size() == 1);
  CHECK(done[0].first == "due@example.com");
  CHECK(done[0].second.has_value());
  CHECK(f.refresh_calls() == 2);  // gone's refused refresh, then due's
  CHECK(status_of(*f.client, "due@example.com").state == "valid");
  CHECK(status_of(*f.client, "due@example.com").requests == 0);
  CHECK(str(f.client->access_token("due@example.com")) == "A2");
  CHECK(f.refresh_calls() == 2);

  // An account backing off after a failed refresh is left alone until the backoff ends.
  f.clock.advance(1000s);  // "later" is now within its skew
  f.set_respond([](const HttpRequest&) { return FakeResponse::json(503, R"({"error":"server_error"})"); });
  const auto failed = f.client->refresh_due();
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].first == "later@example.com");
  CHECK_FALSE(failed[0].second.has_value());
  CHECK(f.client->refresh_due().empty());
  CHECK(f.refresh_calls() == 3);
  f.clock.advance(30s);
  f.set_respond([](const HttpRequest&) { return grant("B2", "S2"); });
  REQUIRE(f.client->refresh_due().size() == 1);
  CHECK(str(f.client->access_token("later@example.com")) == "B2");
}
