#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <balancer/testing/fake_transport.h>
#include <balancer/testing/manual_clock.h>
#include <balancer/testing/scripted_random.h>
#include "forward/forwarder.h"

using namespace balancer;
using balancer::testing::FakeResponse;
using balancer::testing::FakeTransport;

namespace {

ProviderConfig provider(std::string name, AuthType auth_type = AuthType::ApiKey, std::string auth_value = "") {
  ProviderConfig p;
  p.base_url = "https://" + name + ".example";
  p.auth_type = auth_type;
  p.auth_value = auth_value.empty() ? "secret-" + name : auth_value;
  p.name = std::move(name);
  return p;
}

// A forwarder over providers A, B, C (priority order) for every model, on a fake transport.
struct Fixture {
  explicit Fixture(FakeTransport::Handler handler, std::vector<ProviderConfig> providers = {},
                   AuthSettings auth_settings = {})
      : transport(std::move(handler)), auth(auth_settings) {
    auto c = std::make_shared<BalancerConfig>();
    c->providers = providers.empty() ? std::vector<ProviderConfig>{provider("A"), provider("B"), provider("C")}
                                     : std::move(providers);
    ModelRoute route{"*", {}};
    int priority = 1;
    for (const auto& p : c->providers) {
      RouteEntry e;
      e.provider = p.name;
      e.priority = priority++;
      route.entries.push_back(e);
    }
    ModelRoute mapped{"alias-*", {}};
    RouteEntry e;
    e.provider = c->providers.front().name;
    e.model = "real-model";
    mapped.entries.push_back(e);
    c->model_routes = {mapped, route};
    config = c;
    router = std::make_unique<Router>(config, health, random);
    forwarder = std::make_unique<Forwarder>(*router, transport, auth, clock, stats);
  }

  ForwardResult post(std::string body, Headers headers = {{"anthropic-version", "2023-06-01"}},
                     std::string query = "") {
    return forwarder->forward({"/v1/messages", std::move(query), std::move(headers), std::move(body)});
  }

  FakeTransport transport;
  AlwaysHealthy health;
  testing::ScriptedRandom random{0};
  testing::ManualClock clock;
  ProviderStats stats;
  ClientAuth auth;
  std::shared_ptr<const BalancerConfig> config;
  std::unique_ptr<Router> router;
  std::unique_ptr<Forwarder> forwarder;
};

std::string host_of(const HttpRequest& r) { return r.url.substr(8, r.url.find('.') - 8); }

std::string header(const Headers& h, std::string_view name) {
  return std::string(find_header(h, name).value_or("<absent>"));
}

std::string drain(ResponseStream& stream) {
  std::string all;
  std::string chunk;
  while (stream.next(chunk)) {
    all += chunk;
  }
  return all;
}

const std::string kBody =
    R"({"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"hé"}]})";
const std::string kOk = R"({"id":"msg_1","type":"message","content":[]})";

}  // namespace

TEST_CASE("Forwarder: success on the first provider keeps body and response bytes", "[unit][forwarder]") {
  Fixture f([](const HttpRequest&) {
    auto r = FakeResponse::json(200, kOk);
    r.headers.emplace_back("request-id", "req_up_1");
    r.headers.emplace_back("content-length", "999");
    return r;
  });
  auto result = f.post(kBody, {{"anthropic-version", "2023-06-01"}, {"x-api-key", "client-key"}}, "beta=true");
  CHECK(result.status == 200);
  CHECK(result.body == kOk);
  CHECK(result.provider == "A");
  CHECK(header(result.headers, "request-id") == "req_up_1");
  CHECK(header(result.headers, "content-length") == "<absent>");
  CHECK(header(result.headers, "x-balancer-provider") == "A");
  CHECK(header(result.headers, "x-balancer-attempts") == "1");
  const auto sent = f.transport.requests();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].url == "https://A.example/v1/messages?beta=true");
  CHECK(sent[0].body == kBody);
  CHECK(header(sent[0].headers, "x-api-key") == "secret-A");
  CHECK(header(sent[0].headers, "anthropic-version") == "2023-06-01");
}

TEST_CASE("Forwarder: credentials per auth_type and extra headers", "[unit][forwarder]") {
  auto token = provider("T", AuthType::AuthToken, "tok-T");
  token.headers = {{"x-extra", "1"}, {"anthropic-version", "2099-01-01"}};
  Fixture f([](const HttpRequest&) { return FakeResponse::json(200, kOk); }, {token});
  f.post(kBody, {{"anthropic-version", "2023-06-01"}, {"x-api-key", "client-key"}});
  const auto sent = f.transport.requests();
  REQUIRE(sent.size() == 1);
  CHECK(header(sent[0].headers, "authorization") == "Bearer tok-T");
  CHECK(header(sent[0].headers, "x-api-key") == "<absent>");
  CHECK(header(sent[0].headers, "x-extra") == "1");
  CHECK(header(sent[0].headers, "anthropic-version") == "2099-01-01");
}

