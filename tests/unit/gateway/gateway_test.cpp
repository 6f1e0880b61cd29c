// Gateway on a FakeTransport: the admission checks a front end runs before reading a body,
// the one answer shape for every endpoint, reload and the log line written when a response is
// over. The HTTP front end itself is covered by the integration tests.
#include <catch2/catch.hpp>

#include <mutex>
#include <string>
#include <vector>

#include <balancer/gateway.h>
#include <balancer/testing/fake_transport.h>
#include <balancer/testing/manual_clock.h>
#include <balancer/testing/scripted_random.h>

using namespace balancer;
using balancer::testing::FakeResponse;

namespace {

// Keeps every line written, for the assertions.
class RecordingLog final : public LogSink {
 public:
  bool enabled(LogLevel /*level*/) const override { return true; }
  void write(LogLevel /*level*/, std::string_view message, nlohmann::json fields) override {
    std::lock_guard lock(mutex_);
    fields["msg"] = std::string(message);
    lines_.push_back(std::move(fields));
  }
  void set_level(LogLevel /*level*/) override {}
  std::vector<nlohmann::json> lines(std::string_view message) const {
    std::lock_guard lock(mutex_);
    std::vector<nlohmann::json> out;
    for (const auto& line : lines_) {
      if (line["msg"] == message) {
        out.push_back(line);
      }
    }
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<nlohmann::json> lines_;
};

std::shared_ptr<const BalancerConfig> config_of(const std::string& yaml) {
  auto parsed = parse_config(yaml, [](const std::string&) { return std::nullopt; });
  REQUIRE(parsed);
  return std::make_shared<const BalancerConfig>(std::move(*parsed));
}

const std::string kTwoProviders = R"(
settings: {max_request_body_bytes: 1000}
auth: {enabled: true, api_keys: ["client-key"], admin_api_key: "admin-key"}
providers:
  - {name: primary, base_url: "https://primary.example", auth_type: api_key, auth_value: "key-1"}
  - {name: backup, base_url: "https://backup.example", auth_type: api_key, auth_value: "key-2"}
model_routes:
  "*sonnet*":
    - {provider: primary, priority: 1}
    - {provider: backup, priority: 2}
)";

const std::string kMessage =
    R"({"model":"claude-sonnet-4-5","max_tokens":8,"messages":[{"role":"user","content":"Hi"}]})";

struct GatewayFixture {
  explicit GatewayFixture(const std::string& yaml = kTwoProviders)
      : upstream([this](const HttpRequest& r) {
          std::lock_guard lock(mutex);
          if (r.url.starts_with("https://primary.example") && primary_status != 200) {
            return FakeResponse::json(primary_status,
                                      R"({"type":"error","error":{"type":"overloaded_error","message":"o"}})");
          }
          return FakeResponse::json(200,
                                    R"({"type":"message","content":[],"usage":{"input_tokens":1,"output_tokens":1}})");
        }) {
    GatewayOptions options;
    options.config = config_of(yaml);
    options.transport = &upstream;
    options.clock = &clock;
    options.random = &random;
    options.log = log;
    options.token_store = make_memory_token_store();
    options.run_balance_checks = false;
    auto created = Gateway::create(std::move(options));
    REQUIRE(created);
    gateway = std::move(*created);
  }

  std::mutex mutex;
  int primary_status = 529;  // guarded by mutex
  testing::FakeTransport upstream;
  testing::ManualClock clock;
  testing::ScriptedRandom random{0};
  std::shared_ptr<RecordingLog> log = std::make_shared<RecordingLog>();
  std::unique_ptr<Gateway> gateway;
};

ClientRequest message_request(std::string key = "client-key") {
  Headers headers{{"content-type", "application/json"}};
  if (!key.empty()) {
    headers.emplace_back("x-api-key", std::move(key));
  }
  return {"POST", "/v1/messages", "", std::move(headers), kMessage};
}

}  // namespace

TEST_CASE("Gateway::admit refuses on the request head alone, before any body is read", "[unit][gateway]") {
  GatewayFixture f;
  auto head = [](std::string method, std::string path, Headers headers) {
    return ClientRequest{std::move(method), std::move(path), "", std::move(headers), ""};
  };
  struct Case {
    ClientRequest head;
    int status;
  };
  const std::vector<Case> refused{
      {head("POST", "/v1/messages", {{"content-length", "999999999"}}), 401},  // no key: 401, whatever the size
      {head("POST", "/v1/messages", {{"x-api-key", "wrong"}}), 401},
      {head("POST", "/v1/messages", {{"x-api-key", "client-key"}, {"content-length", "1001"}}), 413},
      {head("POST", "/providers/reload", {{"x-api-key", "client-key"}}), 401},  // needs the admin key
      {head("GET", "/oauth/status", {{"x-api-key", "client-key"}}), 401},
      {head("POST", "/nope", {{"content-length", "400000000"}}), 404},
      {head("GET", "/v1/messages", {{"x-api-key", "client-key"}}), 405},
      {head("POST", "/oauth/status", {}), 405},
  };
  for (const Case& c : refused) {
    INFO(c.head.method << " " << c.head.path);
    auto answer = f.gateway->admit(c.head);
    REQUIRE(answer.has_value());
    CHECK(answer->status == c.status);
    const auto body = nlohmann::json::parse(answer->body, nullptr, false);
    CHECK(body["type"] == "error");
    CHECK(body["error"]["message"].is_string());
  }
  CHECK_FALSE(
      f.gateway->admit(head("POST", "/v1/messages", {{"x-api-key", "client-key"}, {"content-length", "1000"}})));
  CHECK_FALSE(f.gateway->admit(head("POST", "/providers/reload", {{"x-api-key", "admin-key"}})));
  CHECK_FALSE(f.gateway->admit(head("GET", "/health", {})));  // no key needed
  CHECK(f.gateway->body_limit("/v1/messages") == 1000);
  CHECK(f.gateway->body_limit("/oauth/exchange-code") == 64u << 10);
  CHECK(f.upstream.call_count() == 0);
}

