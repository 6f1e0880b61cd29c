// Failover, provider health, selection strategies and conversation affinity through the real
// in-process balancer server: real sockets, real libcurl clients, fake Anthropic upstreams on
// 127.0.0.1:0 (spec §5, §6; issue 4). The tests never sleep or poll: pacing is done by the fake
// upstreams, waits are on recorded state or on the balancer's log lines, each woken by the event
// itself, with a deadline; cooldowns and balance check intervals run on a ManualClock the tests
// advance.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <balancer/curl_transport.h>
#include <balancer/testing/fake_transport.h>
#include <balancer/testing/manual_clock.h>

#include "fake_upstream.h"
#include "provider_fixture.h"
#include "recording_log.h"
#include "test_balancer.h"
#include "test_client.h"

namespace balancer::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr auto kDeadline = 10s;  // failure guard for waits

std::string simple_body(bool stream = false) {
  return fmt::format(
      R"({{"model":"claude-sonnet-4-5","max_tokens":16,"stream":{},"messages":[{{"role":"user","content":"hi"}}]}})",
      stream ? "true" : "false");
}

// A request of the conversation `user_id` (metadata.user_id, as Claude Code sends it).
std::string conversation_body(std::string_view user_id) {
  return fmt::format(
      R"({{"model":"claude-sonnet-4-5","max_tokens":16,"metadata":{{"user_id":"{}"}},"messages":[{{"role":"user","content":"hi"}}]}})",
      user_id);
}

ClientResponse send(const TestBalancer& balancer, const std::string& body) {
  return post(balancer.url("/v1/messages"), body, json_headers());
}

