// Forwarding through the real in-process balancer server: real libcurl clients, fake Anthropic
// upstreams on 127.0.0.1:0 (spec §4, §6). The tests never sleep: pacing is done by the fake
// upstreams, and waits are on recorded state with a deadline.
#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "fake_upstream.h"
#include "provider_fixture.h"
#include "test_balancer.h"
#include "test_client.h"

namespace balancer::test {
namespace {

using namespace std::chrono_literals;
using std::chrono::duration_cast;

constexpr auto kDeadline = 10s;  // failure guard for waits on recorded state

// A Claude Code-like request body: unicode (raw UTF-8 and \u escapes), an unknown field,
// cache_control blocks, unusual whitespace and number spellings.
std::string claude_code_body(bool stream, std::string_view model = "claude-sonnet-4-5") {
  return fmt::format(
      R"({{"model": "{}","max_tokens":32000, "stream":{},)"
      "\n  "
      R"("system":[{{"type":"text","text":"You are Claude Code, Anthropic's official CLI.","cache_control":{{"type":"ephemeral"}}}}],)"
      R"("messages":[{{"role":"user","content":[{{"type":"text","text":"héllo wörld — 日本語 🎉 \u00e9\ud83d\ude00 \"quoted\" \\ \/","cache_control":{{"type":"ephemeral","ttl":"1h"}}}}]}}],)"
      R"("x_unknown_field":{{"nested":[1,2.50,1e3,-0.0,null,true]}},"metadata":{{"user_id":"user_abc_account__session_1"}},"temperature":1.0}})"
      "\n",
      model, stream ? "true" : "false");
}

HeaderList claude_code_headers(std::string_view client_key = "sk-client-own-key") {
  return {
      {"Content-Type", "application/json"},
      {"anthropic-version", "2023-06-01"},
      {"anthropic-beta", "claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14"},
      {"User-Agent", "claude-cli/2.0.0 (external, cli)"},
      {"x-stainless-lang", "js"},
      {"x-app", "cli"},
      {"x-api-key", std::string(client_key)}};
}

std::string single_route_config(const std::string& upstream_url, std::string_view extra_settings = "") {
  return "providers:\n" + provider_yaml("A", upstream_url) +
         "model_routes:\n"
         "  \"*\":\n"
         "    - {provider: \"A\", model: \"passthrough\", priority: 1}\n" +
         test_settings_yaml(extra_settings);
}

// Config with providers `names` (each its own URL) and one route "*" listing them by priority.
std::string failover_config(const std::vector<std::pair<std::string, std::string>>& providers) {
  std::string yaml = "providers:\n";
  for (const auto& [name, url] : providers) {
    yaml += provider_yaml(name, url);
  }
  yaml += "model_routes:\n  \"*\":\n";
  int priority = 1;
  for (const auto& provider : providers) {
    yaml += fmt::format("    - {{provider: \"{}\", priority: {}}}\n", provider.first, priority++);
  }
  return yaml + test_settings_yaml();
}

std::string simple_body(std::string_view model, bool stream = false) {
  return fmt::format(R"({{"model":"{}","max_tokens":16,"stream":{},"messages":[{{"role":"user","content":"hi"}}]}})",
                     model, stream ? "true" : "false");
}

// True when no header of `request` carries `secret` in its value.
bool no_header_contains(const RecordedRequest& request, std::string_view secret) {
  return std::none_of(request.headers.begin(), request.headers.end(),
                      [&](const auto& h) { return h.second.find(secret) != std::string::npos; });
}

void check_forwarded_request_headers(const RecordedRequest& upstream) {
  const HeaderList sent = claude_code_headers();
  CHECK(upstream.header("anthropic-version") == find_header_value(sent, "anthropic-version"));
  CHECK(upstream.header("anthropic-beta") == find_header_value(sent, "anthropic-beta"));
  CHECK(upstream.header("user-agent") == find_header_value(sent, "User-Agent"));
  CHECK(upstream.header("x-stainless-lang") == "js");
  CHECK(upstream.header("x-app") == "cli");
  CHECK(count_header(upstream.headers, "x-api-key") == 1);
  CHECK(upstream.header("x-api-key") == "key-A");  // the provider's key
  CHECK_FALSE(upstream.has_header("authorization"));
  CHECK(no_header_contains(upstream, "sk-client-own-key"));  // the client's key is gone
}

