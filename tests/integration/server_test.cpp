// The balancer server's own behaviour, in-process on 127.0.0.1:0 with real libcurl clients and
// fake upstreams: client auth, bad input, unknown endpoints, reload, status endpoints and
// concurrency (spec §3, §4, §10). The tests never sleep; pacing is done by the fake upstreams.
#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "fake_upstream.h"
#include "test_balancer.h"
#include "test_client.h"

namespace balancer::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kDeadline = 10s;  // failure guard for waits on recorded state

std::string simple_body(std::string_view model, bool stream = false) {
  return fmt::format(R"({{"model":"{}","max_tokens":16,"stream":{},"messages":[{{"role":"user","content":"hi"}}]}})",
                     model, stream ? "true" : "false");
}

HeaderList json_headers(HeaderList extra = {}) {
  HeaderList headers = {{"Content-Type", "application/json"}, {"anthropic-version", "2023-06-01"}};
  headers.insert(headers.end(), extra.begin(), extra.end());
  return headers;
}

ClientRequest request(std::string method, std::string url, std::string body = "") {
  ClientRequest r;
  r.method = std::move(method);
  r.url = std::move(url);
  r.body = std::move(body);
  r.headers = json_headers();
  return r;
}

// Two providers; "model-a*" goes to A. `extra_routes` are added after it.
std::string two_provider_config(const std::string& url_a, const std::string& url_b, std::string_view extra_routes = "",
                                std::string_view extra = "") {
  return fmt::format("providers:\n{}{}model_routes:\n  \"model-a*\": [{{provider: \"A\"}}]\n{}{}{}",
                     provider_yaml("A", url_a), provider_yaml("B", url_b), extra_routes, test_settings_yaml(), extra);
}

}  // namespace

TEST_CASE("client auth rejects missing and wrong keys without touching the upstream", "[integration]") {
  FakeUpstream upstream;
  TestBalancer balancer("providers:\n" + provider_yaml("A", upstream.url()) +
                        "model_routes:\n  \"*\": [{provider: \"A\"}]\n" + test_settings_yaml() +
                        "auth:\n  enabled: true\n  api_keys: [\"client-key-one\", \"client-key-two\"]\n");

  const std::vector<std::pair<std::string, HeaderList>> refused = {
      {"no key", {}},
      {"wrong x-api-key", {{"x-api-key", "client-key-three"}}},
      {"wrong Bearer", {{"Authorization", "Bearer client-key-thre"}}},
      {"a valid key in the wrong scheme", {{"Authorization", "Basic client-key-one"}}},
  };
  for (const auto& [what, headers] : refused) {
    INFO(what);
    const ClientResponse response = post(balancer.url("/v1/messages"), simple_body("m"), json_headers(headers));
    CHECK(response.status == 401);
    CHECK(anthropic_error_type(response.body) == "authentication_error");
    CHECK(response.body.find("client-key-thre") == std::string::npos);  // never echoes the key
  }
  CHECK(post(balancer.url("/v1/messages/count_tokens"), simple_body("m"), json_headers()).status == 401);
  CHECK(get(balancer.url("/providers")).status == 401);
  CHECK(upstream.request_count() == 0);

  // The key is checked on the request head: a large unauthenticated upload announced with
  // Expect: 100-continue is refused before its body is sent.
  std::string big = R"({"model":"m","pad":")";
  big.append(8u << 20, 'a');
  big += "\"}";
  ClientRequest upload = request("POST", balancer.url("/v1/messages"), big);
  upload.headers.emplace_back("Content-Type", "application/json");
  upload.headers.emplace_back("Expect", "100-continue");
  const ClientResponse refused_upload = perform(upload);
  CHECK(refused_upload.status == 401);
  CHECK(anthropic_error_type(refused_upload.body) == "authentication_error");
  CHECK(refused_upload.uploaded_bytes < big.size() / 8);
  CHECK(upstream.request_count() == 0);

  const ClientResponse health = get(balancer.url("/health"));
  CHECK(health.status == 200);
  CHECK(nlohmann::json::parse(health.body)["status"] == "healthy");
  CHECK(upstream.request_count() == 0);
}