// A port on 127.0.0.1 that refuses connections: a socket bound to it that never listens, so
// no other process can take the port while the test runs.
class RefusedPort {
 public:
  RefusedPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("cannot bind a socket on 127.0.0.1:0");
    }
    port_ = ntohs(addr.sin_port);
  }
  ~RefusedPort() { ::close(fd_); }
  RefusedPort(const RefusedPort&) = delete;
  RefusedPort& operator=(const RefusedPort&) = delete;
  std::string url() const { return fmt::format("http://127.0.0.1:{}", port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

const std::string& backup_body() {
  static const std::string body = message_json("answered by the backup");
  return body;
}

struct FailoverResult {
  ClientResponse response;
  json primary;  // the primary's /providers entry afterwards
};

// Sends one request through a balancer with providers "primary" (at `primary_url`) and
// "backup" (a healthy fake), and checks that the backup answered it within the same request
// after one failed attempt at the primary.
FailoverResult expect_answered_by_backup(const std::string& primary_url, std::string_view settings = "") {
  FakeUpstream backup([](const RecordedRequest&) { return Reply::json(backup_body()); });
  TestBalancer balancer(config_yaml({{"primary", primary_url}, {"backup", backup.url()}}, settings));

  const ClientResponse response = send(balancer, simple_body());

  REQUIRE(response.curl_code == 0);
  CHECK(response.status == 200);
  CHECK(response.body == backup_body());
  CHECK(response.header("x-balancer-provider") == "backup");
  CHECK(response.header("x-balancer-attempts") == "2");
  CHECK(backup.request_count() == 1);
  return {response, provider_status(balancer, "primary")};
}

// A primary fake answering every request with `reply`; the backup must answer instead.
void expect_failover_on(const Reply& reply, std::string_view expected_error_class, int expected_status,
                        std::string_view settings = "") {
  FakeUpstream primary([reply](const RecordedRequest&) { return reply; });
  const json status = expect_answered_by_backup(primary.url(), settings).primary;
  CHECK(primary.request_count() == 1);
  CHECK(status.at("failure_count") == 1);
  CHECK(status.at("last_error_class") == expected_error_class);
  CHECK(status.at("last_status") == expected_status);
}

// The text of the `data:` line of the first SSE event of type `type` in `body`; empty if none.
std::string event_data(const std::string& body, std::string_view type) {
  const std::string marker = fmt::format("event: {}\ndata: ", type);
  const auto at = body.find(marker);
  if (at == std::string::npos) {
    return {};
  }
  const auto begin = at + marker.size();
  return body.substr(begin, body.find('\n', begin) - begin);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Failover within the same request, one test per failure kind.

TEST_CASE("failover: HTTP 500 is answered by the backup in the same request", "[integration][failover]") {
  expect_failover_on(Reply::error(500, "api_error", "Internal server error"), "http_status", 500);
}

TEST_CASE("failover: HTTP 502 is answered by the backup in the same request", "[integration][failover]") {
  Reply reply = Reply::json("<html><body>502 Bad Gateway</body></html>", 502);
  reply.content_type = "text/html";
  expect_failover_on(reply, "http_status", 502);
}

TEST_CASE("failover: HTTP 503 is answered by the backup in the same request", "[integration][failover]") {
  expect_failover_on(Reply::error(503, "api_error", "Service unavailable"), "http_status", 503);
}

TEST_CASE("failover: HTTP 529 is answered by the backup in the same request", "[integration][failover]") {
  expect_failover_on(Reply::error(529, "overloaded_error", "Overloaded"), "http_status", 529);
}

TEST_CASE("failover: HTTP 429 with Retry-After is answered by the backup and cools down for the Retry-After",
          "[integration][failover]") {
  // Threshold 1: this one failure starts the cooldown, for the Retry-After (60 s) because it
  // is longer than failure_cooldown (10 s): the larger of the two, not their sum.
  const Reply reply = Reply::error(429, "rate_limit_error", "Rate limited").with_header("retry-after", "60");
  FakeUpstream primary([reply](const RecordedRequest&) { return reply; });
  const json status =
      expect_answered_by_backup(primary.url(), "  unhealthy_threshold: 1\n  failure_cooldown: 10\n").primary;
  CHECK(primary.request_count() == 1);
  CHECK(status.at("failure_count") == 1);
  CHECK(status.at("last_status") == 429);
  CHECK(status.at("healthy") == false);
  CHECK(status.at("status") == "unhealthy");
  CHECK(status.at("cooldown_remaining_s").get<double>() > 50.0);
  CHECK(status.at("cooldown_remaining_s").get<double>() <= 60.0);
}

TEST_CASE("failover: a connection dropped before the first byte is answered by the backup", "[integration][failover]") {
  ClosingUpstream primary;
  const json status = expect_answered_by_backup(primary.url()).primary;
  CHECK(primary.dropped_count() == 1);
  CHECK(status.at("failure_count") == 1);
  CHECK(status.at("last_error_class") == "connection_error");
}

TEST_CASE("failover: a refused port is answered by the backup", "[integration][failover]") {
  RefusedPort refused;
  const json status = expect_answered_by_backup(refused.url()).primary;
  CHECK(status.at("failure_count") == 1);
  CHECK(status.at("last_error_class") == "connection_error");
}

TEST_CASE("failover: headers later than timeout_seconds are answered by the backup", "[integration][failover]") {
  // timeout_seconds also bounds the backup's headers: 1 s leaves it room on a loaded machine.
  FakeUpstream primary([](const RecordedRequest&) {
    Reply reply = Reply::json(message_json("too late"));
    reply.header_delay = 8s;
    return reply;
  });
  const auto [response, status] = expect_answered_by_backup(primary.url(), "  timeout_seconds: 1\n");
  CHECK(response.finished - response.started >= 1s);
  CHECK(response.finished - response.started < 6s);  // did not wait for the slow headers (8 s)
  CHECK(primary.request_count() == 1);
  CHECK(status.at("failure_count") == 1);
  CHECK(status.at("last_error_class") == "timeout_error");
}

TEST_CASE("failover: a 200 carrying an Insufficient credits error object is answered by the backup",
          "[integration][failover]") {
  expect_failover_on(Reply::json(R"({"error":{"type":"x","message":"Insufficient credits"}})"), "error_payload", 200);
}

TEST_CASE("failover: a 200 HTML page is answered by the backup", "[integration][failover]") {
  Reply reply = Reply::json("<!DOCTYPE html><html><head><title>Login</title></head><body>Sign in</body></html>");
  reply.content_type = "text/html; charset=utf-8";
  expect_failover_on(reply, "html_body", 200);
}

// ---------------------------------------------------------------------------------------------
// What is not a failure.

TEST_CASE("failover: a 400 is passed through unchanged with no failover and no penalty", "[integration][failover]") {
  const std::string error_body =
      R"({"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: must be at least 1"}})";
  FakeUpstream primary(
      [&](const RecordedRequest&) { return Reply::json(error_body, 400).with_header("request-id", "req_400"); });
  FakeUpstream backup;
  TestBalancer balancer(config_yaml({{"primary", primary.url()}, {"backup", backup.url()}}));

  const ClientResponse response = send(balancer, simple_body());

  CHECK(response.status == 400);
  CHECK(response.body == error_body);
  CHECK(response.header("request-id") == "req_400");
  CHECK(response.header("x-balancer-provider") == "primary");
  CHECK(response.header("x-balancer-attempts") == "1");
  CHECK(primary.request_count() == 1);
  CHECK(backup.request_count() == 0);
  const json status = provider_status(balancer, "primary");
  CHECK(status.at("failure_count") == 0);
  CHECK(status.at("failures") == 0);
  CHECK(status.at("healthy") == true);
  CHECK(status.at("last_error_class").is_null());
}

TEST_CASE("failover: model text mentioning an error and Insufficient credits is a success (JSON)",
          "[integration][failover]") {
  const std::string text =
      R"(The API returned {"type": "error", "error": {"message": "Insufficient credits"}} — top up your account.)";
  const std::string reply_body = message_json(text);
  FakeUpstream primary([&](const RecordedRequest&) { return Reply::json(reply_body); });
  FakeUpstream backup;
  TestBalancer balancer(config_yaml({{"primary", primary.url()}, {"backup", backup.url()}}));

  const ClientResponse response = send(balancer, simple_body());

  CHECK(response.status == 200);
  CHECK(response.body == reply_body);
  CHECK(response.header("x-balancer-provider") == "primary");
  CHECK(response.header("x-balancer-attempts") == "1");
  CHECK(backup.request_count() == 0);
  const json status = provider_status(balancer, "primary");
  CHECK(status.at("failure_count") == 0);
  CHECK(status.at("failures") == 0);
}

TEST_CASE("failover: model text mentioning an error and Insufficient credits is a success (stream)",
          "[integration][failover]") {
  const std::vector<std::string> events =
      message_stream({"The API said ", R"({"type": "error", "error": {"type": "x", )",
                      R"("message": "Insufficient credits"}})", " <html>error</html>"});
  FakeUpstream primary([&](const RecordedRequest&) { return Reply::sse(events, 5ms); });
  FakeUpstream backup;
  TestBalancer balancer(config_yaml({{"primary", primary.url()}, {"backup", backup.url()}}));

  const ClientResponse response = send(balancer, simple_body(true));

  REQUIRE(response.curl_code == 0);
  CHECK(response.status == 200);
  CHECK(response.body == join(events));
  CHECK(response.body.find("event: error") == std::string::npos);
  CHECK(response.header("x-balancer-provider") == "primary");
  CHECK(response.header("x-balancer-attempts") == "1");
  CHECK(backup.request_count() == 0);
  CHECK(primary.wait_for_streams(StreamOutcome::Completed, 1, kDeadline));
  const json status = provider_status(balancer, "primary");
  CHECK(status.at("failure_count") == 0);
  CHECK(status.at("failures") == 0);
}

// ---------------------------------------------------------------------------------------------
// After the first byte.

TEST_CASE("failover: a mid-stream drop ends with an error event and no message_stop and penalises the provider",
          "[integration][failover]") {
  const std::vector<std::string> events = message_stream({"first", " second", " third"});
  FakeUpstream primary([&](const RecordedRequest&) {
    Reply reply = Reply::sse(events, 10ms);
    reply.drop_after = 4;  // message_start, content_block_start, ping, the first delta
    return reply;
  });
  FakeUpstream backup;
  TestBalancer balancer(config_yaml({{"primary", primary.url()}, {"backup", backup.url()}}));

  const ClientResponse response = send(balancer, simple_body(true));

  REQUIRE(response.curl_code == 0);
  REQUIRE(response.status == 200);
  const std::string relayed = join({events.begin(), events.begin() + 4});
  REQUIRE(response.body.size() > relayed.size());
  CHECK(response.body.substr(0, relayed.size()) == relayed);  // the events so far, unchanged
  const std::string tail = response.body.substr(relayed.size());
  CHECK(tail.rfind("event: error\ndata: ", 0) == 0);
  CHECK(anthropic_error_type(event_data(tail, "error")) == "api_error");
  CHECK(response.body.find("message_stop") == std::string::npos);
  CHECK(response.header("x-balancer-provider") == "primary");
  CHECK(backup.request_count() == 0);  // no failover once bytes reached the client
  CHECK(primary.wait_for_streams(StreamOutcome::Dropped, 1, kDeadline));

  // The failure is recorded before the error event is handed to the client.
  const json status = provider_status(balancer, "primary");
  CHECK(status.at("failure_count") == 1);
  CHECK(status.at("last_error_class") == "stream_error");
  CHECK(status.at("failures") == 1);
}

// ---------------------------------------------------------------------------------------------
// Threshold, cooldown, probe, recovery.

TEST_CASE("failover: a threshold-2 provider is contacted twice then skipped until its cooldown ends then probed",
          "[integration][failover]") {
  FakeUpstream primary([](const RecordedRequest&) { return Reply::error(500, "api_error", "down"); });
  FakeUpstream backup([](const RecordedRequest&) { return Reply::json(backup_body()); });
  testing::ManualClock clock;  // the cooldown ends when the test says so
  TestBalancer balancer(config_yaml({{"primary", primary.url()}, {"backup", backup.url()}},
                                    "  unhealthy_threshold: 2\n  failure_cooldown: 2\n"),
                        {.clock = &clock});

  // Two requests: each fails at the primary and is answered by the backup.
  const ClientResponse first = send(balancer, simple_body());
  CHECK(first.status == 200);
  CHECK(first.header("x-balancer-provider") == "backup");
  CHECK(first.header("x-balancer-attempts") == "2");
  json status = provider_status(balancer, "primary");
  CHECK(status.at("failure_count") == 1);
  CHECK(status.at("healthy") == true);

  const SteadyTime before_second_failure = clock.now();
  const ClientResponse second = send(balancer, simple_body());
  CHECK(second.status == 200);
  CHECK(second.header("x-balancer-provider") == "backup");
  CHECK(second.header("x-balancer-attempts") == "2");
  CHECK(primary.request_count() == 2);

  // The third goes straight to the backup: the primary is not contacted.
  const ClientResponse third = send(balancer, simple_body());
  CHECK(third.status == 200);
  CHECK(third.header("x-balancer-provider") == "backup");
  CHECK(third.header("x-balancer-attempts") == "1");
  CHECK(primary.request_count() == 2);
  CHECK(backup.request_count() == 3);

  status = provider_status(balancer, "primary");
  CHECK(status.at("healthy") == false);
  CHECK(status.at("status") == "unhealthy");
  CHECK(status.at("failure_count") == 2);
  CHECK(status.at("threshold") == 2);
  CHECK(status.at("cooldown_remaining_s").get<double>() > 0.0);
  CHECK(status.at("cooldown_remaining_s").get<double>() <= 2.0);
  CHECK(status.at("last_status") == 500);

  // The primary recovers; once the cooldown is over (on the balancer's clock), the next request
  // probes it and it becomes healthy. The cooldown is not over a moment before 2 s have passed
  // since the second failure, and it is over at 2 s.
  primary.set_behaviour([](const RecordedRequest&) { return Reply::json(message_json("primary is back")); });
  clock.advance(before_second_failure + 2s - 1ms - clock.now());
  CHECK(provider_status(balancer, "primary").at("cooldown_remaining_s").get<double>() > 0.0);
  clock.advance(1ms);
  const bool cooldown_over = provider_status(balancer, "primary").at("cooldown_remaining_s").get<double>() == 0.0;
  REQUIRE(cooldown_over);
  CHECK(primary.request_count() == 2);  // still not contacted while waiting

  const ClientResponse probe = send(balancer, simple_body());
  CHECK(probe.status == 200);
  CHECK(probe.body == message_json("primary is back"));
  CHECK(probe.header("x-balancer-provider") == "primary");
  CHECK(probe.header("x-balancer-attempts") == "1");
  CHECK(primary.request_count() == 3);
  CHECK(backup.request_count() == 3);

  status = provider_status(balancer, "primary");
  CHECK(status.at("healthy") == true);
  CHECK(status.at("status") == "healthy");
  CHECK(status.at("failure_count") == 0);
  CHECK(status.at("cooldown_remaining_s").get<double>() == 0.0);
}

TEST_CASE("failover: GET /health is 503 when every provider is in cooldown", "[integration][failover]") {
  FakeUpstream only([](const RecordedRequest&) { return Reply::error(500, "api_error", "down"); });
  TestBalancer balancer(config_yaml({{"only", only.url()}}, "  unhealthy_threshold: 1\n  failure_cooldown: 30\n"));

  const ClientResponse healthy = get(balancer.url("/health"));
  CHECK(healthy.status == 200);
  CHECK(json::parse(healthy.body).at("providers_available") == 1);

  const ClientResponse failed = send(balancer, simple_body());
  CHECK(failed.status == 503);
  CHECK(anthropic_error_type(failed.body) == "api_error");
  CHECK(only.request_count() == 1);

  const ClientResponse unhealthy = get(balancer.url("/health"));
  CHECK(unhealthy.status == 503);
  const json report = json::parse(unhealthy.body);
  CHECK(report.at("status") == "unhealthy");
  CHECK(report.at("providers_available") == 0);
  CHECK(report.at("providers_total") == 1);
}

TEST_CASE("failover: when every candidate is in cooldown they are tried by earliest cooldown end",
          "[integration][failover]") {
  // Threshold 1, failure_cooldown 30 s. One request makes all three unhealthy with cooldowns
  // ending in the order B (30 s) < C (Retry-After 40 s) < A (Retry-After 50 s), unlike their
  // priority order A, B, C.
  FakeUpstream a([](const RecordedRequest&) {
    return Reply::error(429, "rate_limit_error", "limited").with_header("retry-after", "50");
  });
  FakeUpstream b([](const RecordedRequest&) { return Reply::error(500, "api_error", "down"); });
  FakeUpstream c([](const RecordedRequest&) {
    return Reply::error(429, "rate_limit_error", "limited").with_header("retry-after", "40");
  });
  TestBalancer balancer(config_yaml({{"A", a.url()}, {"B", b.url()}, {"C", c.url()}},
                                    "  unhealthy_threshold: 1\n  failure_cooldown: 30\n"));

  const ClientResponse all_failed = send(balancer, simple_body());
  CHECK(all_failed.status == 503);
  CHECK(all_failed.header("x-balancer-attempts") == "3");
  const double a_left = provider_status(balancer, "A").at("cooldown_remaining_s").get<double>();
  const double b_left = provider_status(balancer, "B").at("cooldown_remaining_s").get<double>();
  const double c_left = provider_status(balancer, "C").at("cooldown_remaining_s").get<double>();
  CHECK(b_left > 0.0);
  CHECK(b_left < c_left);
  CHECK(c_left < a_left);

  // Now C (and A) would answer, B still fails. Every candidate is in cooldown: the request is
  // still tried, B first, then C, whose answer the client gets; A is never reached.
  a.set_behaviour([](const RecordedRequest&) { return Reply::json(message_json("from A")); });
  c.set_behaviour([](const RecordedRequest&) { return Reply::json(message_json("from C")); });
  const ClientResponse response = send(balancer, simple_body());
  CHECK(response.status == 200);
  CHECK(response.body == message_json("from C"));
  CHECK(response.header("x-balancer-provider") == "C");
  CHECK(response.header("x-balancer-attempts") == "2");
  CHECK(a.request_count() == 1);
  REQUIRE(b.request_count() == 2);
  REQUIRE(c.request_count() == 2);
  CHECK(b.requests()[1].received_at <= c.requests()[1].received_at);
  const json c_status = provider_status(balancer, "C");
  CHECK(c_status.at("healthy") == true);
  CHECK(c_status.at("failure_count") == 0);
}

// ---------------------------------------------------------------------------------------------
// Selection strategies.

TEST_CASE("failover: round_robin sends 6 sequential requests to each of 3 providers exactly twice",
          "[integration][failover]") {
  FakeUpstream p1;
  FakeUpstream p2;
  FakeUpstream p3;
  TestBalancer balancer(config_yaml({{"p1", p1.url()}, {"p2", p2.url()}, {"p3", p3.url()}},
                                    "  selection_strategy: round_robin\n",
                                    {"priority: 1", "priority: 1", "priority: 1"}));

  std::vector<std::string> served;
  for (int i = 0; i < 6; ++i) {
    const ClientResponse response = send(balancer, simple_body());
    REQUIRE(response.status == 200);
    CHECK(response.header("x-balancer-attempts") == "1");
    served.push_back(response.header("x-balancer-provider").value_or(""));
  }
  std::string order;
  for (const std::string& name : served) {
    order += name + " ";
  }
  INFO("served in order: " << order);
  CHECK(p1.request_count() == 2);
  CHECK(p2.request_count() == 2);
  CHECK(p3.request_count() == 2);
  // An exact rotation: every three consecutive requests reach three different providers.
  for (std::size_t i = 0; i + 3 <= served.size(); ++i) {
    CHECK(std::set<std::string>(served.begin() + static_cast<std::ptrdiff_t>(i),
                                served.begin() + static_cast<std::ptrdiff_t>(i + 3))
              .size() == 3);
  }
}

TEST_CASE("failover: weighted_round_robin 3:1 over 8 requests gives 6 and 2", "[integration][failover]") {
  FakeUpstream heavy;
  FakeUpstream light;
  TestBalancer balancer(config_yaml({{"heavy", heavy.url()}, {"light", light.url()}},
                                    "  selection_strategy: weighted_round_robin\n",
                                    {"priority: 1, weight: 3", "priority: 1, weight: 1"}));

  for (int i = 0; i < 8; ++i) {
    const ClientResponse response = send(balancer, simple_body());
    REQUIRE(response.status == 200);
    CHECK(response.header("x-balancer-attempts") == "1");
  }
  CHECK(heavy.request_count() == 6);
  CHECK(light.request_count() == 2);
}

// ---------------------------------------------------------------------------------------------
// Conversation affinity.

TEST_CASE("failover: conversation affinity under round_robin and failover moving the conversation",
          "[integration][failover]") {
  std::map<std::string, std::unique_ptr<FakeUpstream>> upstreams;
  for (const char* name : {"p1", "p2", "p3"}) {
    upstreams[name] = std::make_unique<FakeUpstream>(
        [name = std::string(name)](const RecordedRequest&) { return Reply::json(message_json("from " + name)); });
  }
  TestBalancer balancer(
      config_yaml({{"p1", upstreams["p1"]->url()}, {"p2", upstreams["p2"]->url()}, {"p3", upstreams["p3"]->url()}},
                  "  selection_strategy: round_robin\n  sticky_provider_duration: 300\n",
                  {"priority: 1", "priority: 1", "priority: 1"}));
  const auto served_by = [&](std::string_view user) {
    const ClientResponse response = send(balancer, conversation_body(user));
    REQUIRE(response.status == 200);
    return response.header("x-balancer-provider").value_or("");
  };
  const auto count = [&](const std::string& provider) { return upstreams.at(provider)->request_count(); };

  // Each conversation stays with the provider that served its first request.
  const std::string alice = served_by("alice");
  for (int i = 0; i < 3; ++i) {
    CHECK(served_by("alice") == alice);
  }
  CHECK(count(alice) == 4);
  // Other conversations are not pinned to alice's provider: the rotation goes on for them.
  const std::string bob = served_by("bob");
  const std::string carol = served_by("carol");
  CHECK(std::set<std::string>{alice, bob, carol}.size() == 3);
  for (int i = 0; i < 2; ++i) {
    CHECK(served_by("bob") == bob);
    CHECK(served_by("carol") == carol);
    CHECK(served_by("alice") == alice);
  }
  CHECK(count(alice) == 6);
  CHECK(count(bob) == 3);
  CHECK(count(carol) == 3);

  // alice's provider fails: her next request fails over within the request, and the
  // conversation moves to the provider that answered.
  upstreams.at(alice)->set_behaviour([](const RecordedRequest&) { return Reply::error(500, "api_error", "down"); });
  const ClientResponse moved = send(balancer, conversation_body("alice"));
  REQUIRE(moved.status == 200);
  CHECK(moved.header("x-balancer-attempts") == "2");
  const std::string alice_now = moved.header("x-balancer-provider").value_or("");
  CHECK(alice_now != alice);
  CHECK(count(alice) == 7);
  // Still below its threshold (1/2), the old provider is healthy, yet alice stays on the new one.
  CHECK(provider_status(balancer, alice).at("healthy") == true);
  for (int i = 0; i < 2; ++i) {
    const ClientResponse again = send(balancer, conversation_body("alice"));
    CHECK(again.header("x-balancer-provider") == alice_now);
    CHECK(again.header("x-balancer-attempts") == "1");
  }
  CHECK(count(alice) == 7);
  // The other conversations are unaffected.
  CHECK(served_by("bob") == bob);
  CHECK(served_by("carol") == carol);
}

TEST_CASE("balance check: a provider whose balance is at the threshold is skipped until it reads above",
          "[integration][failover][balance]") {
  FakeUpstream primary;
  FakeUpstream backup;
  TempDir dir;
  const std::string balance_file = dir.file("balance");
  const auto write_balance = [&](const char* value) { std::ofstream(balance_file) << value << "\n"; };
  write_balance("0.00");
  std::string yaml = "providers:\n" + provider_yaml("primary", primary.url()) +
                     fmt::format(
                         "    balance_check: \"cat {}\"\n    balance_check_interval: 1\n"
                         "    balance_threshold: 0\n",
                         balance_file) +
                     provider_yaml("backup", backup.url()) +
                     "model_routes:\n  \"*\":\n    - {provider: \"primary\", priority: 1}\n"
                     "    - {provider: \"backup\", priority: 2}\n" +
                     test_settings_yaml();
  // The checks run on the balancer's own threads; each result is logged once it is recorded.
  testing::ManualClock clock;
  auto log = std::make_shared<RecordingLog>();
  TestBalancer balancer(yaml, {.clock = &clock, .log = log});

  // The first check is due at once.
  REQUIRE(log->wait_for("balance low: provider unavailable", "primary", kDeadline));
  REQUIRE(provider_status(balancer, "primary").at("status") == "low_balance");
  const json low = provider_status(balancer, "primary");
  CHECK(low.at("healthy") == false);
  CHECK(low.at("balance").at("balance") == 0.0);
  const ClientResponse skipped = send(balancer, simple_body());
  CHECK(skipped.status == 200);
  CHECK(skipped.header("x-balancer-provider") == "backup");
  CHECK(primary.request_count() == 0);  // not contacted while out of credit

  write_balance("12.5");
  // The next check is due balance_check_interval (1 s) later on the balancer's clock. Advancing a
  // whole tick round (30 s) makes the tick nudge the checker at once (without it, the checker's
  // own one-second round would find the check due).
  clock.advance(30s);
  balancer.app().gateway().tick(clock.now());
  REQUIRE(log->wait_for("balance restored", "primary", kDeadline));
  REQUIRE(provider_status(balancer, "primary").at("status") == "healthy");
  const ClientResponse restored = send(balancer, simple_body());
  CHECK(restored.header("x-balancer-provider") == "primary");
  CHECK(primary.request_count() == 1);
}

TEST_CASE("failover: a provider whose host name does not resolve fails over, and serves once it resolves",
          "[integration][failover][recovery]") {
  // The failing provider's name cannot be resolved (a label longer than DNS allows: the lookup
  // fails locally, no DNS traffic) until the transport's resolve overrides map it to 127.0.0.1.
  const std::string host = std::string(64, 'a') + ".invalid";
  FakeUpstream named;
  FakeUpstream backup;
  auto overrides = std::make_shared<ResolveOverrides>();
  CurlTransportOptions options;
  options.resolve = overrides;
  options.max_idle_sessions = 1;  // the failed lookup's session is the next request's session
  auto transport = make_curl_transport(options);
  const std::string named_url = fmt::format("http://{}:{}", host, named.port());
  TestBalancer balancer(config_yaml({{"named", named_url}, {"backup", backup.url()}}, "  unhealthy_threshold: 5\n"), {},
                        transport.get());

  for (int i = 0; i < 3; ++i) {
    INFO("request " << i);
    const ClientResponse r = send(balancer, simple_body(i == 1));
    CHECK(r.status == 200);
    CHECK(r.header("x-balancer-provider") == "backup");
    CHECK(r.header("x-balancer-attempts") == "2");
  }
  CHECK(backup.request_count() == 3);
  const json failing = provider_status(balancer, "named");
  CHECK(failing.at("last_error_class") == "connection_error");
  CHECK(failing.at("failure_count") == 3);

  overrides->set(host, named.port(), "127.0.0.1");
  const ClientResponse resolved = send(balancer, simple_body());
  CHECK(resolved.status == 200);
  CHECK(resolved.header("x-balancer-provider") == "named");
  CHECK(resolved.header("x-balancer-attempts") == "1");
  CHECK(named.request_count() == 1);
  const ClientResponse streamed = send(balancer, simple_body(true));
  CHECK(streamed.status == 200);
  CHECK(streamed.header("x-balancer-provider") == "named");
  CHECK(provider_status(balancer, "named").at("failure_count") == 0);
}

TEST_CASE("failover: a request the transport cannot set up is logged at ERROR and answered by the backup",
          "[integration][failover][recovery]") {
  FakeUpstream backup;
  const std::string broken_url = "http://broken.test";
  auto real = make_curl_transport();
  testing::FakeTransport transport([&](const HttpRequest& r) {
    if (r.url.rfind(broken_url, 0) == 0) {
      return testing::FakeResponse::failure(ErrorCode::Internal, "cannot configure the upstream request: bad argument");
    }
    auto response = real->send(r);  // the backup is a real upstream
    if (!response) {
      return testing::FakeResponse::failure(response.error().code, response.error().message);
    }
    testing::FakeResponse out;
    out.status = response->status;
    out.headers = response->headers;
    out.chunks = {response->body};
    return out;
  });
  TempDir dir;
  const std::string log_path = dir.file("log.jsonl");
  std::string yaml = "providers:\n" + provider_yaml("broken", broken_url) + provider_yaml("backup", backup.url()) +
                     "model_routes:\n  \"*\":\n    - {provider: \"broken\", priority: 1}\n"
                     "    - {provider: \"backup\", priority: 2}\n" +
                     fmt::format("settings:\n  log_file_path: \"{}\"\n  log_level: \"ERROR\"\n", log_path);
  {
    TestBalancer balancer(yaml, {}, &transport);
    const ClientResponse r = send(balancer, simple_body());
    CHECK(r.status == 200);
    CHECK(r.header("x-balancer-provider") == "backup");
    // Not the provider's fault: its health is untouched.
    CHECK(provider_status(balancer, "broken").at("failure_count") == 0);
  }
  std::ifstream in(log_path);
  std::string line;
  std::vector<json> errors;
  while (std::getline(in, line)) {
    const json entry = json::parse(line);
    if (entry.value("level", "") == "ERROR" && entry.value("msg", "") == "request") {
      errors.push_back(entry);
    }
  }
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].at("status") == 200);
  CHECK(errors[0].at("attempts").at(0).at("provider") == "broken");
  CHECK(errors[0].at("attempts").at(0).at("error_class") == "internal_error");
}

TEST_CASE("an upstream error that echoes the provider key never reaches the client or the log", "[integration]") {
  const std::string key = "sk-ant-echoed-provider-key-31337";
  FakeUpstream echoing(
      [&](const RecordedRequest&) { return Reply::error(401, "authentication_error", "invalid x-api-key " + key); });
  FakeUpstream refusing(
      [&](const RecordedRequest&) { return Reply::error(400, "invalid_request_error", "bad request for key " + key); });
  auto log = std::make_shared<RecordingLog>();
  TestBalancerOptions options;
  options.log = log;
  TestBalancer balancer("providers:\n" + provider_yaml("echo", echoing.url(), "api_key", key) +
                            provider_yaml("strict", refusing.url(), "api_key", key) +
                            "model_routes:\n  \"failing\": [{provider: \"echo\"}]\n"
                            "  \"refused\": [{provider: \"strict\"}]\n" +
                            test_settings_yaml(),
                        options);
  for (const char* model : {"failing", "refused"}) {
    INFO(model);
    const ClientResponse response =
        post(balancer.url("/v1/messages"),
             fmt::format(R"({{"model":"{}","max_tokens":16,"messages":[{{"role":"user","content":"hi"}}]}})", model),
             json_headers());
    CHECK(response.status >= 400);
    INFO(response.body);
    CHECK(response.body.find(key) == std::string::npos);
    CHECK(response.body.find("<redacted>") != std::string::npos);
  }
  REQUIRE(log->count("request") == 2);
  for (const LogLine& line : log->lines()) {
    CHECK(line.fields.dump().find(key) == std::string::npos);
  }
  const ClientResponse providers = get(balancer.url("/providers"));
  CHECK(providers.body.find(key) == std::string::npos);
}

}  // namespace balancer::test