TEST_CASE("Forwarder: passthrough forwards the client's credential but never a balancer key", "[unit][forwarder]") {
  AuthSettings auth;
  auth.enabled = true;
  auth.api_keys = {"balancer-key"};
  Fixture f([](const HttpRequest&) { return FakeResponse::json(200, kOk); },
            {provider("P", AuthType::ApiKey, "passthrough")}, auth);
  f.post(kBody, {{"x-api-key", "balancer-key"}, {"authorization", "Bearer user-oauth-token"}});
  f.post(kBody, {{"x-api-key", "sk-user"}});
  const auto sent = f.transport.requests();
  REQUIRE(sent.size() == 2);
  CHECK(header(sent[0].headers, "x-api-key") == "<absent>");
  CHECK(header(sent[0].headers, "authorization") == "Bearer user-oauth-token");
  CHECK(header(sent[1].headers, "x-api-key") == "sk-user");
}

TEST_CASE("Forwarder: passthrough never forwards a balancer key in another spelling, nor a malformed credential",
          "[unit][forwarder]") {
  AuthSettings auth;
  auth.enabled = true;
  auth.api_keys = {"balancer-key"};
  auth.admin_api_key = "admin-key";
  Fixture f([](const HttpRequest&) { return FakeResponse::json(200, kOk); },
            {provider("P", AuthType::ApiKey, "passthrough")}, auth);
  const std::vector<std::string> refused_authorization{
      "admin-key",                     // raw, no scheme
      "Bearer balancer-key x",         // with a suffix
      "Bearer  admin-key",             // two spaces
      "bearer balancer-key",           // any case of the scheme
      "Basic dXNlcjpwYXNz",            // not Bearer
      "Bearer user-token extra-word",  // not one token
      "Bearer user\x01token",          // a control byte
  };
  for (const std::string& value : refused_authorization) {
    f.post(kBody, {{"x-api-key", "balancer-key"}, {"authorization", value}});
  }
  f.post(kBody, {{"authorization", "Bearer balancer-key"}, {"x-api-key", "admin-key trailing"}});
  f.post(kBody, {{"authorization", "Bearer balancer-key"}, {"x-api-key", "sk-user with-space"}});
  f.post(kBody, {{"x-api-key", "balancer-key"}, {"authorization", "Bearer user-token"}});
  const auto sent = f.transport.requests();
  REQUIRE(sent.size() == refused_authorization.size() + 3);
  for (std::size_t i = 0; i + 1 < sent.size(); ++i) {
    INFO(i);
    CHECK(header(sent[i].headers, "authorization") == "<absent>");
    CHECK(header(sent[i].headers, "x-api-key") == "<absent>");
    for (const auto& [name, value] : sent[i].headers) {
      CHECK(value.find("balancer-key") == std::string::npos);
      CHECK(value.find("admin-key") == std::string::npos);
    }
  }
  CHECK(header(sent.back().headers, "authorization") == "Bearer user-token");
}

TEST_CASE("Forwarder: passthrough 401 is the client's answer, not a failover", "[unit][forwarder]") {
  Fixture f(
      [](const HttpRequest&) {
        return FakeResponse::json(
            401, R"({"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}})");
      },
      {provider("P", AuthType::ApiKey, "passthrough"), provider("Q", AuthType::ApiKey, "passthrough")});
  auto result = f.post(kBody, {{"x-api-key", "bad"}});
  CHECK(result.status == 401);
  CHECK(f.transport.call_count() == 1);
  CHECK_THAT(result.body, Catch::Contains("invalid x-api-key"));
}

TEST_CASE("Forwarder: model rewrite and provider removal by splicing", "[unit][forwarder]") {
  Fixture f([](const HttpRequest&) { return FakeResponse::json(200, kOk); });
  f.post(R"({"model":"alias-x", "messages":[]})");
  f.post(R"({"model":"m", "provider":"B", "messages":[]})");
  const auto sent = f.transport.requests();
  REQUIRE(sent.size() == 2);
  CHECK(sent[0].body == R"({"model":"real-model", "messages":[]})");
  CHECK(host_of(sent[1]) == "B");
  CHECK(sent[1].body == R"({"model":"m", "messages":[]})");
}

