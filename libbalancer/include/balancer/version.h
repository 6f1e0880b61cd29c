// version.h — the library version.
#pragma once

namespace balancer {
inline constexpr const char* kVersion = "0.1.0";
}  // namespace balancer
