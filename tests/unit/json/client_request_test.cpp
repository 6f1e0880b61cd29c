#include <catch2/catch.hpp>

#include "json/client_request.h"

using balancer::ErrorCode;
using balancer::inspect_request_body;

TEST_CASE("inspect_request_body extracts the routing fields", "[unit][request]") {
  auto info = inspect_request_body(
      R"({"model":"claude-opus-4","stream":true,"provider":"B",
          "messages":[{"role":"user","content":"hi","model":"not-this"}],
          "metadata":{"nested":{"user_id":"no"},"user_id":"user_abc_session_1"}})");
  REQUIRE(info);
  CHECK(info->model == "claude-opus-4");
  CHECK(info->stream);
  REQUIRE(info->pinned_provider);
  CHECK(*info->pinned_provider == "B");
  CHECK(info->user_id == "user_abc_session_1");
}

TEST_CASE("inspect_request_body defaults", "[unit][request]") {
  auto info = inspect_request_body(R"({"model":"m","messages":[]})");
  REQUIRE(info);
  CHECK_FALSE(info->stream);
  CHECK_FALSE(info->pinned_provider);
  CHECK(info->user_id.empty());
}

TEST_CASE("inspect_request_body rejects bad bodies with clear messages", "[unit][request]") {
  struct Case {
    const char* body;
    const char* message;
  };
  const Case cases[] = {
      {"", "not valid JSON"},
      {"{\"model\":\"m\"", "not valid JSON"},
      {"{\"model\":\"m\"} trailing", "not valid JSON"},
      {"[1,2]", "must be a JSON object"},
      {"\"model\"", "must be a JSON object"},
      {"{\"messages\":[]}", "model: field required"},
      {"{\"model\":42}", "model: must be a string"},
      {"{\"model\":{\"a\":1}}", "model: must be a string"},
      {"{\"model\":\"m\",\"provider\":7}", "provider: must be a string"},
  };
  for (const auto& c : cases) {
    INFO(c.body);
    auto info = inspect_request_body(c.body);
    REQUIRE_FALSE(info);
    CHECK(info.error().code == ErrorCode::InvalidRequest);
    CHECK_THAT(info.error().message, Catch::Contains(c.message));
  }
  // A huge model name is refused without being echoed.
  const std::string huge = "{\"model\":\"" + std::string(1 << 20, 'm') + "\",\"messages\":[]}";
  auto info = inspect_request_body(huge);
  REQUIRE_FALSE(info);
  CHECK(info.error().message == "model: longer than 256 bytes");
  CHECK(inspect_request_body("{\"model\":\"" + std::string(256, 'm') + "\",\"messages\":[]}"));
}