TEST_CASE("client auth accepts every configured key in both header styles", "[integration]") {
  FakeUpstream upstream;
  TestBalancer balancer("providers:\n" + provider_yaml("A", upstream.url()) +
                        "model_routes:\n  \"*\": [{provider: \"A\"}]\n" + test_settings_yaml() +
                        "auth:\n  enabled: true\n  api_keys: [\"client-key-one\", \"client-key-two\"]\n");

  const std::vector<HeaderList> accepted = {
      {{"x-api-key", "client-key-one"}},
      {{"x-api-key", "client-key-two"}},
      {{"Authorization", "Bearer client-key-one"}},
      {{"Authorization", "Bearer client-key-two"}},
  };
  for (const HeaderList& headers : accepted) {
    INFO(headers.front().first << ": " << headers.front().second);
    CHECK(post(balancer.url("/v1/messages"), simple_body("m"), json_headers(headers)).status == 200);
  }
  CHECK(get(balancer.url("/providers"), {{"x-api-key", "client-key-two"}}).status == 200);

  const auto requests = upstream.requests();
  REQUIRE(requests.size() == accepted.size());
  for (const RecordedRequest& r : requests) {
    CHECK(r.header("x-api-key") == "key-A");
    CHECK_FALSE(r.has_header("authorization"));
  }
}

TEST_CASE("bad requests are answered by the balancer and never forwarded", "[integration]") {
  FakeUpstream upstream;
  TestBalancer balancer("providers:\n" + provider_yaml("A", upstream.url()) +
                        "model_routes:\n  \"known-*\": [{provider: \"A\"}]\n" + test_settings_yaml());
  const std::string url = balancer.url("/v1/messages");

  SECTION("400 for a body that is not JSON") {
    const ClientResponse response = post(url, R"({"model": "known-model", "messages": [)", json_headers());
    CHECK(response.status == 400);
    CHECK(anthropic_error_type(response.body) == "invalid_request_error");
  }
  SECTION("400 for a body without a model") {
    const ClientResponse response = post(url, R"({"messages":[],"max_tokens":5})", json_headers());
    CHECK(response.status == 400);
    CHECK(anthropic_error_type(response.body) == "invalid_request_error");
    CHECK_THAT(anthropic_error_message(response.body), Catch::Contains("model"));
  }
  SECTION("400 for a model that is not a string") {
    const ClientResponse response = post(url, R"({"model":42})", json_headers());
    CHECK(response.status == 400);
    CHECK(anthropic_error_type(response.body) == "invalid_request_error");
  }
  SECTION("404 naming a model no route matches") {
    const ClientResponse response = post(url, simple_body("unrouted-model-x"), json_headers());
    CHECK(response.status == 404);
    CHECK(anthropic_error_type(response.body) == "not_found_error");
    CHECK_THAT(anthropic_error_message(response.body), Catch::Contains("unrouted-model-x"));
  }
  SECTION("413 for a 40 MB body, announced with Expect: 100-continue or sent outright") {
    std::string big = R"({"model":"known-model","pad":")";
    big.append(40u << 20, 'a');
    big += "\"}";
    ClientRequest with_expect = request("POST", url, big);
    with_expect.headers.emplace_back("Expect", "100-continue");
    ClientRequest without_expect = request("POST", url, big);
    without_expect.headers.emplace_back("Expect", "");
    for (const ClientRequest* r : {&with_expect, &without_expect}) {
      const ClientResponse response = perform(*r);
      INFO("curl: "
           << response.curl_code << " " << response.error << " ms "
           << std::chrono::duration_cast<std::chrono::milliseconds>(response.finished - response.started).count());
      CHECK(response.curl_code == 0);
      CHECK(response.status == 413);
      CHECK(anthropic_error_type(response.body) == "request_too_large");
    }
  }
  CHECK(upstream.request_count() == 0);

  // The server still serves normal requests.
  const ClientResponse normal = post(url, simple_body("known-model"), json_headers());
  CHECK(normal.status == 200);
  CHECK(upstream.request_count() == 1);
}