TEST_CASE("Forwarder: fails over on unhealthy statuses and transport errors", "[unit][forwarder]") {
  const int first_status = GENERATE(500, 502, 529, 429, 0);
  Fixture f([first_status](const HttpRequest& r) {
    if (host_of(r) == "A") {
      return first_status == 0
                 ? FakeResponse::failure(ErrorCode::UpstreamConnect, "Connection refused")
                 : FakeResponse::json(first_status, R"({"type":"error","error":{"type":"x","message":"down"}})");
    }
    return FakeResponse::json(200, kOk);
  });
  auto result = f.post(kBody);
  CHECK(result.status == 200);
  CHECK(result.provider == "B");
  CHECK(header(result.headers, "x-balancer-attempts") == "2");
  REQUIRE(result.attempts.size() == 2);
  CHECK(result.attempts[0].status == first_status);
  CHECK_FALSE(result.attempts[0].error.empty());
  CHECK(f.stats.get("A").failures == 1);
  CHECK(f.stats.get("B").failures == 0);
}

TEST_CASE("Forwarder: a request the transport cannot set up fails over as internal_error", "[unit][forwarder]") {
  Fixture f([](const HttpRequest& r) {
    if (host_of(r) == "A") {
      return FakeResponse::failure(ErrorCode::Internal, "cannot configure the upstream request: bad argument");
    }
    return FakeResponse::json(200, kOk);
  });
  auto result = f.post(kBody);
  CHECK(result.status == 200);
  CHECK(result.provider == "B");
  REQUIRE(result.attempts.size() == 2);
  CHECK(result.attempts[0].error_class == "internal_error");
  CHECK(result.attempts[0].error.find("internal_error: cannot configure") == 0);
  CHECK(result.attempts[1].error_class.empty());
}

TEST_CASE("Forwarder: a client error goes back unchanged without failover", "[unit][forwarder]") {
  const std::string err = R"({"type":"error","error":{"type":"invalid_request_error","message":"max_tokens"}})";
  Fixture f([&](const HttpRequest&) { return FakeResponse::json(400, err); });
  auto result = f.post(kBody);
  CHECK(result.status == 400);
  CHECK(result.body == err);
  CHECK(f.transport.call_count() == 1);
  CHECK(f.stats.get("A").failures == 0);
}

TEST_CASE("Forwarder: every provider failing gives one Anthropic error", "[unit][forwarder]") {
  SECTION("all rate limited -> 429 with the smallest Retry-After") {
    Fixture f([](const HttpRequest& r) {
      auto resp =
          FakeResponse::json(429, R"({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}})");
      resp.headers.emplace_back("retry-after", host_of(r) == "B" ? "7" : "30");
      return resp;
    });
    auto result = f.post(kBody);
    CHECK(result.status == 429);
    CHECK(header(result.headers, "retry-after") == "7");
    CHECK(nlohmann::json::parse(result.body)["error"]["type"] == "rate_limit_error");
  }
  SECTION("last one overloaded -> 529") {
    Fixture f([](const HttpRequest& r) { return FakeResponse::json(host_of(r) == "C" ? 529 : 500, "{}"); });
    auto result = f.post(kBody);
    CHECK(result.status == 529);
    CHECK(nlohmann::json::parse(result.body)["error"]["type"] == "overloaded_error");
  }
  SECTION("mixed -> 503 api_error listing every attempt") {
    Fixture f([](const HttpRequest& r) {
      if (host_of(r) == "B") {
        return FakeResponse::failure(ErrorCode::UpstreamTimeout, "no headers within 300 s");
      }
      return FakeResponse::json(503, R"({"type":"error","error":{"type":"api_error","message":"upstream sad"}})");
    });
    auto result = f.post(kBody);
    CHECK(result.status == 503);
    auto body = nlohmann::json::parse(result.body);
    CHECK(body["type"] == "error");
    CHECK(body["error"]["type"] == "api_error");
    const std::string message = body["error"]["message"];
    CHECK_THAT(message, Catch::Contains("A: HTTP 503") && Catch::Contains("B: timeout_error") &&
                            Catch::Contains("C: HTTP 503") && Catch::Contains("upstream sad"));
    CHECK_THAT(message, !Catch::Contains("secret-"));
    CHECK(header(result.headers, "x-balancer-attempts") == "3");
  }
}

TEST_CASE("Forwarder: bad requests are answered locally", "[unit][forwarder]") {
  Fixture f([](const HttpRequest&) { return FakeResponse::json(200, kOk); });
  auto bad_json = f.post("{not json");
  CHECK(bad_json.status == 400);
  CHECK(nlohmann::json::parse(bad_json.body)["error"]["type"] == "invalid_request_error");
  auto unknown_pin = f.post(R"({"model":"m","provider":"Z"})");
  CHECK(unknown_pin.status == 404);
  CHECK(nlohmann::json::parse(unknown_pin.body)["error"]["type"] == "not_found_error");
  CHECK(f.transport.call_count() == 0);
}

