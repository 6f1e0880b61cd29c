// BalanceMonitor (the balance check's schedule and decisions) and parse_balance. Time is a
// ManualClock; no command is run and nothing sleeps.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <latch>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <balancer/health_tracker.h>
#include <balancer/testing/manual_clock.h>
#include "health/balance_monitor.h"

using namespace balancer;
using namespace std::chrono_literals;

namespace {

ProviderConfig provider(std::string name, std::string command, Duration interval = 60s, double threshold = 5.0,
                        bool enabled = true) {
  ProviderConfig p;
  p.name = std::move(name);
  p.base_url = "https://example.invalid";
  p.balance_check = std::move(command);
  p.balance_check_interval = interval;
  p.balance_threshold = threshold;
  p.enabled = enabled;
  return p;
}

BalancerConfig config_of(std::vector<ProviderConfig> providers) {
  BalancerConfig c;
  c.providers = std::move(providers);
  return c;
}

Result<double> failed(std::string message = "balance check exited with status 3") {
  return make_error(ErrorCode::UpstreamProtocol, std::move(message));
}

std::vector<std::string> names(const std::vector<BalanceCheckJob>& jobs) {
  std::vector<std::string> out;
  for (const auto& j : jobs)
    out.push_back(j.provider);
  return out;
}

bool is_low(const HealthTracker& t, std::string_view p) { return t.snapshot(p).status == "low_balance"; }

struct Fixture {
  testing::ManualClock clock;
  HealthTracker tracker{HealthConfig{}, clock};
  BalanceMonitor monitor{tracker, clock};
};

}  // namespace

TEST_CASE("Only enabled providers with a balance_check are checked; the first check is due at once",
          "[unit][balance]") {
  Fixture f;
  f.monitor.set_config(
      config_of({provider("a", "echo 12.5"), provider("b", ""), provider("c", "echo 1", 60s, 5.0, /*enabled=*/false),
                 provider("d", "curl -s x | jq .balance", 300s)}));
  const auto jobs = f.monitor.due();
  REQUIRE(jobs.size() == 2);
  CHECK(jobs[0].provider == "a");
  CHECK(jobs[0].command == "echo 12.5");
  CHECK(jobs[0].timeout == kDefaultBalanceCheckTimeout);
  CHECK(jobs[1].provider == "d");
  CHECK(jobs[1].command == "curl -s x | jq .balance");

  const auto snap = f.monitor.snapshot();
  REQUIRE(snap.size() == 2);
  CHECK(snap[0].provider == "a");
  CHECK(snap[0].in_progress);
  CHECK_FALSE(snap[0].balance.has_value());
  CHECK_FALSE(snap[0].last_checked.has_value());
  CHECK_FALSE(f.monitor.snapshot("b").has_value());
  CHECK_FALSE(f.monitor.snapshot("c").has_value());
}

TEST_CASE("The check timeout given to the monitor is in every job", "[unit][balance]") {
  testing::ManualClock clock;
  HealthTracker tracker(HealthConfig{}, clock);
  BalanceMonitor monitor(tracker, clock, 1500ms);
  monitor.set_config(config_of({provider("a", "echo 1")}));
  const auto jobs = monitor.due();
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].timeout == 1500ms);
}

TEST_CASE("The next check is due exactly one interval after the previous one finished", "[unit][balance]") {
  Fixture f;
  f.monitor.set_config(config_of({provider("a", "echo 12.5", 60s)}));
  REQUIRE(names(f.monitor.due()) == std::vector<std::string>{"a"});
  f.clock.advance(2s);  // the command took 2 s
  f.monitor.record("a", 12.5);
  CHECK(f.monitor.due().empty());
  REQUIRE(f.monitor.next_due().has_value());
  CHECK(*f.monitor.next_due() == f.clock.now() + 60s);
  CHECK(f.monitor.snapshot("a")->next_check_in_s == Approx(60.0));

  f.clock.advance(60s - 1ms);
  CHECK(f.monitor.due().empty());
  f.clock.advance(1ms);
  CHECK(names(f.monitor.due()) == std::vector<std::string>{"a"});
}

TEST_CASE("A failed check is retried after the interval too", "[unit][balance]") {
  Fixture f;
  f.monitor.set_config(config_of({provider("a", "false", 30s)}));
  REQUIRE(f.monitor.due().size() == 1);
  f.monitor.record("a", failed());
  CHECK(f.monitor.due().empty());
  f.clock.advance(30s - 1ms);
  CHECK(f.monitor.due().empty());
  f.clock.advance(1ms);
  CHECK(f.monitor.due().size() == 1);
}