TEST_CASE("unknown paths get 404 and wrong methods 405, Anthropic-shaped", "[integration]") {
  FakeUpstream upstream;
  TestBalancer balancer("providers:\n" + provider_yaml("A", upstream.url()) +
                        "model_routes:\n  \"*\": [{provider: \"A\"}]\n" + test_settings_yaml());

  const std::vector<std::tuple<std::string, std::string, int, std::string>> cases = {
      {"GET", "/nope", 404, "not_found_error"},
      {"POST", "/v1/complete", 404, "not_found_error"},
      {"POST", "/v1/messages/batches", 404, "not_found_error"},
      {"GET", "/v1/messages", 405, "invalid_request_error"},
      {"DELETE", "/providers", 405, "invalid_request_error"},
      {"PUT", "/health", 405, "invalid_request_error"},
      {"GET", "/providers/reload", 405, "invalid_request_error"},
  };
  for (const auto& [method, path, status, type] : cases) {
    INFO(method << " " << path);
    const ClientResponse response = perform(request(method, balancer.url(path), method == "GET" ? "" : "{}"));
    CHECK(response.status == status);
    CHECK(anthropic_error_type(response.body) == type);
  }
  CHECK(upstream.request_count() == 0);
}

TEST_CASE("reload: a new route is used after POST /providers/reload", "[integration]") {
  FakeUpstream upstream_a;
  FakeUpstream upstream_b;
  TestBalancer balancer(two_provider_config(upstream_a.url(), upstream_b.url()));
  const std::string url = balancer.url("/v1/messages");

  CHECK(post(url, simple_body("model-b"), json_headers()).status == 404);
  balancer.rewrite_config(
      two_provider_config(upstream_a.url(), upstream_b.url(), "  \"model-b\": [{provider: \"B\"}]\n"));

  const ClientResponse reload = post(balancer.url("/providers/reload"), "", {});
  REQUIRE(reload.status == 200);
  const auto summary = nlohmann::json::parse(reload.body);
  CHECK(summary["providers_count"] == 2);
  CHECK(summary["routes_count"] == 2);

  const ClientResponse routed = post(url, simple_body("model-b"), json_headers());
  CHECK(routed.status == 200);
  CHECK(routed.header("x-balancer-provider") == "B");
  CHECK(upstream_b.request_count() == 1);
  CHECK(post(url, simple_body("model-a"), json_headers()).header("x-balancer-provider") == "A");
}

TEST_CASE("reload: a broken file is rejected, naming the problem, and the old config serves", "[integration]") {
  FakeUpstream upstream_a;
  FakeUpstream upstream_b;
  TestBalancer balancer(two_provider_config(upstream_a.url(), upstream_b.url()));

  struct Broken {
    std::string what;
    std::string yaml;
    std::string named;  // what the error message must name
  };
  const std::vector<Broken> broken = {
      {"invalid auth_type",
       "providers:\n" + provider_yaml("A", upstream_a.url(), "bogus_auth") +
           "model_routes:\n  \"*\": [{provider: \"A\"}]\n",
       "auth_type"},
      {"route to an unknown provider",
       "providers:\n" + provider_yaml("A", upstream_a.url()) + "model_routes:\n  \"*\": [{provider: \"ghost\"}]\n",
       "ghost"},
      {"missing environment variable",
       "providers:\n" + provider_yaml("A", upstream_a.url(), "api_key", "${NOT_SET_ANYWHERE}") +
           "model_routes:\n  \"*\": [{provider: \"A\"}]\n",
       "NOT_SET_ANYWHERE"},
      {"YAML syntax error", "providers: [ {name: \"A\"\nmodel_routes: {\n", ""},
  };
  for (const Broken& b : broken) {
    INFO(b.what);
    balancer.rewrite_config(b.yaml);
    const ClientResponse reload = post(balancer.url("/providers/reload"), "", {});
    CHECK(reload.status >= 400);
    CHECK(reload.status < 600);
    CHECK_FALSE(anthropic_error_type(reload.body).empty());
    CHECK_THAT(anthropic_error_message(reload.body), Catch::Contains(b.named));

    const ClientResponse still = post(balancer.url("/v1/messages"), simple_body("model-a-1"), json_headers());
    CHECK(still.status == 200);
    CHECK(still.header("x-balancer-provider") == "A");
    CHECK(post(balancer.url("/v1/messages"), simple_body("other"), json_headers()).status == 404);
  }
  CHECK(upstream_b.request_count() == 0);
}

