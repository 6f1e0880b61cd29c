// Failure handling around the first byte and after it, through the real in-process balancer with
// real libcurl clients and fake upstreams on 127.0.0.1:0 (issue 15): a stream that starts and
// then says nothing, upstream error events inside a committed stream, a conversation's retry
// after its stream failed, Retry-After honoured at once, per-class cooldowns, count_tokens kept
// apart from messages health, and a non-streaming request cancelled when its client hangs up.
// Health windows run on a ManualClock; the only real-time windows are the first-event and
// count_tokens deadlines (1 s), bounded from both sides.
#include <ctime>

#include <chrono>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <balancer/testing/manual_clock.h>

#include "fake_upstream.h"
#include "provider_fixture.h"
#include "raw_client.h"
#include "recording_log.h"
#include "test_balancer.h"
#include "test_client.h"

namespace balancer::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr auto kDeadline = 10s;  // failure guard for waits

// A request of the conversation `user_id` (metadata.user_id, as Claude Code sends it).
std::string request_body(bool stream, std::string_view user_id = "") {
  const std::string metadata = user_id.empty() ? "" : fmt::format(R"("metadata":{{"user_id":"{}"}},)", user_id);
  return fmt::format(
      R"({{"model":"claude-sonnet-4-5","max_tokens":16,"stream":{},{}"messages":[{{"role":"user","content":"hi"}}]}})",
      stream ? "true" : "false", metadata);
}

ClientResponse send(const TestBalancer& balancer, const std::string& body, HeaderList extra = {}) {
  HeaderList headers = json_headers();
  headers.insert(headers.end(), extra.begin(), extra.end());
  return post(balancer.url("/v1/messages"), body, headers);
}

// The last "request" log line's fields.
json last_request_line(const RecordingLog& log) {
  json last;
  for (const LogLine& line : log.lines()) {
    if (line.message == "request") {
      last = line.fields;
    }
  }
  return last;
}

// An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") for `t`.
std::string http_date(WallTime t) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[64];
  std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return text;
}

const std::vector<std::string>& backup_events() {
  static const std::vector<std::string> events = message_stream({"from", " the backup"});
  return events;
}

// ---------------------------------------------------------------------------------------------
// 1. A stream that starts and then says nothing.

TEST_CASE("failure handling: headers then silence fail over within first_event_timeout", "[integration][failover]") {
  std::string head = silent_sse_head();
  SECTION("not a byte of body") {}
  SECTION("only SSE comments") { head += "8\r\n: ping\n\n\r\n"; }  // a comment is not an event
  SilentUpstream primary(head);
  FakeUpstream backup([](const RecordedRequest&) { return Reply::sse(backup_events()); });
  TestBalancer balancer(
      config_yaml({{"primary", primary.url()}, {"backup", backup.url()}}, "  timeouts:\n    first_event_timeout: 1\n"));

  const ClientResponse response = send(balancer, request_body(true));

  REQUIRE(response.curl_code == 0);
  CHECK(response.status == 200);
  CHECK(response.body == join(backup_events()));
  CHECK(response.header("x-balancer-provider") == "backup");
  CHECK(response.header("x-balancer-attempts") == "2");
  CHECK(response.finished - response.started >= 1s);
  CHECK(response.finished - response.started < 5s);  // not the 120 s read timeout
  CHECK(primary.requests_read() == 1);
  CHECK(primary.wait_for_peers_gone(1, kDeadline));  // the stalled transfer was closed
  const json status = provider_status(balancer, "primary");
  CHECK(status.at("failure_count") == 1);
  CHECK(status.at("last_error_class") == "timeout_error");
}

// ---------------------------------------------------------------------------------------------
// 2. An upstream error event inside a committed stream.

TEST_CASE("failure handling: a mid-stream upstream error event is relayed and counts as a failure",
          "[integration][failover]") {
  const std::string type =
      GENERATE(std::string("overloaded_error"), std::string("api_error"), std::string("rate_limit_error"));
  CAPTURE(type);
  const std::vector<std::string> all = message_stream({"partial"});
  const std::vector<std::string> events = {
      all[0], all[1],
      sse_event("error", fmt::format(R"({{"type":"error","error":{{"type":"{}","message":"try later"}}}})", type))};
  FakeUpstream primary([&](const RecordedRequest&) { return Reply::sse(events); });
  FakeUpstream backup([](const RecordedRequest&) { return Reply::sse(backup_events()); });
  auto log = std::make_shared<RecordingLog>();
  testing::ManualClock clock;
  TestBalancer balancer(
      config_yaml({{"primary", primary.url()}, {"backup", backup.url()}},
                  "  unhealthy_threshold: 3\n  cache_ttl_seconds: 60\n  deduplication:\n    enabled: true\n"),
      {.clock = &clock, .log = log});

  const ClientResponse response = send(balancer, request_body(true));

  REQUIRE(response.curl_code == 0);
  CHECK(response.status == 200);
  CHECK(response.body == join(events));  // relayed as it came, nothing added
  CHECK(response.header("x-balancer-provider") == "primary");
  CHECK(backup.request_count() == 0);
  REQUIRE(log->wait_for("request", "", kDeadline));
  const json line = last_request_line(*log);
  CHECK(line.at("outcome") == "upstream_error");
  const json status = provider_status(balancer, "primary");
  CHECK(status.at("failure_count") == 1);
  CHECK(status.at("last_error_class") == "upstream_error");

  // Never cached: the same request again is forwarded again, and the backup's complete answer
  // is not mixed up with the failed one.
  const ClientResponse again = send(balancer, request_body(true));
  CHECK(again.status == 200);
  CHECK(primary.request_count() + backup.request_count() == 2);
}