// The offset of the first chunk that completes an SSE event containing `needle`.
std::optional<SteadyClock::time_point> arrival_of(const ClientResponse& response, std::string_view needle) {
  std::string so_far;
  for (const ReceivedChunk& chunk : response.chunks) {
    so_far += chunk.data;
    if (so_far.find(needle) != std::string::npos) {
      return chunk.at;
    }
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("a non-streaming request and its response are forwarded byte for byte", "[integration]") {
  const std::string reply_body = message_json("réponse — 応答 🎉 \"ok\"");
  FakeUpstream upstream([&](const RecordedRequest&) {
    return Reply::json(reply_body)
        .with_header("request-id", "req_fake_0123")
        .with_header("anthropic-ratelimit-requests-remaining", "99")
        .with_header("anthropic-ratelimit-tokens-reset", "2025-01-01T00:00:00Z")
        .with_header("retry-after", "3");
  });
  TestBalancer balancer(single_route_config(upstream.url()));

  const std::string body = claude_code_body(false);
  const ClientResponse response = post(balancer.url("/v1/messages"), body, claude_code_headers());

  REQUIRE(response.curl_code == 0);
  REQUIRE(response.status == 200);
  CHECK(response.body == reply_body);
  CHECK(response.header("request-id") == "req_fake_0123");
  CHECK(response.header("anthropic-ratelimit-requests-remaining") == "99");
  CHECK(response.header("anthropic-ratelimit-tokens-reset") == "2025-01-01T00:00:00Z");
  CHECK(response.header("retry-after") == "3");
  CHECK(response.header("content-type").value_or("").rfind("application/json", 0) == 0);
  CHECK(response.header("x-balancer-provider") == "A");
  CHECK(response.header("x-balancer-attempts") == "1");

  const auto requests = upstream.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].method == "POST");
  CHECK(requests[0].target == "/v1/messages");
  CHECK(requests[0].body == body);
  check_forwarded_request_headers(requests[0]);
}

TEST_CASE("a streaming request and its SSE response are forwarded byte for byte", "[integration]") {
  const std::vector<std::string> events = message_stream({"Bonjour", " — 世界", " 🎉", "\n\"done\""});
  FakeUpstream upstream([&](const RecordedRequest&) {
    return Reply::sse(events, 10ms)
        .with_header("request-id", "req_fake_stream")
        .with_header("anthropic-ratelimit-input-tokens-remaining", "400000");
  });
  TestBalancer balancer(single_route_config(upstream.url()));

  const std::string body = claude_code_body(true);
  const ClientResponse response = post(balancer.url("/v1/messages?beta=true"), body, claude_code_headers());

  REQUIRE(response.curl_code == 0);
  REQUIRE(response.status == 200);
  CHECK(response.body == join(events));
  CHECK(response.header("content-type").value_or("").rfind("text/event-stream", 0) == 0);
  CHECK(response.header("request-id") == "req_fake_stream");
  CHECK(response.header("anthropic-ratelimit-input-tokens-remaining") == "400000");
  CHECK(response.header("x-balancer-provider") == "A");

  const auto requests = upstream.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].body == body);
  check_forwarded_request_headers(requests[0]);
  CHECK(upstream.wait_for_streams(StreamOutcome::Completed, 1, kDeadline));
  REQUIRE(upstream.streams().size() == 1);
}

TEST_CASE("a paced stream reaches the client event by event", "[integration]") {
  const std::vector<std::string> events =
      message_stream({"one", " two", " three", " four", " five", " six", " seven", " eight"});
  FakeUpstream upstream([&](const RecordedRequest&) { return Reply::sse(events, 200ms); });
  TestBalancer balancer(single_route_config(upstream.url()));

  const ClientResponse response =
      post(balancer.url("/v1/messages"), simple_body("claude-sonnet-4-5", true), json_headers());

  REQUIRE(response.status == 200);
  REQUIRE(response.body == join(events));
  // The upstream marks its stream completed just after writing the last byte: wait for that.
  REQUIRE(upstream.wait_for_streams(StreamOutcome::Completed, 1, kDeadline));
  const auto streams = upstream.streams();
  REQUIRE(streams.size() == 1);
  const auto first_delta = arrival_of(response, "text_delta");
  REQUIRE(first_delta.has_value());
  // The upstream needs ~2.4 s for its 13 events; the first text delta must not wait for the end.
  CHECK(streams[0].finished_at - *first_delta >= 1s);
  // Each event arrived on its own, spread over the stream's life.
  CHECK(response.chunks.size() >= events.size() - 2);
  CHECK(response.chunks.back().at - response.chunks.front().at >= 2s);
}

