#include "json/json_dom.h"

#include <simdjson.h>

#include <cstdint>
#include <string>

namespace balancer::detail {
namespace {

nlohmann::json to_dom(simdjson::dom::element e) {
  using simdjson::dom::element_type;
  switch (e.type()) {
    case element_type::OBJECT: {
      nlohmann::json out = nlohmann::json::object();
      const simdjson::dom::object object = e.get_object().value_unsafe();
      for (const auto field : object) {
        out[std::string(field.key)] = to_dom(field.value);  // the last duplicate wins, as in nlohmann
      }
      return out;
    }
    case element_type::ARRAY: {
      nlohmann::json out = nlohmann::json::array();
      const simdjson::dom::array array = e.get_array().value_unsafe();
      out.get_ref<nlohmann::json::array_t&>().reserve(array.size());
      for (const simdjson::dom::element value : array) {
        out.push_back(to_dom(value));
      }
      return out;
    }
    case element_type::STRING: return std::string(e.get_string().value_unsafe());
    case element_type::INT64: {
      // nlohmann parses every non-negative integer as unsigned.
      const std::int64_t value = e.get_int64().value_unsafe();
      return value >= 0 ? nlohmann::json(static_cast<std::uint64_t>(value)) : nlohmann::json(value);
    }
    case element_type::UINT64: return e.get_uint64().value_unsafe();
    case element_type::DOUBLE: return e.get_double().value_unsafe();
    case element_type::BOOL: return e.get_bool().value_unsafe();
    case element_type::NULL_VALUE: return nullptr;
  }
  return nullptr;
}

}  // namespace

nlohmann::json parse_json_dom(std::string_view body) {
  simdjson::dom::parser parser;
  const simdjson::padded_string padded(body);  // simdjson reads up to 64 bytes past the end
  const auto document = parser.parse(padded);
  if (document.error() == simdjson::SUCCESS) {
    return to_dom(document.value_unsafe());
  }
  return nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
}

}  // namespace balancer::detail