TEST_CASE("Gateway::handle fails over, answers with headers and attempts, and logs on on_finish", "[unit][gateway]") {
  GatewayFixture f;
  Response r = f.gateway->handle(message_request());
  CHECK(r.status == 200);
  CHECK(r.provider == "backup");
  REQUIRE(r.attempts.size() == 2);
  CHECK(r.attempts[0].status == 529);
  CHECK(find_header(r.headers, "x-balancer-provider") == std::optional<std::string_view>("backup"));
  CHECK(find_header(r.headers, "x-balancer-request-id").has_value());
  CHECK(f.log->lines("request").empty());  // written when the front end reports the response over
  REQUIRE(r.on_finish);
  r.on_finish(true);
  const auto lines = f.log->lines("request");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0]["provider"] == "backup");
  CHECK(lines[0]["outcome"] == "complete");
  CHECK(lines[0]["attempts"].size() == 2);
  CHECK(f.gateway->metrics().find("balancer_") != std::string::npos);
}

TEST_CASE("Gateway::handle: every answer has an on_finish, and a body never read is refused without the upstream",
          "[unit][gateway]") {
  GatewayFixture f;
  for (ClientRequest request : {message_request(""), ClientRequest{"GET", "/health", "", {}, ""},
                                ClientRequest{"DELETE", "/nowhere", "", {}, ""}}) {
    Response r = f.gateway->handle(std::move(request));
    REQUIRE(r.on_finish);
    r.on_finish(true);
  }
  // A body over the limit that the front end kept only in part (limit + 1 bytes) is refused.
  ClientRequest big = message_request();
  big.body = std::string(1001, ' ');
  CHECK(f.gateway->handle(std::move(big)).status == 413);
  CHECK(f.upstream.call_count() == 0);
}

TEST_CASE("Gateway::reload swaps the config snapshot and keeps health", "[unit][gateway]") {
  GatewayFixture f;
  Response first = f.gateway->handle(message_request());
  first.on_finish(true);
  REQUIRE(first.provider == "backup");
  auto reloaded = f.gateway->reload(config_of(R"(
auth: {enabled: true, api_keys: ["client-key"]}
providers:
  - {name: primary, base_url: "https://primary.example", auth_type: api_key, auth_value: "key-1"}
model_routes:
  "*": [{provider: primary}]
)"));
  REQUIRE(reloaded);
  CHECK(reloaded->providers == 1);
  CHECK(reloaded->routes == 1);
  CHECK(f.gateway->config()->providers.size() == 1);
  const nlohmann::json report = f.gateway->providers();
  REQUIRE(report["providers"].size() == 1);
  CHECK(report["providers"][0]["failure_count"] == 1);  // health survived the reload
  {
    std::lock_guard lock(f.mutex);
    f.primary_status = 200;
  }
  // The primary's failure is still on record (one of two allowed), and it now answers.
  Response second = f.gateway->handle(message_request());
  second.on_finish(true);
  INFO(second.body);
  CHECK(second.status == 200);
  CHECK(second.provider == "primary");
  CHECK_FALSE(f.gateway->reload(nullptr));
  CHECK_FALSE(f.gateway->reload());  // no config file to re-read
  CHECK(f.gateway->config()->providers.size() == 1);
}

TEST_CASE("Gateway::reload applies the start-up rule: no client auth off on a non-loopback address",
          "[unit][gateway]") {
  GatewayFixture f;
  const auto without_auth = config_of(R"(
providers:
  - {name: primary, base_url: "https://primary.example", auth_type: api_key, auth_value: "key-1"}
model_routes:
  "*": [{provider: primary}]
)");
  f.gateway->set_listen_host("0.0.0.0");
  auto refused = f.gateway->reload(without_auth);
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message, Catch::Contains("refusing to listen on 0.0.0.0 without client auth"));
  CHECK(f.gateway->config()->auth.enabled);  // the old config keeps serving
  CHECK(f.gateway->admit({"GET", "/providers", "", {}, ""}).value().status == 401);

  f.gateway->set_listen_host("127.0.0.1");
  CHECK(f.gateway->reload(without_auth));
  CHECK_FALSE(f.gateway->config()->auth.enabled);
}
