// consumer: a program built against the installed package (find_package(balancer)), as another
// gateway would use it. It runs a balancer::Gateway on the shipped FakeTransport with a LogSink
// of its own: the first provider answers 529, the second streams the answer, the front end pulls
// the stream and reports it over, and the request's log line arrives in the sink. Exits 0 on
// success.
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <balancer/config.h>
#include <balancer/gateway.h>
#include <balancer/log_sink.h>
#include <balancer/oauth_client.h>
#include <balancer/testing/fake_transport.h>
#include <balancer/testing/manual_clock.h>
#include <balancer/testing/scripted_random.h>
#include <balancer/version.h>

namespace {

using balancer::testing::FakeResponse;

constexpr const char* kConfigYaml = R"(
providers:
  - {name: primary, base_url: "https://primary.example", auth_type: api_key, auth_value: "key-1"}
  - {name: backup, base_url: "https://backup.example", auth_type: auth_token, auth_value: "key-2"}
model_routes:
  "*sonnet*":
    - {provider: primary, model: passthrough, priority: 1}
    - {provider: backup, model: claude-sonnet-4-5, priority: 2}
)";

// Keeps every log line in memory, where the program can look at it. Thread-safe, as LogSink
// must be.
class RecordingLog final : public balancer::LogSink {
 public:
  bool enabled(balancer::LogLevel /*level*/) const override { return true; }
  void write(balancer::LogLevel /*level*/, std::string_view message, nlohmann::json fields) override {
    std::lock_guard lock(mutex_);
    fields["message"] = std::string(message);
    lines_.push_back(std::move(fields));
  }
  void set_level(balancer::LogLevel /*level*/) override {}

  std::vector<nlohmann::json> lines() const {
    std::lock_guard lock(mutex_);
    return lines_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<nlohmann::json> lines_;
};

std::string sse(std::string_view event, std::string_view data) {
  return "event: " + std::string(event) + "\ndata: " + std::string(data) + "\n\n";
}

// The fake upstreams: primary is overloaded; backup streams a one-word answer.
FakeResponse answer(const balancer::HttpRequest& request) {
  if (request.url.find("primary") != std::string::npos) {
    return FakeResponse::json(529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})");
  }
  return FakeResponse::sse({
      sse("message_start", R"({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant",)"
                           R"("model":"claude-sonnet-4-5","content":[],"stop_reason":null,)"
                           R"("usage":{"input_tokens":3,"output_tokens":0}}})"),
      sse("content_block_start",
          R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"),
      sse("content_block_delta",
          R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}})"),
      sse("content_block_stop", R"({"type":"content_block_stop","index":0})"),
      sse("message_delta",
          R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":1}})"),
      sse("message_stop", R"({"type":"message_stop"})"),
  });
}

}  // namespace

int main() {
  std::printf("libbalancer %s\n", balancer::kVersion);
  auto config = balancer::parse_config(kConfigYaml, [](const std::string&) { return std::nullopt; });
  if (!config) {
    std::fprintf(stderr, "config: %s\n", config.error().message.c_str());
    return 1;
  }
  balancer::testing::FakeTransport upstream(answer);
  balancer::testing::ManualClock clock;
  balancer::testing::ScriptedRandom random{0};
  auto log = std::make_shared<RecordingLog>();

  balancer::GatewayOptions options;
  options.config = std::make_shared<const balancer::BalancerConfig>(std::move(*config));
  options.transport = &upstream;
  options.clock = &clock;
  options.random = &random;
  options.log = log;
  options.token_store = balancer::make_memory_token_store();  // nothing on disk
  options.run_balance_checks = false;
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
       R"({"model":"my-sonnet","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"Hi"}]})"});
  // What a front end does: send the status and headers, then every chunk of the stream.
  std::string streamed;
  if (reply.stream) {
    for (std::string chunk; reply.stream->next(chunk);) {
      streamed += chunk;
    }
  }
  const bool completed = reply.stream && reply.stream->completed();
  reply.on_finish(true);  // the response is over: the Gateway logs and counts it

  std::printf("status %d from %s after %zu attempt(s), %zu streamed bytes, %s\n", reply.status, reply.provider.c_str(),
              reply.attempts.size(), streamed.size(), completed ? "stream completed" : "stream NOT completed");
  nlohmann::json request_line;
  for (const nlohmann::json& line : log->lines()) {
    if (line.value("message", "") == "request") {
      request_line = line;
    }
  }
  std::printf("log: %s\n", request_line.dump().c_str());

  const bool ok = reply.status == 200 && reply.provider == "backup" && reply.attempts.size() == 2 && completed &&
                  streamed.find("Hello") != std::string::npos && request_line.is_object() &&
                  request_line.value("provider", "") == "backup" && request_line.value("outcome", "") == "complete";
  std::printf("%s\n", ok ? "OK" : "FAILED");
  return ok ? 0 : 1;
}
