// response_classifier.h — the one place that decides whether an upstream answer is a provider
// failure (fail over, penalise), a client error (pass through, no penalty) or a success (spec §6).
#pragma once

#include <string>
#include <string_view>

#include <balancer/config.h>
#include <balancer/error.h>
#include <balancer/http.h>

namespace balancer::detail {

struct Classification {
  enum class Verdict { Success, Failure, PassThrough };
  Verdict verdict = Verdict::Success;
  // For failures: HttpStatus, ErrorPayload, HtmlBody, InvalidJson, EmptyBody, ErrorEvent,
  // ConnectionError, TimeoutError, SslError, ProtocolError, InternalError; None otherwise.
  FailureClass error_class = FailureClass::None;
  bool penalize = true;  // failures only: counts against the provider's health

  bool failure() const { return verdict == Verdict::Failure; }
};

// What the balancer saw of a response before deciding. For a non-streaming response `body` is
// the whole body; for an event stream it is the data of the first event and `first_event` its
// type (its `event:` name, else its JSON `type`).
struct ResponseEvidence {
  int status = 0;
  bool event_stream = false;
  std::string_view content_type;
  std::string_view body;
  std::string_view first_event;
  bool client_credentials = false;  // passthrough: a 401/403 is about the client's own key
};

// Pure. Rules:
// - status in unhealthy_http_codes → failure (except 401/403 on client credentials);
// - other statuses >= 400 → pass through, unless the error payload matches one of
//   unhealthy_response_body_patterns (case-insensitive substring) → failure;
// - 2xx event stream whose first event is `error` → failure; otherwise success (patterns are
//   never applied to a stream: its text is the model's);
// - 2xx non-stream: empty, HTML, unparsable JSON, or JSON with a top-level `error` object or
//   `"type":"error"` → failure; a `"type":"message"` body → success, never pattern-matched; any
//   other JSON (e.g. count_tokens) → success unless it matches a pattern;
// - 1xx/3xx → pass through.
Classification classify_response(const ResponseEvidence& evidence, const Settings& settings);

// Transport failures: always fail over; penalise only classes listed in unhealthy_error_types
// (ErrorCode::Internal, the balancer's own failure to set a request up, is "internal_error").
Classification classify_transport_error(ErrorCode code, const Settings& settings);

// True when `text` contains one of `patterns`, ignoring ASCII case.
bool matches_any_pattern(std::string_view text, const std::vector<std::string>& patterns);

}  // namespace balancer::detail
