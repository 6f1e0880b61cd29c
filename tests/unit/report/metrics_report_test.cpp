// metrics_report_test.cpp — the /metrics exposition: well-formed families, per-provider series
// labelled provider="<name>" with escaping, counters fed by the trackers, no secrets.
#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <sstream>

#include <balancer/testing/manual_clock.h>
#include "report/metrics_report.h"

using namespace balancer;

namespace {

// sample line ("name{labels}" → value) of an exposition; checks every sample's family was
// declared with HELP and TYPE before it.
std::map<std::string, std::string> samples_of(const std::string& text) {
  std::map<std::string, std::string> out;
  std::set<std::string> typed;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      typed.insert(line.substr(7, line.find(' ', 7) - 7));
      continue;
    }
    if (line.rfind("# HELP ", 0) == 0) {
      continue;
    }
    const auto space = line.rfind(' ');
    REQUIRE(space != std::string::npos);
    const std::string key = line.substr(0, space);
    const std::string family = key.substr(0, key.find('{'));
    CHECK(typed.count(family) == 1);
    CHECK(out.count(key) == 0);
    out[key] = line.substr(space + 1);
  }
  return out;
}

}  // namespace

TEST_CASE("metrics: per-provider series, dedup counters, server samples and OAuth accounts", "[unit][metrics]") {
  BalancerConfig config;
  ProviderConfig a;
  a.name = "main";
  a.auth_value = "sk-very-secret";
  ProviderConfig b;
  b.name = "odd \"name\"\\x";
  b.auth_value = "another-secret";
  b.enabled = false;
  config.providers = {a, b};
  testing::ManualClock clock;
  HealthTracker health(HealthConfig{}, clock);
  ProviderStats stats;
  stats.record_attempt("main");
  stats.record_attempt("main");
  stats.record_success("main", std::chrono::milliseconds(250));
  stats.record_failure("main", "HTTP 529");
  health.record("main", Outcome::failure("http_status", 529));
  health.record("main", Outcome::failure("http_status", 529));

  DedupStats dedup;
  dedup.followers = 7;
  OAuthAccountStatus account;
  account.account_email = "me@example.com";
  account.expires_in_s = 1234.5;
  account.state = "valid";
  account.requests = 3;
  const std::string text =
      prometheus_metrics({config,
                          health,
                          stats,
                          dedup,
                          {account},
                          {{"connections_busy", "Client connections being served.", 4, false, "", ""},
                           {"responses_total", "Answers by status class.", 9, true, "code", "2xx"},
                           {"responses_total", "Answers by status class.", 1, true, "code", "5xx"}}});
  const auto s = samples_of(text);
  CHECK(s.at(R"(balancer_provider_requests_total{provider="main"})") == "2");
  CHECK(s.at(R"(balancer_provider_failures_total{provider="main"})") == "1");
  CHECK(s.at(R"(balancer_provider_up{provider="main"})") == "0");
  CHECK(s.at(R"(balancer_provider_consecutive_failures{provider="main"})") == "2");
  CHECK(s.at(R"(balancer_provider_cooldown_remaining_seconds{provider="main"})") == "180");
  CHECK(s.at(R"(balancer_provider_last_latency_seconds{provider="main"})") == "0.25");
  CHECK(s.at(R"(balancer_provider_enabled{provider="odd \"name\"\\x"})") == "0");
  CHECK(s.at("balancer_dedup_followers_total") == "7");
  CHECK(s.at("balancer_connections_busy") == "4");
  CHECK(s.at(R"(balancer_responses_total{code="2xx"})") == "9");
  CHECK(s.at(R"(balancer_responses_total{code="5xx"})") == "1");
  CHECK(std::count(text.begin(), text.end(), '#') == 2 * 19);  // one HELP and one TYPE per family
  CHECK(s.at(R"(balancer_oauth_token_expires_in_seconds{account="me@example.com"})") == "1234.5");
  CHECK(s.at(R"(balancer_oauth_token_requests_total{account="me@example.com"})") == "3");
  CHECK(text.find("secret") == std::string::npos);
  CHECK(text.back() == '\n');
}

TEST_CASE("metrics: label values are escaped", "[unit][metrics]") {
  CHECK(escape_label_value("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
  CHECK(escape_label_value("plain") == "plain");
}