// ---------------------------------------------------------------------------------------------
// 3. The conversation's retry after its committed stream failed.

TEST_CASE("failure handling: after a mid-stream drop the conversation's retry is served by the other provider",
          "[integration][failover]") {
  const std::vector<std::string> events = message_stream({"first", " second"});
  std::atomic<int> primary_calls{0};
  FakeUpstream primary([&](const RecordedRequest&) {
    Reply reply = Reply::sse(events);
    if (primary_calls++ == 0) {
      reply.drop_after = 3;  // the first request's stream breaks after message_start & co.
    }
    return reply;
  });
  FakeUpstream backup([](const RecordedRequest&) { return Reply::sse(backup_events()); });
  testing::ManualClock clock;
  TestBalancer balancer(
      config_yaml({{"primary", primary.url()}, {"backup", backup.url()}}, "  unhealthy_threshold: 3\n"),
      {.clock = &clock});
  // The conversation is known by metadata.user_id or, without it, Claude Code's session header.
  const bool by_header = GENERATE(false, true);
  CAPTURE(by_header);
  const std::string body = request_body(true, by_header ? "" : "user_abc_session_1");
  const HeaderList session = by_header ? HeaderList{{"x-claude-code-session-id", "5f0c3b7e-session"}} : HeaderList{};

  const ClientResponse broken = send(balancer, body, session);
  REQUIRE(broken.status == 200);
  CHECK(broken.header("x-balancer-provider") == "primary");
  CHECK(broken.body.find("message_stop") == std::string::npos);
  CHECK(provider_status(balancer, "primary").at("failure_count") == 1);  // 1/3: still healthy

  const ClientResponse retry = send(balancer, body, session);
  CHECK(retry.status == 200);
  CHECK(retry.header("x-balancer-provider") == "backup");
  CHECK(retry.body == join(backup_events()));

  // Another conversation still goes to the healthy primary.
  const ClientResponse other = send(balancer, request_body(true, "user_other_session_2"));
  CHECK(other.header("x-balancer-provider") == "primary");
  CHECK(other.body == join(events));
  CHECK(primary.request_count() == 2);
}

// ---------------------------------------------------------------------------------------------
// 4. Retry-After honoured at once; per-class cooldowns.

TEST_CASE("failure handling: a 429 with Retry-After keeps the provider uncontacted until then, below the threshold",
          "[integration][failover]") {
  testing::ManualClock clock;
  const bool as_date = GENERATE(false, true);
  CAPTURE(as_date);
  std::atomic<bool> limited{true};
  const std::string retry_after = as_date ? http_date(clock.wall_now() + 5s) : "5";
  FakeUpstream primary([&](const RecordedRequest&) {
    return limited ? Reply::error(429, "rate_limit_error", "Rate limited").with_header("retry-after", retry_after)
                   : Reply::json(message_json("primary again"));
  });
  FakeUpstream backup([](const RecordedRequest&) { return Reply::json(message_json("backup")); });
  TestBalancer balancer(config_yaml({{"primary", primary.url()}, {"backup", backup.url()}},
                                    "  unhealthy_threshold: 3\n  failure_cooldown: 60\n"),
                        {.clock = &clock});

  CHECK(send(balancer, request_body(false)).header("x-balancer-provider") == "backup");
  const json status = provider_status(balancer, "primary");
  CHECK(status.at("failure_count") == 1);
  CHECK(status.at("status") == "unhealthy");
  CHECK(status.at("cooldown_remaining_s").get<double>() == Approx(5.0).margin(1.0));

  clock.advance(4900ms);
  CHECK(send(balancer, request_body(false)).header("x-balancer-provider") == "backup");
  CHECK(primary.request_count() == 1);  // not contacted inside the window

  limited = false;
  clock.advance(1100ms);
  CHECK(send(balancer, request_body(false)).header("x-balancer-provider") == "primary");
  CHECK(primary.request_count() == 2);
  CHECK(provider_status(balancer, "primary").at("failure_count") == 0);
}

