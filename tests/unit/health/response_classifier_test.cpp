#include <catch2/catch.hpp>

#include "health/response_classifier.h"

using namespace balancer;
using namespace balancer::detail;
using Verdict = Classification::Verdict;

namespace {

struct Case {
  const char* name;
  int status;
  bool stream;
  const char* content_type;
  const char* body;
  const char* first_event;
  Verdict verdict;
  const char* error_class;
};

}  // namespace

TEST_CASE("classify_response: every status and body kind", "[unit][classify]") {
  const Settings settings;  // defaults: codes 401..529, patterns "Insufficient credits", ...
  const Case cases[] = {
      {"200 message", 200, false, "application/json",
       R"({"type":"message","content":[{"type":"text","text":"\"type\": \"error\" Insufficient credits"}]})", "",
       Verdict::Success, ""},
      {"200 count_tokens", 200, false, "application/json", R"({"input_tokens":12})", "", Verdict::Success, ""},
      {"200 error object", 200, false, "application/json", R"({"error":{"type":"x","message":"Insufficient credits"}})",
       "", Verdict::Failure, "error_payload"},
      {"200 type error", 200, false, "application/json",
       R"({"type":"error","error":{"type":"api_error","message":"m"}})", "", Verdict::Failure, "error_payload"},
      {"200 html", 200, false, "text/html", "<!DOCTYPE html><html>Bad gateway</html>", "", Verdict::Failure,
       "html_body"},
      {"200 html without type", 200, false, "", "  <html></html>", "", Verdict::Failure, "html_body"},
      {"200 not json", 200, false, "application/json", "upstream busy", "", Verdict::Failure, "invalid_json"},
      {"200 empty", 200, false, "application/json", "", "", Verdict::Failure, "empty_body"},
      {"200 other json matching a pattern", 200, false, "application/json", R"({"msg":"没有可用token"})", "",
       Verdict::Failure, "error_payload"},
      {"200 stream", 200, true, "text/event-stream", R"({"type":"message_start"})", "message_start", Verdict::Success,
       ""},
      {"200 stream with error text", 200, true, "text/event-stream",
       R"({"type":"message_start","x":"Insufficient credits"})", "message_start", Verdict::Success, ""},
      {"200 stream first event error", 200, true, "text/event-stream", R"({"type":"error"})", "error", Verdict::Failure,
       "error_event"},
      {"400", 400, false, "application/json",
       R"({"type":"error","error":{"type":"invalid_request_error","message":"bad"}})", "", Verdict::PassThrough, ""},
      {"400 out of credit", 400, false, "application/json",
       R"({"type":"error","error":{"message":"insufficient CREDITS left"}})", "", Verdict::Failure, "error_payload"},
      {"413", 413, false, "application/json", "{}", "", Verdict::PassThrough, ""},
      {"422", 422, false, "application/json", "{}", "", Verdict::PassThrough, ""},
      {"401", 401, false, "application/json", "{}", "", Verdict::Failure, "http_status"},
      {"402", 402, false, "application/json", "{}", "", Verdict::Failure, "http_status"},
      {"403", 403, false, "application/json", "{}", "", Verdict::Failure, "http_status"},
      {"404", 404, false, "application/json", "{}", "", Verdict::Failure, "http_status"},
      {"408", 408, false, "application/json", "{}", "", Verdict::Failure, "http_status"},
      {"429", 429, false, "application/json", "{}", "", Verdict::Failure, "http_status"},
      {"500", 500, false, "application/json", "{}", "", Verdict::Failure, "http_status"},
      {"501 not listed", 501, false, "application/json", "{}", "", Verdict::PassThrough, ""},
      {"502", 502, false, "text/html", "<html>", "", Verdict::Failure, "http_status"},
      {"503", 503, false, "application/json", "{}", "", Verdict::Failure, "http_status"},
      {"504", 504, false, "application/json", "{}", "", Verdict::Failure, "http_status"},
      {"520", 520, false, "", "", "", Verdict::Failure, "http_status"},
      {"524", 524, false, "", "", "", Verdict::Failure, "http_status"},
      {"529", 529, false, "application/json", "{}", "", Verdict::Failure, "http_status"},
      {"304", 304, false, "", "", "", Verdict::PassThrough, ""},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    ResponseEvidence e;
    e.status = c.status;
    e.event_stream = c.stream;
    e.content_type = c.content_type;
    e.body = c.body;
    e.first_event = c.first_event;
    const auto result = classify_response(e, settings);
    CHECK(result.verdict == c.verdict);
    CHECK(to_string(result.error_class) == c.error_class);
  }
}

TEST_CASE("classify_response: 401/403 on the client's own credential pass through", "[unit][classify]") {
  ResponseEvidence e;
  e.status = 401;
  e.client_credentials = true;
  CHECK(classify_response(e, Settings{}).verdict == Verdict::PassThrough);
  e.status = 403;
  CHECK(classify_response(e, Settings{}).verdict == Verdict::PassThrough);
  e.status = 529;
  CHECK(classify_response(e, Settings{}).verdict == Verdict::Failure);
}

TEST_CASE("classify_transport_error: every kind fails over; only listed kinds penalise", "[unit][classify]") {
  Settings settings;
  CHECK(to_string(classify_transport_error(ErrorCode::UpstreamConnect, settings).error_class) == "connection_error");
  CHECK(classify_transport_error(ErrorCode::UpstreamConnect, settings).penalize);
  CHECK(to_string(classify_transport_error(ErrorCode::UpstreamTimeout, settings).error_class) == "timeout_error");
  CHECK(to_string(classify_transport_error(ErrorCode::UpstreamTls, settings).error_class) == "ssl_error");
  CHECK(classify_transport_error(ErrorCode::UpstreamProtocol, settings).failure());
  // The balancer's own set-up failure: fail over, but it is not the provider's fault.
  CHECK(classify_transport_error(ErrorCode::Internal, settings).failure());
  CHECK(to_string(classify_transport_error(ErrorCode::Internal, settings).error_class) == "internal_error");
  CHECK_FALSE(classify_transport_error(ErrorCode::Internal, settings).penalize);
  settings.unhealthy_error_types.push_back("internal_error");  // listing it changes nothing
  CHECK(classify_transport_error(ErrorCode::Internal, settings).failure());
  CHECK_FALSE(classify_transport_error(ErrorCode::Internal, settings).penalize);
  settings.unhealthy_error_types = {"connection_error"};
  CHECK(classify_transport_error(ErrorCode::UpstreamTimeout, settings).failure());
  CHECK_FALSE(classify_transport_error(ErrorCode::UpstreamTimeout, settings).penalize);
  CHECK(classify_transport_error(ErrorCode::UpstreamProtocol, settings).error_class == FailureClass::ProtocolError);
  settings.unhealthy_error_types = {"protocol_error"};
  CHECK(classify_transport_error(ErrorCode::UpstreamProtocol, settings).penalize);
}

TEST_CASE("classify_response: successes and pass-throughs carry no failure class", "[unit][classify]") {
  ResponseEvidence e;
  e.status = 400;
  e.body = "{}";
  CHECK(classify_response(e, Settings{}).error_class == FailureClass::None);
  e.status = 200;
  e.body = R"({"type":"message"})";
  CHECK(classify_response(e, Settings{}).error_class == FailureClass::None);
  e.status = 503;
  CHECK(classify_response(e, Settings{}).error_class == FailureClass::HttpStatus);
}
