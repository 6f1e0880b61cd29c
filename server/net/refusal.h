// refusal.h — the answers the connection layer gives on its own, before cpp-httplib or the
// Gateway see a request (malformed or over-long head, head deadline, overload): one complete
// HTTP/1.1 response with an Anthropic error body and Connection: close. Pure, any thread.
#pragma once

#include <string>
#include <string_view>

namespace balancer::server {

std::string refusal_response(int status, std::string_view message);

// Writes `response` to the non-blocking socket `fd` as far as the socket takes it at once (a
// refusal is small; what does not fit is dropped with the connection).
void send_once(int fd, std::string_view response);

}  // namespace balancer::server