TEST_CASE("reload: a stream in flight during the reload completes intact", "[integration]") {
  const std::vector<std::string> events = message_stream({"one", " two", " three", " four", " five", " six"});
  FakeUpstream upstream_a([&](const RecordedRequest&) { return Reply::sse(events, 120ms); });
  FakeUpstream upstream_b;
  TestBalancer balancer(two_provider_config(upstream_a.url(), upstream_b.url()));

  ClientResponse streamed;
  std::thread client(
      [&] { streamed = post(balancer.url("/v1/messages"), simple_body("model-a", true), json_headers()); });
  const bool underway = upstream_a.wait_until(
      [](const auto&, const std::vector<StreamRecord>& streams) {
        return !streams.empty() && streams[0].events_written >= 3;
      },
      kDeadline);

  // The new config sends model-a* to B instead.
  balancer.rewrite_config("providers:\n" + provider_yaml("A", upstream_a.url()) + provider_yaml("B", upstream_b.url()) +
                          "model_routes:\n  \"model-a*\": [{provider: \"B\"}]\n" + test_settings_yaml());
  const ClientResponse reload = post(balancer.url("/providers/reload"), "", {});
  const auto during = upstream_a.streams();
  const ClientResponse after = post(balancer.url("/v1/messages"), simple_body("model-a"), json_headers());
  client.join();

  REQUIRE(underway);
  CHECK(reload.status == 200);
  REQUIRE(during.size() == 1);
  CHECK(during[0].outcome == StreamOutcome::Running);  // the reload happened mid-stream
  CHECK(after.header("x-balancer-provider") == "B");
  REQUIRE(streamed.status == 200);
  CHECK(streamed.body == join(events));
  CHECK(streamed.header("x-balancer-provider") == "A");
  CHECK(upstream_a.wait_for_streams(StreamOutcome::Completed, 1, kDeadline));
}

TEST_CASE("300 concurrent slow streams all complete without being serialised", "[integration]") {
  constexpr std::size_t kStreams = 300;
  raise_fd_limit(8192);
  // 9 events, 125 ms apart: each stream lasts ~1 s.
  const std::vector<std::string> events = message_stream({"slow", " stream", " here"});
  REQUIRE(events.size() == 9);
  FakeUpstream upstream([&](const RecordedRequest&) { return Reply::sse(events, 125ms); });
  TestBalancer balancer("providers:\n" + provider_yaml("A", upstream.url()) +
                        "model_routes:\n  \"*\": [{provider: \"A\"}]\n" + test_settings_yaml());

  std::vector<ClientRequest> requests;
  for (std::size_t i = 0; i < kStreams; ++i) {
    ClientRequest r = request(
        "POST", balancer.url("/v1/messages"),
        fmt::format(R"({{"model":"m","stream":true,"max_tokens":5,"messages":[{{"role":"user","content":"n{}"}}]}})",
                    i));
    r.timeout = 40s;
    requests.push_back(std::move(r));
  }
  const auto started = SteadyClock::now();
  const std::vector<ClientResponse> responses = perform_all(requests);
  const auto wall = SteadyClock::now() - started;

  std::size_t intact = 0;
  for (const ClientResponse& response : responses) {
    intact += response.status == 200 && response.body == join(events) ? 1 : 0;
  }
  CHECK(intact == kStreams);
  CHECK(wall < 10s);

  // How many upstream streams ran at the same time, at most.
  const auto streams = upstream.streams();
  CHECK(streams.size() == kStreams);
  std::vector<std::pair<SteadyClock::time_point, int>> edges;
  for (const StreamRecord& s : streams) {
    edges.emplace_back(s.started_at, +1);
    edges.emplace_back(s.finished_at, -1);
  }
  std::sort(edges.begin(), edges.end());
  int running = 0;
  int peak = 0;
  for (const auto& edge : edges) {
    running += edge.second;
    peak = std::max(peak, running);
  }
  INFO("peak concurrent upstream streams: " << peak << ", wall time ms: "
                                            << std::chrono::duration_cast<std::chrono::milliseconds>(wall).count());
  CHECK(peak >= 200);
}

