// glob.h — model-name pattern matching for model_routes keys.
#pragma once

#include <string_view>

namespace balancer::detail {

// True when `text` matches `pattern` as a whole, case-insensitively. '*' matches any run of
// characters (including none); every other character is literal. Pure.
bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace balancer::detail
