// unsigned_thinking.cpp — see unsigned_thinking.h.
#include "forward/unsigned_thinking.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace balancer::detail {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool unsigned_thinking(const nlohmann::json& block) {
  if (!block.is_object() || block.value("type", nlohmann::json()) != "thinking") {
    return false;
  }
  auto signature = block.find("signature");
  return signature == block.end() || !signature->is_string() || signature->get_ref<const std::string&>().empty();
}

}  // namespace

bool may_have_unsigned_thinking(std::string_view body) {
  constexpr std::string_view kKey = "\"signature\"";
  for (std::size_t pos = body.find(kKey); pos != std::string_view::npos; pos = body.find(kKey, pos + 1)) {
    std::size_t i = pos + kKey.size();
    while (i < body.size() && is_space(body[i]))
      ++i;
    if (i >= body.size() || body[i] != ':') continue;
    ++i;
    while (i < body.size() && is_space(body[i]))
      ++i;
    if (body.substr(i, 2) == "\"\"") {
      return true;
    }
  }
  return false;
}

std::string strip_unsigned_thinking(std::string body) {
  if (!may_have_unsigned_thinking(body)) {
    return body;
  }
  auto request = nlohmann::json::parse(body, nullptr, false);
  auto messages = request.is_object() ? request.find("messages") : request.end();
  if (request.is_discarded() || !request.is_object() || messages == request.end() || !messages->is_array()) {
    return body;
  }
  bool removed = false;
  for (auto& message : *messages) {
    auto content = message.is_object() ? message.find("content") : message.end();
    if (!message.is_object() || content == message.end() || !content->is_array()) {
      continue;
    }
    const std::size_t before = content->size();
    content->erase(std::remove_if(content->begin(), content->end(), unsigned_thinking), content->end());
    removed = removed || content->size() != before;
  }
  return removed ? request.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) : body;
}

}  // namespace balancer::detail