TEST_CASE("GET /providers lists the providers without secrets and GET /health is 200", "[integration]") {
  FakeUpstream upstream;
  TestBalancer balancer(
      "providers:\n" + provider_yaml("alpha", upstream.url(), "api_key", "sk-ant-secret-alpha-123") +
          provider_yaml("beta", upstream.url(), "auth_token", "${BETA_TOKEN}") +
          provider_yaml("gamma", upstream.url(), "api_key", "passthrough") +
          "model_routes:\n  \"*\": [{provider: \"alpha\"}, {provider: \"beta\"}, {provider: \"gamma\"}]\n" +
          test_settings_yaml(),
      {{"BETA_TOKEN", "tok-secret-beta-456"}});

  const ClientResponse providers = get(balancer.url("/providers"));
  REQUIRE(providers.status == 200);
  CHECK(providers.body.find("sk-ant-secret-alpha-123") == std::string::npos);
  CHECK(providers.body.find("tok-secret-beta-456") == std::string::npos);
  CHECK(providers.body.find("secret") == std::string::npos);
  const auto json = nlohmann::json::parse(providers.body);
  REQUIRE(json["providers"].is_array());
  std::vector<std::string> names;
  for (const auto& p : json["providers"]) {
    names.push_back(p.at("name").get<std::string>());
    CHECK(p.at("base_url") == upstream.url());
    CHECK(p.at("enabled") == true);
    CHECK(p.at("healthy") == true);
  }
  CHECK(names == std::vector<std::string>{"alpha", "beta", "gamma"});

  // Credentials embedded in a base_url (userinfo, query) are not shown either.
  TestBalancer embedded("providers:\n" +
                        provider_yaml("delta", "http://user:pw-in-url-77@127.0.0.1:1/v1?key=key-in-query-88") +
                        "model_routes:\n  \"*\": [{provider: \"delta\"}]\n" + test_settings_yaml());
  const ClientResponse report = get(embedded.url("/providers"));
  REQUIRE(report.status == 200);
  CHECK(report.body.find("pw-in-url-77") == std::string::npos);
  CHECK(report.body.find("key-in-query-88") == std::string::npos);
  CHECK(nlohmann::json::parse(report.body)["providers"][0]["base_url"] == "http://127.0.0.1:1/v1");

  const ClientResponse health = get(balancer.url("/health"));
  CHECK(health.status == 200);
  CHECK(nlohmann::json::parse(health.body)["status"] == "healthy");
  CHECK(upstream.request_count() == 0);
}

}  // namespace balancer::test

namespace balancer::test {

TEST_CASE("GET /metrics: Prometheus text with per-provider series, answer counts and no secrets", "[integration]") {
  FakeUpstream failing([](const RecordedRequest&) { return Reply::error(529, "overloaded_error", "Overloaded"); });
  FakeUpstream working([](const RecordedRequest&) { return Reply::json(R"({"type":"message","content":[]})"); });
  TestBalancer balancer("providers:\n" + provider_yaml("A", failing.url(), "api_key", "sk-metrics-secret-a") +
                        provider_yaml("B", working.url(), "api_key", "sk-metrics-secret-b") +
                        "model_routes:\n  \"*\": [{provider: \"A\"}, {provider: \"B\"}]\n" + test_settings_yaml());
  REQUIRE(post(balancer.url("/v1/messages"), simple_body("m"), json_headers()).status == 200);
  REQUIRE(post(balancer.url("/v1/messages"), "{not json", json_headers()).status == 400);

  const ClientResponse metrics = get(balancer.url("/metrics"));
  REQUIRE(metrics.status == 200);
  CHECK(find_header_value(metrics.headers, "content-type").value_or("").rfind("text/plain; version=0.0.4", 0) == 0);
  const std::string& text = metrics.body;
  auto has = [&text](std::string_view line) { return text.find("\n" + std::string(line) + "\n") != std::string::npos; };
  CHECK(has(R"(balancer_provider_requests_total{provider="A"} 1)"));
  CHECK(has(R"(balancer_provider_failures_total{provider="A"} 1)"));
  CHECK(has(R"(balancer_provider_requests_total{provider="B"} 1)"));
  CHECK(has(R"(balancer_provider_failures_total{provider="B"} 0)"));
  CHECK(has(R"(balancer_provider_consecutive_failures{provider="A"} 1)"));
  CHECK(has(R"(balancer_responses_total{code="2xx"} 1)"));
  CHECK(has(R"(balancer_responses_total{code="4xx"} 1)"));
  CHECK(has("# TYPE balancer_dedup_leaders_total counter"));
  CHECK(text.find("secret") == std::string::npos);

  SECTION("with client auth on, /metrics needs a key") {
    TestBalancer guarded("providers:\n" + provider_yaml("B", working.url()) +
                         "model_routes:\n  \"*\": [{provider: \"B\"}]\n" + test_settings_yaml() +
                         "auth:\n  enabled: true\n  api_key: metrics-client-key\n");
    CHECK(get(guarded.url("/metrics")).status == 401);
    CHECK(get(guarded.url("/metrics"), {{"x-api-key", "metrics-client-key"}}).status == 200);
  }
}

}  // namespace balancer::test