TEST_CASE("a stream lasting 3x timeout_seconds completes intact", "[integration]") {
  // 10 events every 200 ms: ~1.8 s, while timeout_seconds and read_timeout are 0.5 s.
  const std::vector<std::string> events = message_stream({"a", "b", "c", "d"});
  FakeUpstream upstream([&](const RecordedRequest&) { return Reply::sse(events, 200ms); });
  TestBalancer balancer(single_route_config(upstream.url(),
                                            "  timeout_seconds: 0.5\n"
                                            "  timeouts: {connect_timeout: 2, read_timeout: 0.5}\n"));

  const ClientResponse response = post(balancer.url("/v1/messages"), simple_body("m", true), json_headers());

  REQUIRE(response.curl_code == 0);
  REQUIRE(response.status == 200);
  CHECK(response.body == join(events));
  CHECK(response.body.find("event: error") == std::string::npos);
  CHECK(response.finished - response.started >= 1500ms);
  CHECK(upstream.wait_for_streams(StreamOutcome::Completed, 1, kDeadline));
}

TEST_CASE("a route's model replaces the client's model and nothing else", "[integration]") {
  FakeUpstream upstream;
  TestBalancer balancer("providers:\n" + provider_yaml("A", upstream.url()) +
                        "model_routes:\n"
                        "  \"alias-sonnet\":\n"
                        "    - {provider: \"A\", model: \"claude-sonnet-4-5-20250929\"}\n" +
                        test_settings_yaml());
  // The alias also appears inside the message text, where it must stay.
  const std::string before = R"({ "max_tokens" : 5 , "model" :  )";
  const std::string after =
      R"( , "messages":[{"role":"user","content":"say \"alias-sonnet\" 🎉"}],"zz":{"model":"alias-sonnet"}})";
  const std::string body = before + R"("alias-sonnet")" + after;

  const ClientResponse response = post(balancer.url("/v1/messages"), body, json_headers());

  REQUIRE(response.status == 200);
  const auto requests = upstream.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].body == before + R"("claude-sonnet-4-5-20250929")" + after);
}

TEST_CASE("a provider pin removes the field and uses the pinned provider", "[integration]") {
  FakeUpstream first;
  FakeUpstream second;
  TestBalancer balancer("providers:\n" + provider_yaml("first", first.url()) + provider_yaml("second", second.url()) +
                        "model_routes:\n"
                        "  \"m\":\n"
                        "    - {provider: \"first\", priority: 1}\n"
                        "    - {provider: \"second\", priority: 2}\n" +
                        test_settings_yaml());

  SECTION("pin in the middle of the object") {
    const ClientResponse response =
        post(balancer.url("/v1/messages"),
             R"({"model":"m","provider":"second","messages":[{"role":"user","content":"provider"}],"max_tokens":5})",
             json_headers());
    REQUIRE(response.status == 200);
    CHECK(response.header("x-balancer-provider") == "second");
    REQUIRE(second.request_count() == 1);
    CHECK(second.requests()[0].body ==
          R"({"model":"m","messages":[{"role":"user","content":"provider"}],"max_tokens":5})");
    CHECK(first.request_count() == 0);
  }
  SECTION("pin as the last member") {
    const ClientResponse response =
        post(balancer.url("/v1/messages"), R"({"model":"m","max_tokens":5, "provider" : "second" })", json_headers());
    REQUIRE(response.status == 200);
    REQUIRE(second.request_count() == 1);
    CHECK(second.requests()[0].body == R"({"model":"m","max_tokens":5 })");
    CHECK(first.request_count() == 0);
  }
  SECTION("an unknown pinned provider is a 404 that reaches no provider") {
    const ClientResponse response =
        post(balancer.url("/v1/messages"), R"({"model":"m","provider":"nope","max_tokens":5})", json_headers());
    CHECK(response.status == 404);
    CHECK(anthropic_error_type(response.body) == "not_found_error");
    CHECK(first.request_count() + second.request_count() == 0);
  }
}

