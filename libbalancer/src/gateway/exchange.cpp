#include "gateway/exchange.h"

#include <charconv>

#include <balancer/anthropic_error.h>

namespace balancer::detail {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%' && i + 2 < text.size() && hex_digit(text[i + 1]) >= 0 && hex_digit(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit(text[i + 1]) * 16 + hex_digit(text[i + 2]));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

Response error_response(int status, std::string_view type, std::string_view message) {
  return content_response(status, anthropic_error_body(type, message), "application/json");
}

Response json_response(int status, const nlohmann::json& body) {
  return content_response(status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                          "application/json");
}

Response content_response(int status, std::string body, std::string content_type) {
  Response r;
  r.status = status;
  r.headers.emplace_back("content-type", std::move(content_type));
  r.body = std::move(body);
  return r;
}

std::string header_value(const ClientRequest& request, std::string_view name) {
  return std::string(find_header(request.headers, name).value_or(""));
}

std::optional<std::size_t> content_length(const ClientRequest& request) {
  const auto value = find_header(request.headers, "content-length");
  if (!value) {
    return std::nullopt;
  }
  std::size_t n = 0;
  auto [ptr, ec] = std::from_chars(value->data(), value->data() + value->size(), n);
  if (ec != std::errc() || ptr != value->data() + value->size()) {
    return std::nullopt;
  }
  return n;
}

std::optional<std::string> query_param(const ClientRequest& request, std::string_view name) {
  std::string_view rest = request.query;
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    const auto eq = pair.find('=');
    const std::string key = percent_decode(pair.substr(0, eq));
    if (key == name) {
      return eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
    }
  }
  return std::nullopt;
}

std::optional<Response> check_auth(const ClientAuth& auth, const ClientRequest& request, ClientAuth::Access access) {
  auto ok = auth.check(request.path, request.headers, access);
  if (ok) {
    return std::nullopt;
  }
  return error_response(401, "authentication_error", ok.error().message);
}

}  // namespace balancer::detail