TEST_CASE("An interval below the minimum is raised to it", "[unit][balance]") {
  Fixture f;
  f.monitor.set_config(config_of({provider("a", "echo 1", 0s)}));
  REQUIRE(f.monitor.due().size() == 1);
  f.monitor.record("a", 100.0);
  CHECK(f.monitor.due().empty());
  f.clock.advance(kMinBalanceCheckInterval);
  CHECK(f.monitor.due().size() == 1);
}

TEST_CASE("No check is handed out twice while it is in progress", "[unit][balance]") {
  Fixture f;
  f.monitor.set_config(config_of({provider("a", "echo 1", 10s), provider("b", "echo 2", 10s)}));
  REQUIRE(f.monitor.due().size() == 2);
  for (int i = 0; i < 5; ++i) {
    f.clock.advance(100s);  // far past the interval: still running, so not due
    CHECK(f.monitor.due().empty());
  }
  CHECK_FALSE(f.monitor.next_due().has_value());
  f.monitor.record("b", 50.0);
  CHECK(f.monitor.due().empty());  // b finished just now; a still runs
  f.clock.advance(10s);
  CHECK(names(f.monitor.due()) == std::vector<std::string>{"b"});
  f.monitor.record("a", 50.0);
  f.clock.advance(10s);
  CHECK(names(f.monitor.due()) == std::vector<std::string>{"a"});
}

TEST_CASE("Concurrent callers of due() get each check exactly once", "[unit][balance]") {
  Fixture f;
  std::vector<ProviderConfig> providers;
  for (int i = 0; i < 16; ++i)
    providers.push_back(provider("p" + std::to_string(i), "echo 1"));
  f.monitor.set_config(config_of(providers));
  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::vector<std::vector<BalanceCheckJob>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      for (int k = 0; k < 4; ++k) {
        auto jobs = f.monitor.due();
        got[static_cast<std::size_t>(t)].insert(got[static_cast<std::size_t>(t)].end(), jobs.begin(), jobs.end());
      }
    });
  }
  for (auto& t : threads)
    t.join();
  std::vector<std::string> all;
  for (const auto& jobs : got) {
    for (const auto& j : jobs)
      all.push_back(j.provider);
  }
  std::sort(all.begin(), all.end());
  CHECK(all.size() == 16);
  CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
}

TEST_CASE("A reading at or below the threshold marks the provider low; above clears it", "[unit][balance]") {
  Fixture f;
  f.monitor.set_config(config_of({provider("a", "echo", 1s, /*threshold=*/5.0)}));
  CHECK_FALSE(is_low(f.tracker, "a"));

  auto check = [&](double reading) {
    f.clock.advance(1s);
    REQUIRE(f.monitor.due().size() == 1);
    return f.monitor.record("a", reading);
  };

  BalanceUpdate u = check(5.0);  // exactly at the threshold: low
  CHECK(u.tracked);
  CHECK(u.low);
  CHECK(u.changed);
  CHECK(u.balance == 5.0);
  CHECK(u.threshold == 5.0);
  CHECK(u.error.empty());
  CHECK(is_low(f.tracker, "a"));
  CHECK_FALSE(f.tracker.snapshot("a").healthy);
  CHECK(f.tracker.unavailable_until("a").has_value());
  CHECK(f.monitor.snapshot("a")->low);

  u = check(3.0);  // still low: no change
  CHECK(u.low);
  CHECK_FALSE(u.changed);
  CHECK(is_low(f.tracker, "a"));

  u = check(5.01);  // above: cleared
  CHECK_FALSE(u.low);
  CHECK(u.changed);
  CHECK(f.tracker.snapshot("a").status == "healthy");
  CHECK(f.tracker.snapshot("a").healthy);
  CHECK_FALSE(f.tracker.unavailable_until("a").has_value());

  u = check(-2.0);  // in debt
  CHECK(u.low);
  CHECK(is_low(f.tracker, "a"));
  const auto s = f.monitor.snapshot("a");
  REQUIRE(s);
  CHECK(s->balance == -2.0);
  CHECK(s->last_error.empty());
}