TEST_CASE("route lookup: exact key first, then globs in file order, case-insensitively", "[integration]") {
  FakeUpstream upstream;
  TestBalancer balancer("providers:\n" + provider_yaml("G1", upstream.url()) + provider_yaml("G2", upstream.url()) +
                        provider_yaml("EXACT", upstream.url()) +
                        "model_routes:\n"
                        "  \"*sonnet*\": [{provider: \"G1\"}]\n"
                        "  \"claude-*\": [{provider: \"G2\"}]\n"
                        "  \"claude-sonnet-4-5\": [{provider: \"EXACT\"}]\n" +
                        test_settings_yaml());

  const std::vector<std::pair<std::string, std::string>> expectations = {
      {"claude-sonnet-4-5", "EXACT"},                               // exact beats the globs listed before it
      {"claude-sonnet-4-6", "G1"},                                  // both globs match: file order wins
      {"claude-haiku-4-5", "G2"},     {"CLAUDE-HAIKU-4-5", "G2"},   // globs are case-insensitive
      {"My-SONNET-Model", "G1"},      {"Claude-Sonnet-4-5", "G1"},  // the exact key is case-sensitive
  };
  for (const auto& [model, provider] : expectations) {
    INFO("model " << model);
    const ClientResponse response = post(balancer.url("/v1/messages"), simple_body(model), json_headers());
    CHECK(response.status == 200);
    CHECK(response.header("x-balancer-provider") == provider);
    CHECK(upstream.requests().back().header("x-api-key") == "key-" + provider);
  }
  const ClientResponse unrouted = post(balancer.url("/v1/messages"), simple_body("gpt-4o"), json_headers());
  CHECK(unrouted.status == 404);
  CHECK(upstream.request_count() == expectations.size());
}

TEST_CASE("the query string (?beta=true) is forwarded", "[integration]") {
  FakeUpstream upstream;
  TestBalancer balancer(single_route_config(upstream.url()));

  const ClientResponse response = post(balancer.url("/v1/messages?beta=true"), simple_body("m"), json_headers());

  REQUIRE(response.status == 200);
  const auto requests = upstream.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].path == "/v1/messages");
  CHECK(requests[0].target == "/v1/messages?beta=true");
}

TEST_CASE("provider credentials per auth_type, with environment variable expansion", "[integration]") {
  FakeUpstream upstream_a;
  FakeUpstream upstream_b;
  FakeUpstream upstream_c;
  TestBalancer balancer("providers:\n" + provider_yaml("A", upstream_a.url(), "api_key", "literal-key-a") +
                            provider_yaml("B", upstream_b.url(), "auth_token", "${TOKEN_B}") +
                            provider_yaml("C", upstream_c.url(), "api_key", "prefix-${KEY_C}-suffix") +
                            "model_routes:\n"
                            "  \"model-a\": [{provider: \"A\"}]\n"
                            "  \"model-b\": [{provider: \"B\"}]\n"
                            "  \"model-c\": [{provider: \"C\"}]\n" +
                            test_settings_yaml(),
                        {{"TOKEN_B", "env-token-b"}, {"KEY_C", "env-key-c"}});
  HeaderList headers = json_headers();
  headers.emplace_back("x-api-key", "sk-client-key");
  headers.emplace_back("Authorization", "Bearer sk-client-bearer");

  REQUIRE(post(balancer.url("/v1/messages"), simple_body("model-a"), headers).status == 200);
  REQUIRE(post(balancer.url("/v1/messages"), simple_body("model-b"), headers).status == 200);
  REQUIRE(post(balancer.url("/v1/messages"), simple_body("model-c"), headers).status == 200);

  REQUIRE(upstream_a.request_count() == 1);
  const RecordedRequest a = upstream_a.requests()[0];
  CHECK(a.header("x-api-key") == "literal-key-a");
  CHECK(count_header(a.headers, "x-api-key") == 1);
  CHECK_FALSE(a.has_header("authorization"));

  REQUIRE(upstream_b.request_count() == 1);
  const RecordedRequest b = upstream_b.requests()[0];
  CHECK(b.header("authorization") == "Bearer env-token-b");
  CHECK(count_header(b.headers, "authorization") == 1);
  CHECK_FALSE(b.has_header("x-api-key"));

  REQUIRE(upstream_c.request_count() == 1);
  const RecordedRequest c = upstream_c.requests()[0];
  CHECK(c.header("x-api-key") == "prefix-env-key-c-suffix");
  CHECK_FALSE(c.has_header("authorization"));

  for (const RecordedRequest* r : {&a, &b, &c}) {
    CHECK(no_header_contains(*r, "sk-client"));
  }
}

