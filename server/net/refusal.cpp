#include "refusal.h"

#include <fmt/format.h>

#include <balancer/anthropic_error.h>

#include "connection.h"

namespace balancer::server {
namespace {

std::string_view reason_phrase(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
  }
}

}  // namespace

std::string refusal_response(int status, std::string_view message) {
  const std::string body = anthropic_error_body(status == 503   ? "overloaded_error"
                                                : status == 413 ? "request_too_large"
                                                                : "invalid_request_error",
                                                message);
  return fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}", status,
      reason_phrase(status), body.size(), body);
}

void send_once(Connection& connection, std::string_view response) {
  (void)connection.send_some(response.data(), response.size());
}

}  // namespace balancer::server