TEST_CASE("A failed check leaves the low mark as it was and keeps the last reading", "[unit][balance]") {
  Fixture f;
  f.monitor.set_config(config_of({provider("a", "echo", 1s, 5.0), provider("b", "echo", 1s, 5.0)}));
  REQUIRE(f.monitor.due().size() == 2);
  f.monitor.record("a", 1.0);   // low
  f.monitor.record("b", 10.0);  // fine
  REQUIRE(is_low(f.tracker, "a"));
  REQUIRE_FALSE(is_low(f.tracker, "b"));

  f.clock.advance(1s);
  REQUIRE(f.monitor.due().size() == 2);
  const BalanceUpdate ua = f.monitor.record("a", failed("balance check timed out after 30000 ms (killed)"));
  const BalanceUpdate ub = f.monitor.record("b", failed("balance check printed no number"));
  CHECK(ua.tracked);
  CHECK_FALSE(ua.balance.has_value());
  CHECK(ua.error == "balance check timed out after 30000 ms (killed)");
  CHECK(ua.low);
  CHECK_FALSE(ua.changed);
  CHECK_FALSE(ub.low);
  CHECK_FALSE(ub.changed);
  CHECK(is_low(f.tracker, "a"));           // a broken script does not bring it back
  CHECK(f.tracker.snapshot("b").healthy);  // nor take a provider down

  const auto sa = f.monitor.snapshot("a");
  REQUIRE(sa);
  CHECK(sa->balance == 1.0);  // the last reading is kept
  CHECK(sa->last_error == "balance check timed out after 30000 ms (killed)");
  CHECK(sa->last_checked == f.clock.now());
  CHECK(sa->checked_ago_s == Approx(0.0));
  f.clock.advance(500ms);
  CHECK(f.monitor.snapshot("a")->checked_ago_s == Approx(0.5));

  f.clock.advance(500ms);
  REQUIRE(f.monitor.due().size() == 2);
  f.monitor.record("a", 6.0);  // a good reading clears the error and the mark
  CHECK(f.monitor.snapshot("a")->last_error.empty());
  CHECK_FALSE(is_low(f.tracker, "a"));
}

TEST_CASE("An error without a message is reported by its code; a non-finite reading is an error", "[unit][balance]") {
  Fixture f;
  f.monitor.set_config(config_of({provider("a", "echo", 1s, 5.0)}));
  REQUIRE(f.monitor.due().size() == 1);
  f.monitor.record("a", 1.0);
  f.clock.advance(1s);
  REQUIRE(f.monitor.due().size() == 1);
  BalanceUpdate u = f.monitor.record("a", make_error(ErrorCode::UpstreamTimeout, ""));
  CHECK_FALSE(u.error.empty());
  f.clock.advance(1s);
  REQUIRE(f.monitor.due().size() == 1);
  u = f.monitor.record("a", std::numeric_limits<double>::quiet_NaN());
  CHECK_FALSE(u.balance.has_value());
  CHECK_FALSE(u.error.empty());
  CHECK(u.low);  // unchanged
  CHECK(is_low(f.tracker, "a"));
}

TEST_CASE("A result for a provider that is not checked is dropped", "[unit][balance]") {
  Fixture f;
  f.monitor.set_config(config_of({provider("a", "echo")}));
  const BalanceUpdate u = f.monitor.record("ghost", 0.0);
  CHECK_FALSE(u.tracked);
  CHECK_FALSE(is_low(f.tracker, "ghost"));
  CHECK(f.monitor.snapshot().size() == 1);
}

TEST_CASE("A reload keeps readings and schedules, and clears the mark of providers no longer checked",
          "[unit][balance]") {
  Fixture f;
  f.monitor.set_config(config_of({provider("a", "echo a", 60s, 5.0), provider("b", "echo b", 60s, 5.0),
                                  provider("c", "echo c", 60s, 5.0), provider("d", "echo d", 60s, 5.0)}));
  REQUIRE(f.monitor.due().size() == 4);
  f.monitor.record("a", 1.0);
  f.monitor.record("b", 1.0);
  f.monitor.record("c", 1.0);
  f.monitor.record("d", 1.0);
  for (const char* p : {"a", "b", "c", "d"})
    REQUIRE(is_low(f.tracker, p));
  f.clock.advance(10s);

  // a: unchanged; b: lost its check; c: disabled; d: removed; e: new.
  f.monitor.set_config(config_of({provider("e", "echo e"), provider("a", "echo a", 60s, 5.0), provider("b", ""),
                                  provider("c", "echo c", 60s, 5.0, false)}));
  CHECK(is_low(f.tracker, "a"));
  CHECK_FALSE(is_low(f.tracker, "b"));
  CHECK_FALSE(is_low(f.tracker, "c"));
  CHECK_FALSE(is_low(f.tracker, "d"));

  const auto snap = f.monitor.snapshot();
  REQUIRE(snap.size() == 2);
  CHECK(snap[0].provider == "e");  // config order
  CHECK(snap[1].provider == "a");
  CHECK(snap[1].balance == 1.0);
  CHECK(snap[1].low);
  CHECK(snap[1].checked_ago_s == Approx(10.0));

  // Only the new provider is due; a keeps its schedule.
  CHECK(names(f.monitor.due()) == std::vector<std::string>{"e"});
  f.clock.advance(50s);
  CHECK(names(f.monitor.due()) == std::vector<std::string>{"a"});
}