TEST_CASE("passthrough forwards the client's own credential, never the balancer's key", "[integration]") {
  FakeUpstream upstream;
  const std::string providers = "providers:\n" + provider_yaml("P", upstream.url(), "api_key", "passthrough") +
                                "model_routes:\n  \"*\": [{provider: \"P\"}]\n";

  SECTION("without client auth the client's x-api-key goes upstream") {
    TestBalancer balancer(providers + test_settings_yaml());
    HeaderList headers = json_headers();
    headers.emplace_back("x-api-key", "sk-ant-user-own");
    REQUIRE(post(balancer.url("/v1/messages"), simple_body("m"), headers).status == 200);
    REQUIRE(upstream.request_count() == 1);
    CHECK(upstream.requests()[0].header("x-api-key") == "sk-ant-user-own");
  }
  SECTION("with client auth the balancer key is dropped and the client's token forwarded") {
    TestBalancer balancer(providers + test_settings_yaml() +
                          "auth:\n  enabled: true\n  api_keys: [\"balancer-client-key\"]\n");
    HeaderList both = json_headers();
    both.emplace_back("x-api-key", "balancer-client-key");
    both.emplace_back("Authorization", "Bearer user-oauth-token");
    REQUIRE(post(balancer.url("/v1/messages"), simple_body("m"), both).status == 200);

    HeaderList bearer_only = json_headers();
    bearer_only.emplace_back("Authorization", "Bearer balancer-client-key");
    REQUIRE(post(balancer.url("/v1/messages"), simple_body("m"), bearer_only).status == 200);

    const auto requests = upstream.requests();
    REQUIRE(requests.size() == 2);
    CHECK(requests[0].header("authorization") == "Bearer user-oauth-token");
    CHECK_FALSE(requests[0].has_header("x-api-key"));
    CHECK_FALSE(requests[1].has_header("authorization"));
    CHECK_FALSE(requests[1].has_header("x-api-key"));
    for (const RecordedRequest& r : requests) {
      CHECK(no_header_contains(r, "balancer-client-key"));
    }
  }
}

TEST_CASE("failover on a 500 gives the client the backup's answer", "[integration]") {
  FakeUpstream primary([](const RecordedRequest&) { return Reply::error(500, "api_error", "Internal server error"); });
  const std::string backup_body = message_json("from the backup");
  FakeUpstream backup(
      [&](const RecordedRequest&) { return Reply::json(backup_body).with_header("request-id", "req_backup"); });
  TestBalancer balancer(failover_config({{"primary", primary.url()}, {"backup", backup.url()}}));

  const std::string body = claude_code_body(false);
  const ClientResponse response = post(balancer.url("/v1/messages"), body, claude_code_headers());

  REQUIRE(response.status == 200);
  CHECK(response.body == backup_body);
  CHECK(response.header("request-id") == "req_backup");
  CHECK(response.header("x-balancer-provider") == "backup");
  CHECK(response.header("x-balancer-attempts") == "2");
  REQUIRE(primary.request_count() == 1);
  REQUIRE(backup.request_count() == 1);
  CHECK(primary.requests()[0].body == body);
  CHECK(backup.requests()[0].body == body);
  CHECK(backup.requests()[0].header("x-api-key") == "key-backup");
}