TEST_CASE("Forwarder: SSE is relayed event by event, byte for byte", "[unit][forwarder][sse]") {
  const std::vector<std::string> chunks = {"event: message_start\ndata: {\"type\":\"message_start\"}\n\n",
                                           "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",",
                                           "\"delta\":{\"text\":\"hi\"}}\n\n",
                                           "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"};
  Fixture f([&](const HttpRequest&) { return FakeResponse::sse(chunks); });
  auto result = f.post(kBody);
  REQUIRE(result.stream);
  std::vector<std::string> pieces;
  std::string chunk;
  while (result.stream->next(chunk)) {
    pieces.push_back(chunk);
  }
  std::string joined;
  for (const auto& c : chunks) {
    joined += c;
  }
  std::string relayed;
  for (const auto& p : pieces) {
    relayed += p;
  }
  CHECK(relayed == joined);
  // A partial event is held back until it is complete: pieces end on event boundaries.
  for (const auto& p : pieces) {
    CHECK(p.substr(p.size() - 2) == "\n\n");
  }
  CHECK(result.stream->completed());
}

TEST_CASE("Forwarder: a stream failing before its first event fails over", "[unit][forwarder][sse]") {
  Fixture f([](const HttpRequest& r) {
    if (host_of(r) == "A") {
      auto resp = FakeResponse::sse({"event: message_start\ndata: {\"type\":\"mess"});
      resp.error_after_body = Error{ErrorCode::UpstreamConnect, "connection reset"};
      return resp;
    }
    if (host_of(r) == "B") {
      return FakeResponse::sse({});  // headers, then nothing
    }
    return FakeResponse::sse({"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"});
  });
  auto result = f.post(kBody);
  CHECK(result.provider == "C");
  REQUIRE(result.attempts.size() == 3);
  CHECK_THAT(result.attempts[0].error, Catch::Contains("connection_error"));
  CHECK_THAT(result.attempts[1].error, Catch::Contains("empty_stream"));
  REQUIRE(result.stream);
  CHECK(drain(*result.stream) == "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
}

TEST_CASE("Forwarder: a stream dropped after the first byte ends with an error event", "[unit][forwarder][sse]") {
  const std::string start = "event: message_start\ndata: {\"type\":\"message_start\"}\n\n";
  SECTION("drop") {
    Fixture f([&](const HttpRequest&) {
      auto resp = FakeResponse::sse({start, "event: content_block_delta\ndata: {\"partial"});
      resp.error_after_body = Error{ErrorCode::UpstreamConnect, "connection reset by peer"};
      return resp;
    });
    auto result = f.post(kBody);
    REQUIRE(result.stream);
    const std::string all = drain(*result.stream);
    CHECK(all.rfind(start, 0) == 0);
    CHECK(all.find("partial") == std::string::npos);  // the broken event is not relayed
    CHECK_THAT(all, Catch::Contains("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\""));
    CHECK_THAT(all, !Catch::Contains("message_stop"));
    CHECK_FALSE(result.stream->completed());
    CHECK(f.stats.get("A").failures == 1);
  }
  SECTION("clean end without message_stop") {
    Fixture f([&](const HttpRequest&) { return FakeResponse::sse({start}); });
    auto result = f.post(kBody);
    REQUIRE(result.stream);
    const std::string all = drain(*result.stream);
    CHECK_THAT(all, Catch::EndsWith("\n\n") && Catch::Contains("ended before message_stop"));
    CHECK_FALSE(result.stream->completed());
  }
  SECTION("an upstream error event is relayed as the end, and counts as a failure") {
    const std::string err =
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"x\"}}\n\n";
    Fixture f([&](const HttpRequest&) { return FakeResponse::sse({start, err}); });
    auto result = f.post(kBody);
    REQUIRE(result.stream);
    CHECK(drain(*result.stream) == start + err);
    CHECK_FALSE(result.stream->completed());
    CHECK_THAT(result.stream->failure(), Catch::StartsWith("upstream_error") && Catch::Contains("overloaded_error"));
    CHECK(f.stats.get("A").failures == 1);
  }
  SECTION("the failure is recorded by the time the error event is handed out") {
    const std::string err =
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"x\"}}\n\n";
    Fixture f([&](const HttpRequest&) { return FakeResponse::sse({start, err}); });
    auto result = f.post(kBody);
    REQUIRE(result.stream);
    std::string all;
    std::string chunk;
    while (all.find("event: error") == std::string::npos && result.stream->next(chunk)) {
      all += chunk;
    }
    CHECK(all == start + err);
    CHECK(f.stats.get("A").failures == 1);  // the client may stop reading here
  }
  SECTION("an error event that blames the request ends the stream unfinished, with no penalty") {
    const std::string err =
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"x\"}}\n\n";
    Fixture f([&](const HttpRequest&) { return FakeResponse::sse({start, err}); });
    auto result = f.post(kBody);
    REQUIRE(result.stream);
    CHECK(drain(*result.stream) == start + err);
    CHECK_FALSE(result.stream->completed());
    CHECK(f.stats.get("A").failures == 0);
  }
}