TEST_CASE("failure handling: settings.cooldowns gives each failure class its own cooldown", "[integration][failover]") {
  testing::ManualClock clock;
  FakeUpstream bad_key([](const RecordedRequest&) { return Reply::error(401, "authentication_error", "invalid key"); });
  FakeUpstream broken([](const RecordedRequest&) { return Reply::error(500, "api_error", "boom"); });
  FakeUpstream overloaded([](const RecordedRequest&) { return Reply::error(529, "overloaded_error", "busy"); });
  FakeUpstream good;
  TestBalancer balancer(config_yaml({{"bad_key", bad_key.url()},
                                     {"broken", broken.url()},
                                     {"overloaded", overloaded.url()},
                                     {"good", good.url()}},
                                    "  unhealthy_threshold: 1\n  failure_cooldown: 30\n"
                                    "  cooldowns:\n    auth: 1800\n    overloaded: 120\n"),
                        {.clock = &clock});

  const ClientResponse response = send(balancer, request_body(false));
  CHECK(response.status == 200);
  CHECK(response.header("x-balancer-provider") == "good");
  CHECK(provider_status(balancer, "bad_key").at("cooldown_remaining_s").get<double>() == Approx(1800.0).margin(1.0));
  CHECK(provider_status(balancer, "broken").at("cooldown_remaining_s").get<double>() ==
        Approx(30.0).margin(1.0));  // server_error not given: failure_cooldown
  CHECK(provider_status(balancer, "overloaded").at("cooldown_remaining_s").get<double>() == Approx(120.0).margin(1.0));
}

// ---------------------------------------------------------------------------------------------
// 5. count_tokens apart from messages.

TEST_CASE("failure handling: count_tokens failures fall back to the estimate and leave messages health alone",
          "[integration][failover]") {
  const std::string count_body =
      R"({"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"how many tokens is this?"}]})";
  SECTION("a 5xx") {
    FakeUpstream primary([](const RecordedRequest& r) {
      return r.path.ends_with("/count_tokens") ? Reply::error(500, "api_error", "boom")
                                               : Reply::json(message_json("messages fine"));
    });
    TestBalancer balancer(config_yaml({{"primary", primary.url()}}, "  unhealthy_threshold: 1\n"));
    for (int i = 0; i < 3; ++i) {
      const ClientResponse counted = post(balancer.url("/v1/messages/count_tokens"), count_body, json_headers());
      CHECK(counted.status == 200);
      CHECK_THAT(counted.header("x-balancer-token-count").value_or(""), Catch::StartsWith("estimate"));
      CHECK(json::parse(counted.body).at("input_tokens").get<int>() > 0);
    }
    const json status = provider_status(balancer, "primary");
    CHECK(status.at("failure_count") == 0);
    CHECK(status.at("healthy") == true);
    const ClientResponse message = send(balancer, request_body(false));
    CHECK(message.status == 200);
    CHECK(message.header("x-balancer-provider") == "primary");
  }
  SECTION("no answer within count_tokens_timeout") {
    SilentUpstream primary;
    TestBalancer balancer(config_yaml({{"primary", primary.url()}}, "  timeouts:\n    count_tokens_timeout: 1\n"));
    const ClientResponse counted = post(balancer.url("/v1/messages/count_tokens"), count_body, json_headers());
    CHECK(counted.status == 200);
    CHECK_THAT(counted.header("x-balancer-token-count").value_or(""), Catch::StartsWith("estimate"));
    CHECK(counted.finished - counted.started >= 1s);
    CHECK(counted.finished - counted.started < 5s);  // not timeout_seconds (300 s)
    CHECK(provider_status(balancer, "primary").at("failure_count") == 0);
  }
}

// ---------------------------------------------------------------------------------------------
// 6. A non-streaming request whose client hangs up.

TEST_CASE("failure handling: a non-streaming client that hangs up cancels the upstream call within a second",
          "[integration][failover]") {
  SilentUpstream primary;  // never answers
  FakeUpstream backup;
  auto log = std::make_shared<RecordingLog>();
  TestBalancer balancer(config_yaml({{"primary", primary.url()}, {"backup", backup.url()}}), {.log = log});
  const std::string body = request_body(false);
  SteadyClock::time_point hung_up;
  {
    RawConnection client(balancer.port());
    REQUIRE(
        client.send(fmt::format("POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                                "application/json\r\nanthropic-version: 2023-06-01\r\nContent-Length: {}\r\n\r\n{}",
                                body.size(), body)));
    REQUIRE(primary.wait_for_requests(1, kDeadline));
    hung_up = SteadyClock::now();
  }  // the client closes its socket
  REQUIRE(primary.wait_for_peers_gone(1, kDeadline));
  CHECK(primary.peers_gone_at()[0] - hung_up < 1500ms);
  REQUIRE(log->wait_for("request", "", kDeadline));
  CHECK(backup.request_count() == 0);  // nobody to answer: no failover
  const json line = last_request_line(*log);
  REQUIRE(line.at("attempts").size() == 1);
  CHECK(line.at("attempts")[0].at("error_class") == "cancelled");
  CHECK(provider_status(balancer, "primary").at("failure_count") == 0);  // not the provider's fault
}

}  // namespace
}  // namespace balancer::test