TEST_CASE("failover on a 529 gives the client the backup's stream", "[integration]") {
  FakeUpstream primary([](const RecordedRequest&) { return Reply::error(529, "overloaded_error", "Overloaded"); });
  const std::vector<std::string> events = message_stream({"backup", " stream"});
  FakeUpstream backup([&](const RecordedRequest&) { return Reply::sse(events); });
  TestBalancer balancer(failover_config({{"primary", primary.url()}, {"backup", backup.url()}}));

  const ClientResponse response = post(balancer.url("/v1/messages"), simple_body("m", true), json_headers());

  REQUIRE(response.status == 200);
  CHECK(response.body == join(events));
  CHECK(response.header("x-balancer-provider") == "backup");
  CHECK(response.header("x-balancer-attempts") == "2");
  CHECK(primary.request_count() == 1);
  CHECK(backup.request_count() == 1);
}

TEST_CASE("failover on a connection dropped before the first byte", "[integration]") {
  ClosingUpstream primary;
  FakeUpstream backup;
  TestBalancer balancer(failover_config({{"primary", primary.url()}, {"backup", backup.url()}}));

  const ClientResponse response = post(balancer.url("/v1/messages"), simple_body("m"), json_headers());

  REQUIRE(response.status == 200);
  CHECK(response.body == message_json("hello from the fake"));
  CHECK(response.header("x-balancer-provider") == "backup");
  CHECK(response.header("x-balancer-attempts") == "2");
  CHECK(primary.dropped_count() == 1);
  CHECK(backup.request_count() == 1);
}

TEST_CASE("failover when response headers do not arrive within timeout_seconds", "[integration]") {
  FakeUpstream slow([](const RecordedRequest&) {
    Reply reply = Reply::json(message_json("too late"));
    reply.header_delay = 3s;
    return reply;
  });
  FakeUpstream backup;
  TestBalancer balancer(
      "providers:\n" + provider_yaml("slow", slow.url()) + provider_yaml("backup", backup.url()) +
      "model_routes:\n  \"*\": [{provider: \"slow\", priority: 1}, {provider: \"backup\", priority: 2}]\n" +
      test_settings_yaml("  timeout_seconds: 0.3\n"));

  const ClientResponse response = post(balancer.url("/v1/messages"), simple_body("m"), json_headers());

  REQUIRE(response.status == 200);
  CHECK(response.header("x-balancer-provider") == "backup");
  CHECK(response.header("x-balancer-attempts") == "2");
  CHECK(response.finished - response.started < 2s);
  CHECK(slow.request_count() == 1);
  CHECK(backup.request_count() == 1);
}

TEST_CASE("every candidate failing gives one 503 api_error listing the attempts", "[integration]") {
  FakeUpstream first([](const RecordedRequest&) { return Reply::error(500, "api_error", "first is down"); });
  ClosingUpstream second;
  TestBalancer balancer(failover_config({{"first", first.url()}, {"second", second.url()}}));

  const ClientResponse response = post(balancer.url("/v1/messages"), simple_body("m"), json_headers());

  CHECK(response.status == 503);
  CHECK(anthropic_error_type(response.body) == "api_error");
  const std::string message = anthropic_error_message(response.body);
  CHECK_THAT(message, Catch::Contains("first") && Catch::Contains("500") && Catch::Contains("second"));
  CHECK(response.header("x-balancer-attempts") == "2");
  CHECK(first.request_count() == 1);
  CHECK(second.dropped_count() == 1);
}

TEST_CASE("every candidate rate limited gives 429 with the smallest Retry-After", "[integration]") {
  FakeUpstream first([](const RecordedRequest&) {
    return Reply::error(429, "rate_limit_error", "slow down").with_header("retry-after", "30");
  });
  FakeUpstream second([](const RecordedRequest&) {
    return Reply::error(429, "rate_limit_error", "slow down too").with_header("retry-after", "7");
  });
  FakeUpstream third([](const RecordedRequest&) {
    return Reply::error(429, "rate_limit_error", "and me").with_header("retry-after", "12");
  });
  TestBalancer balancer(failover_config({{"first", first.url()}, {"second", second.url()}, {"third", third.url()}}));

  const ClientResponse response = post(balancer.url("/v1/messages"), simple_body("m"), json_headers());

  CHECK(response.status == 429);
  CHECK(anthropic_error_type(response.body) == "rate_limit_error");
  CHECK(response.header("retry-after") == "7");
  CHECK(first.request_count() + second.request_count() + third.request_count() == 3);
}

