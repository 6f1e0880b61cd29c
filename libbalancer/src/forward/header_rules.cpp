#include "forward/header_rules.h"

#include <array>

namespace balancer::detail {
namespace {

constexpr std::array<std::string_view, 9> kHopByHop = {
    "connection",        "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te", "trailer",
    "transfer-encoding", "upgrade"};

// Range/If-Range: no Messages API answer is partial, and a 206 must never reach a client.
constexpr std::array<std::string_view, 13> kNeverForwardedUpstream = {
    "x-api-key",   "authorization", "cookie",     "host",       "content-length", "expect",  "accept-encoding",
    "remote_addr", "remote_port",   "local_addr", "local_port", "range",          "if-range"};

template <std::size_t N>
bool in_list(const std::array<std::string_view, N>& list, std::string_view name) {
  for (std::string_view entry : list) {
    if (iequals(entry, name)) {
      return true;
    }
  }
  return false;
}

// True when the comma-separated `Connection` header value names `name`.
bool named_by_connection(std::string_view connection, std::string_view name) {
  while (!connection.empty()) {
    const std::size_t comma = connection.find(',');
    std::string_view token = connection.substr(0, comma);
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) {
      token.remove_prefix(1);
    }
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) {
      token.remove_suffix(1);
    }
    if (iequals(token, name)) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    connection.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

bool is_forwardable_request_header(std::string_view name) {
  return !in_list(kHopByHop, name) && !in_list(kNeverForwardedUpstream, name);
}

bool is_forwardable_response_header(std::string_view name) {
  return !in_list(kHopByHop, name) && !iequals(name, "content-length");
}

Headers forwardable_request_headers(const Headers& client_headers) {
  const std::string_view connection = find_header(client_headers, "connection").value_or("");
  Headers out;
  out.reserve(client_headers.size());
  for (const auto& [name, value] : client_headers) {
    if (is_forwardable_request_header(name) && !named_by_connection(connection, name)) {
      out.emplace_back(name, value);
    }
  }
  return out;
}

}  // namespace balancer::detail
