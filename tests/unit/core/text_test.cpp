#include <catch2/catch.hpp>

#include <string>

#include <balancer/http.h>

#include "core/text.h"

using namespace balancer::detail;

TEST_CASE("trim strips HTTP whitespace by default, any set when asked", "[unit][text]") {
  CHECK(trim("") == "");
  CHECK(trim(" \t\r\n") == "");
  CHECK(trim("  a b \r\n") == "a b");
  CHECK(trim("\x0b"
             "a"
             "\x0c") ==
        "\x0b"
        "a"
        "\x0c");  // \v and \f are not HTTP whitespace
  CHECK(trim("\x0b a \x0c", kAsciiWhitespace) == "a");
  CHECK(trim("xxaxx", "x") == "a");
  CHECK(trim("abc", "") == "abc");
}

TEST_CASE("trim_left strips only the front", "[unit][text]") {
  CHECK(trim_left("  a  ") == "a  ");
  CHECK(trim_left(" \x0b\x0c<html>", kAsciiWhitespace) == "<html>");
  CHECK(trim_left("   ").empty());
  CHECK(trim_left("").empty());
}

TEST_CASE("ASCII case folding leaves other bytes alone", "[unit][text]") {
  CHECK(ascii_lower('A') == 'a');
  CHECK(ascii_lower('Z') == 'z');
  CHECK(ascii_lower('a') == 'a');
  CHECK(ascii_lower('@') == '@');
  CHECK(ascii_lower('[') == '[');
  CHECK(ascii_lower('\xc3') == '\xc3');
  CHECK(ascii_iequal('Q', 'q'));
  CHECK_FALSE(ascii_iequal('@', '`'));  // 0x40 / 0x60: one bit apart, not letters
  CHECK(to_lower("Content-TYPE: Ä") == "content-type: Ä");
  CHECK(to_lower("").empty());
}

TEST_CASE("icontains finds a part ignoring ASCII case", "[unit][text]") {
  CHECK(icontains("Insufficient CREDITS left", "insufficient credits"));
  CHECK(icontains("abc", "C"));
  CHECK_FALSE(icontains("abc", "abcd"));
  CHECK_FALSE(icontains("", "a"));
  CHECK(icontains("", ""));
  CHECK(icontains("abc", ""));
  CHECK(icontains("没有可用token", "没有可用TOKEN"));
}

TEST_CASE("balancer::iequals is the same comparison", "[unit][text]") {
  CHECK(balancer::iequals("Content-Type", "content-type"));
  CHECK(balancer::iequals("", ""));
  CHECK_FALSE(balancer::iequals("Accept", "Accepts"));
  CHECK_FALSE(balancer::iequals("@", "`"));
}
