#include <catch2/catch.hpp>

#include <set>
#include <string>

#include <balancer/error.h>

using balancer::FailureClass;
using balancer::to_string;

TEST_CASE("FailureClass: to_string gives the names logs, /providers and settings use", "[unit][error]") {
  CHECK(to_string(FailureClass::None).empty());
  CHECK(to_string(FailureClass::HttpStatus) == "http_status");
  CHECK(to_string(FailureClass::ErrorPayload) == "error_payload");
  CHECK(to_string(FailureClass::HtmlBody) == "html_body");
  CHECK(to_string(FailureClass::InvalidJson) == "invalid_json");
  CHECK(to_string(FailureClass::EmptyBody) == "empty_body");
  CHECK(to_string(FailureClass::ErrorEvent) == "error_event");
  CHECK(to_string(FailureClass::ConnectionError) == "connection_error");
  CHECK(to_string(FailureClass::TimeoutError) == "timeout_error");
  CHECK(to_string(FailureClass::SslError) == "ssl_error");
  CHECK(to_string(FailureClass::ProtocolError) == "protocol_error");
  CHECK(to_string(FailureClass::InternalError) == "internal_error");
  CHECK(to_string(FailureClass::InvalidRequest) == "invalid_request");
  CHECK(to_string(FailureClass::OAuthLogin) == "oauth_login");
  CHECK(to_string(FailureClass::OAuthRefresh) == "oauth_refresh");
  CHECK(to_string(FailureClass::UnsupportedEndpoint) == "unsupported_endpoint");
  CHECK(to_string(FailureClass::InvalidResponse) == "invalid_response");
  CHECK(to_string(FailureClass::StreamError) == "stream_error");
  CHECK(to_string(FailureClass::UpstreamError) == "upstream_error");
  CHECK(to_string(FailureClass::Cancelled) == "cancelled");
}

TEST_CASE("FailureClass: every name is distinct", "[unit][error]") {
  std::set<std::string> names;
  const auto last = static_cast<int>(FailureClass::Cancelled);
  for (int i = 0; i <= last; ++i) {
    names.insert(std::string(to_string(static_cast<FailureClass>(i))));
  }
  CHECK(names.size() == static_cast<std::size_t>(last + 1));
}

TEST_CASE("FailureClass: transport classes share ErrorCode's names", "[unit][error]") {
  CHECK(to_string(FailureClass::ConnectionError) == to_string(balancer::ErrorCode::UpstreamConnect));
  CHECK(to_string(FailureClass::TimeoutError) == to_string(balancer::ErrorCode::UpstreamTimeout));
  CHECK(to_string(FailureClass::SslError) == to_string(balancer::ErrorCode::UpstreamTls));
  CHECK(to_string(FailureClass::InternalError) == to_string(balancer::ErrorCode::Internal));
}