TEST_CASE("A reload applies a new threshold and interval to the last reading at once", "[unit][balance]") {
  Fixture f;
  f.monitor.set_config(config_of({provider("a", "echo a", 60s, 5.0)}));
  REQUIRE(f.monitor.due().size() == 1);
  f.monitor.record("a", 3.0);
  REQUIRE(is_low(f.tracker, "a"));

  f.monitor.set_config(config_of({provider("a", "echo a", 20s, 2.0)}));
  CHECK_FALSE(is_low(f.tracker, "a"));
  CHECK_FALSE(f.monitor.snapshot("a")->low);
  CHECK(f.monitor.snapshot("a")->threshold == 2.0);
  f.clock.advance(20s);
  CHECK(f.monitor.due().size() == 1);
  f.monitor.record("a", 3.0);
  CHECK_FALSE(is_low(f.tracker, "a"));

  f.monitor.set_config(config_of({provider("a", "echo a", 20s, 3.0)}));
  CHECK(is_low(f.tracker, "a"));
}

TEST_CASE("A reload that changes the command makes the check due at once", "[unit][balance]") {
  Fixture f;
  f.monitor.set_config(config_of({provider("a", "echo 1", 300s)}));
  REQUIRE(f.monitor.due().size() == 1);
  f.monitor.record("a", 10.0);
  CHECK(f.monitor.due().empty());
  f.monitor.set_config(config_of({provider("a", "echo 2", 300s)}));
  const auto jobs = f.monitor.due();
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].command == "echo 2");
}

TEST_CASE("A reload during a running check keeps it in progress; a removed one's result is dropped",
          "[unit][balance]") {
  Fixture f;
  f.monitor.set_config(config_of({provider("a", "echo a"), provider("b", "echo b")}));
  REQUIRE(f.monitor.due().size() == 2);
  f.monitor.set_config(config_of({provider("a", "echo a")}));
  CHECK(f.monitor.due().empty());  // a is still running
  CHECK(f.monitor.snapshot("a")->in_progress);
  CHECK(f.monitor.record("a", 0.0).tracked);
  CHECK(is_low(f.tracker, "a"));
  const BalanceUpdate ub = f.monitor.record("b", 0.0);
  CHECK_FALSE(ub.tracked);
  CHECK_FALSE(is_low(f.tracker, "b"));
}

TEST_CASE("parse_balance takes the first number of the output", "[unit][balance]") {
  struct Row {
    const char* output;
    double expected;
  };
  const Row rows[] = {
      {"12.5", 12.5},
      {"12.5\n", 12.5},
      {"  42  ", 42.0},
      {"0", 0.0},
      {"-3.25", -3.25},
      {"+7", 7.0},
      {"$12.50", 12.5},
      {"¥100.00", 100.0},
      {"€ 9,99", 9.0},  // a decimal comma is not understood: the integer part is read
      {"balance: 3", 3.0},
      {"Balance:-5", -5.0},
      {"USD 1,234.56", 1234.56},
      {"1,234,567", 1234567.0},
      {"12345,678", 12345.0},
      {"{\"balance\": 4.2}", 4.2},
      {"{\"is_available\":true,\"balance_infos\":[{\"currency\":\"CNY\",\"total_balance\":\"110.00\"}]}", 110.0},
      {"api03 key has 17 credits", 17.0},
      {"v2.5 balance 10", 10.0},
      {"sk-123 left: 8", 8.0},
      {"x_1 2", 2.0},
      {".5", 0.5},
      {"-.5", -0.5},
      {"1e3", 1000.0},
      {"12.5EUR", 12.5},
      {"2E", 2.0},
      {"1.2.3", 1.2},
      {"remaining 3 of 10", 3.0},
  };
  for (const Row& row : rows) {
    CAPTURE(row.output);
    const Result<double> r = parse_balance(row.output);
    REQUIRE(r.has_value());
    CHECK(*r == Approx(row.expected));
  }
}

TEST_CASE("parse_balance fails without a number", "[unit][balance]") {
  for (const char* output : {"", "\n", "no balance", "inf", "nan", "sk-ant-api03", "-", ".", "$", "v2", "1e999"}) {
    CAPTURE(output);
    const Result<double> r = parse_balance(output);
    REQUIRE_FALSE(r.has_value());
    CHECK_FALSE(r.error().message.empty());
  }
  CHECK(parse_balance("").error().message == "balance check printed nothing");
  CHECK(parse_balance("none").error().message == "balance check printed no number");
  CHECK(parse_balance("1e999").error().message == "balance check printed a number out of range");
}