TEST_CASE("a stream dropped mid-way ends with an error event and no message_stop", "[integration]") {
  const std::vector<std::string> events = message_stream({"first", " second", " third"});
  FakeUpstream upstream([&](const RecordedRequest&) {
    Reply reply = Reply::sse(events, 20ms);
    reply.drop_after = 4;  // message_start, content_block_start, ping, the first delta
    return reply;
  });
  TestBalancer balancer(single_route_config(upstream.url()));

  const ClientResponse response = post(balancer.url("/v1/messages"), simple_body("m", true), json_headers());

  REQUIRE(response.curl_code == 0);
  REQUIRE(response.status == 200);
  const std::string sent = join({events.begin(), events.begin() + 4});
  REQUIRE(response.body.size() > sent.size());
  CHECK(response.body.substr(0, sent.size()) == sent);
  const std::string tail = response.body.substr(sent.size());
  CHECK(tail.rfind("event: error\ndata: ", 0) == 0);
  const auto data_at = tail.find("data: ");
  const auto data_end = tail.find('\n', data_at);
  REQUIRE(data_end != std::string::npos);
  CHECK(anthropic_error_type(tail.substr(data_at + 6, data_end - data_at - 6)) == "api_error");
  CHECK(response.body.find("message_stop") == std::string::npos);
  CHECK(upstream.wait_for_streams(StreamOutcome::Dropped, 1, kDeadline));
}

TEST_CASE("a client that disconnects mid-stream cancels the upstream transfer", "[integration]") {
  std::vector<std::string> deltas(400, "tick ");
  const std::vector<std::string> events = message_stream(deltas);  // ~20 s at 50 ms per event
  FakeUpstream upstream([&](const RecordedRequest&) { return Reply::sse(events, 50ms); });
  TestBalancer balancer(single_route_config(upstream.url()));

  ClientRequest request;
  request.url = balancer.url("/v1/messages");
  request.headers = json_headers();
  request.body = simple_body("m", true);
  request.abort_after_bytes = events[0].size() + events[1].size();
  const ClientResponse response = perform(request);
  REQUIRE(response.curl_code != 0);  // the client hung up
  const auto hung_up = response.finished;

  REQUIRE(upstream.wait_for_streams(StreamOutcome::ClientGone, 1, kDeadline));
  const StreamRecord stream = upstream.streams().at(0);
  CHECK(stream.events_written < events.size() / 4);
  CHECK(stream.finished_at - hung_up < 5s);
}

TEST_CASE("count_tokens is forwarded to the routed provider", "[integration]") {
  FakeUpstream other;
  FakeUpstream routed([](const RecordedRequest& request) {
    return request.path == "/v1/messages/count_tokens" ? Reply::json(R"({"input_tokens":42})")
                                                       : Reply::error(400, "invalid_request_error", "wrong path");
  });
  TestBalancer balancer("providers:\n" + provider_yaml("other", other.url()) + provider_yaml("routed", routed.url()) +
                        "model_routes:\n"
                        "  \"claude-haiku*\": [{provider: \"routed\"}]\n"
                        "  \"*\": [{provider: \"other\"}]\n" +
                        test_settings_yaml());
  const std::string body = R"({"model":"claude-haiku-4-5","messages":[{"role":"user","content":"count me"}]})";

  const ClientResponse response =
      post(balancer.url("/v1/messages/count_tokens?beta=true"), body, claude_code_headers());

  REQUIRE(response.status == 200);
  CHECK(response.body == R"({"input_tokens":42})");
  REQUIRE(routed.request_count() == 1);
  const RecordedRequest upstream = routed.requests()[0];
  CHECK(upstream.target == "/v1/messages/count_tokens?beta=true");
  CHECK(upstream.body == body);
  CHECK(upstream.header("x-api-key") == "key-routed");
  CHECK(other.request_count() == 0);
}

}  // namespace balancer::test
