// dump_json writes exactly what nlohmann's compact dump (invalid UTF-8 replaced) writes.
#include <cstdint>
#include <limits>
#include <string>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "json/json_dump.h"

namespace {

std::string reference(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

TEST_CASE("dump_json: strings with every kind of escape and non-ASCII text", "[unit][json]") {
  std::string controls;
  for (int c = 0; c < 0x20; ++c) {
    controls += static_cast<char>(c);
  }
  for (const std::string& s :
       {std::string(""), std::string("plain"), std::string("\"q\" \\ / \x7f"), controls,
        std::string("caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80"), std::string(70000, 'x') + "\n"}) {
    const nlohmann::json value = {{"text", s}, {s, 1}};
    CHECK(balancer::detail::dump_json(value) == reference(value));
  }
}

TEST_CASE("dump_json: invalid UTF-8 is replaced as nlohmann replaces it", "[unit][json]") {
  const nlohmann::json value = nlohmann::json::array({std::string("ok \xff\xfe then \xc3"), "fine"});
  CHECK(balancer::detail::dump_json(value) == reference(value));
}

TEST_CASE("dump_json: numbers, literals and nesting", "[unit][json]") {
  const nlohmann::json value = {{"i", -42},
                                {"u", std::numeric_limits<std::uint64_t>::max()},
                                {"min", std::numeric_limits<std::int64_t>::min()},
                                {"d", {1.0, 0.1, -0.0, 1e308, 5e-324, 2.5e-7}},
                                {"lit", {true, false, nullptr}},
                                {"empty", {{"o", nlohmann::json::object()}, {"a", nlohmann::json::array()}}},
                                {"deep", {{{"x", {{{"y", nlohmann::json::array({1, "2", {{"z", 3}}})}}}}}}}};
  CHECK(balancer::detail::dump_json(value) == reference(value));
}

TEST_CASE("dump_json: escapes at every offset of the 8-byte words it skips", "[unit][json]") {
  // Deterministic strings from bytes that matter: plain, the escaped ones, 0x7f, UTF-8 of é.
  const std::string alphabet[] = {"a", "\"", "\\", "\x01", "\x1f", " ", "\x7f", "\xc3\xa9", "\n"};
  std::uint32_t x = 12345;
  for (int round = 0; round < 2000; ++round) {
    std::string s;
    const int length = round % 41;
    for (int i = 0; i < length; ++i) {
      x = x * 1103515245u + 12345u;
      s += alphabet[(x >> 16) % 9];
    }
    const nlohmann::json value = nlohmann::json::array({s});
    REQUIRE(balancer::detail::dump_json(value) == reference(value));
  }
}
