// gateway_on_fake_transport: the whole balancer as one Gateway, on an in-memory FakeTransport.
// Two providers serve one route; the first answers 529 (overloaded), so the Gateway fails over
// to the second. Then GET /health through the same handle(). No sockets, no files, no real
// time. Exits 0 when the answer came from the second provider after two attempts.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <balancer/config.h>
#include <balancer/gateway.h>
#include <balancer/log_sink.h>
#include <balancer/oauth_client.h>
#include <balancer/testing/fake_transport.h>
#include <balancer/testing/manual_clock.h>
#include <balancer/testing/scripted_random.h>

namespace {

using balancer::testing::FakeResponse;

constexpr const char* kConfigYaml = R"(
providers:
  - {name: primary, base_url: "https://primary.example", auth_type: api_key, auth_value: "key-1"}
  - {name: backup, base_url: "https://backup.example", auth_type: api_key, auth_value: "key-2"}
model_routes:
  "*sonnet*":
    - {provider: primary, priority: 1}
    - {provider: backup, priority: 2}
)";

// The fake upstreams: primary is overloaded, backup answers.
FakeResponse answer(const balancer::HttpRequest& request) {
  if (request.url.starts_with("https://primary.example")) {
    return FakeResponse::json(529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})");
  }
  return FakeResponse::json(200, R"({"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5",)"
                                 R"("content":[{"type":"text","text":"Hello"}],"stop_reason":"end_turn",)"
                                 R"("usage":{"input_tokens":3,"output_tokens":1}})");
}

}  // namespace

int main() {
  auto config = balancer::parse_config(kConfigYaml, [](const std::string&) { return std::nullopt; });
  if (!config) {
    std::fprintf(stderr, "config: %s\n", config.error().message.c_str());
    return 1;
  }
  balancer::testing::FakeTransport upstream(answer);
  balancer::testing::ManualClock clock;
  balancer::testing::ScriptedRandom random{0};
  balancer::GatewayOptions options;
  options.config = std::make_shared<const balancer::BalancerConfig>(std::move(*config));
  options.transport = &upstream;
  options.clock = &clock;
  options.random = &random;
  options.log = balancer::make_jsonl_log(clock, balancer::LogLevel::Error, "");  // no file; stderr on errors only
  options.token_store = balancer::make_memory_token_store();                     // nothing on disk
  options.run_balance_checks = false;                                            // starts no thread
  auto gateway = balancer::Gateway::create(std::move(options));
  if (!gateway) {
    std::fprintf(stderr, "gateway: %s\n", gateway.error().message.c_str());
    return 1;
  }

  balancer::Response reply = (*gateway)->handle(
      {"POST",
       "/v1/messages",
       "",
       {{"content-type", "application/json"}, {"anthropic-version", "2023-06-01"}},
       R"({"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"Hi"}]})"});
  // A front end sends status, headers and body here; then reports the response over (this logs it).
  const std::string provider(balancer::find_header(reply.headers, "x-balancer-provider").value_or("-"));
  const std::string attempts(balancer::find_header(reply.headers, "x-balancer-attempts").value_or("-"));
  reply.on_finish(true);
  std::printf("POST /v1/messages -> %d, x-balancer-provider=%s, x-balancer-attempts=%s\n", reply.status,
              provider.c_str(), attempts.c_str());
  for (const balancer::Attempt& attempt : reply.attempts) {
    std::printf("  attempt %-8s status=%d %s\n", attempt.provider.c_str(), attempt.status, attempt.error_class.c_str());
  }

  balancer::Response health = (*gateway)->handle({"GET", "/health", "", {}, ""});
  std::printf("GET /health -> %d %s\n", health.status, health.body.c_str());
  health.on_finish(true);

  const bool ok = reply.status == 200 && provider == "backup" && attempts == "2" && reply.attempts.size() == 2 &&
                  reply.attempts[0].status == 529 && upstream.call_count() == 2 && health.status == 200;
  std::printf("%s\n", ok ? "OK" : "FAILED: no failover to backup");
  return ok ? 0 : 1;
}
