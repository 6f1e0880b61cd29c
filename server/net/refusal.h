// refusal.h — the answers the connection layer gives on its own, before cpp-httplib or the
// Gateway see a request (malformed or over-long head, head deadline, overload): one complete
// HTTP/1.1 response with an Anthropic error body and Connection: close. Pure, any thread.
#pragma once

#include <string>
#include <string_view>

namespace balancer::server {

std::string refusal_response(int status, std::string_view message);

class Connection;

// Writes `response` to the connection as far as its socket takes it at once (a refusal is small;
// what does not fit is dropped with the connection).
void send_once(Connection& connection, std::string_view response);

}  // namespace balancer::server
