#include <catch2/catch.hpp>

#include "core/glob.h"

using balancer::detail::glob_match;

TEST_CASE("glob_match: anchored, case-insensitive, '*' is the only wildcard", "[unit][glob]") {
  struct Case {
    const char* pattern;
    const char* text;
    bool match;
  };
  const Case cases[] = {
      {"*", "", true},
      {"*", "claude-sonnet-4-5", true},
      {"*sonnet*", "claude-sonnet-4-5", true},
      {"*SONNET*", "claude-sonnet-4-5", true},
      {"*sonnet*", "claude-haiku-4-5", false},
      {"claude-*", "claude-opus-4", true},
      {"claude-*", "xclaude-opus-4", false},        // anchored at the start
      {"*-4", "claude-opus-4-1", false},            // anchored at the end
      {"claude-3.5*", "claude-3x5-sonnet", false},  // '.' is literal
      {"claude-3.5*", "claude-3.5-sonnet", true},
      {"a?c", "abc", false},  // '?' is literal
      {"a?c", "a?c", true},
      {"[ab]*", "a-model", false},  // brackets are literal
      {"*a*b*c*", "xxaxxbxxcxx", true},
      {"*a*b*c*", "xxaxxcxxbxx", false},
      {"gpt-4o", "GPT-4O", true},  // no star: case-insensitive equality
      {"gpt-4o", "gpt-4o-mini", false},
      {"**", "anything", true},
      {"", "", true},
      {"", "x", false},
  };
  for (const auto& c : cases) {
    INFO(c.pattern << " vs " << c.text);
    CHECK(glob_match(c.pattern, c.text) == c.match);
  }
}

TEST_CASE("glob_match stays linear on adversarial patterns", "[unit][glob]") {
  const std::string text(5000, 'a');
  const std::string pattern = "*a*a*a*a*a*a*a*a*a*a*b";
  CHECK_FALSE(glob_match(pattern, text));
}
