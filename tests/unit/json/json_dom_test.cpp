// parse_json_dom builds exactly the tree nlohmann::json::parse builds, value kinds included.
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "json/json_dom.h"

namespace {

using balancer::detail::parse_json_dom;

// Equal values of equal kinds all the way down (nlohmann's == calls 5 and 5u equal).
bool same_tree(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.type() != b.type()) {
    return false;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it) {
      const auto other = b.find(it.key());
      if (other == b.end() || !same_tree(*it, *other)) return false;
    }
    return true;
  }
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!same_tree(a[i], b[i])) return false;
    }
    return true;
  }
  return a == b && a.dump() == b.dump();
}

void check(const std::string& text) {
  INFO(text);
  const nlohmann::json expected = nlohmann::json::parse(text);
  const nlohmann::json built = parse_json_dom(text);
  CHECK(same_tree(built, expected));
  CHECK(built.dump() == expected.dump());
}

}  // namespace

TEST_CASE("parse_json_dom: numbers keep nlohmann's kinds and values", "[unit][json]") {
  check(R"({"a":0,"b":-1,"c":18446744073709551615,"d":9223372036854775807,"e":-9223372036854775808})");
  check(R"([1.0,-0.0,1e308,5e-324,2.5E+3,0.1,123456789012345678901234567890])");  // the last: beyond 64 bits
  check(R"({"max_tokens":32000,"temperature":0.7,"top_k":-5})");
}

TEST_CASE("parse_json_dom: strings, escapes and duplicate keys", "[unit][json]") {
  check(R"({"s":"caf\u00e9 \ud83d\ude00 \"q\" \\ \n\t\u0000 end","e":"","k":"first","k":"last"})");
  check("{\"utf8\":\"日本語 — naïve\"}");
  check(R"([[],{},[{}],null,true,false])");
}

TEST_CASE("parse_json_dom: deeper nesting than simdjson's 1024 levels falls back to nlohmann", "[unit][json]") {
  const std::string deep = std::string(1100, '[') + std::string(1100, ']');  // nlohmann's == recurses
  check(deep);
}

TEST_CASE("parse_json_dom: a text that is not JSON gives a discarded value", "[unit][json]") {
  CHECK(parse_json_dom("{\"a\":").is_discarded());
  CHECK(parse_json_dom("").is_discarded());
}
