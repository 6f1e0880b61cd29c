#include <balancer/http.h>

#include <algorithm>

#include "core/text.h"

namespace balancer {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), detail::ascii_iequal);
}

std::optional<std::string_view> find_header(const Headers& headers, std::string_view name) {
  for (const auto& [key, value] : headers) {
    if (iequals(key, name)) {
      return std::string_view(value);
    }
  }
  return std::nullopt;
}

Result<HttpResponse> HttpTransport::send(HttpRequest request, std::size_t max_body) {
  auto call = start(std::move(request));
  auto head = call->head();
  if (!head) {
    return tl::unexpected(head.error());
  }
  HttpResponse response{head->status, std::move(head->headers), {}};
  std::string chunk;
  for (;;) {
    auto more = call->read(chunk);
    if (!more) {
      return tl::unexpected(more.error());
    }
    if (!*more) {
      break;
    }
    if (response.body.size() + chunk.size() > max_body) {
      return make_error(ErrorCode::UpstreamProtocol, "upstream response body exceeds the limit");
    }
    response.body += chunk;
  }
  return response;
}

}  // namespace balancer
