// provider_fixture.h — the small pieces the failover and recovery integration tests share: a
// config with one "*" route over named providers, Anthropic request headers, and a provider's
// entry in GET /providers.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "fake_upstream.h"  // HeaderList
#include "test_balancer.h"

namespace balancer::test {

// Content-Type: application/json and anthropic-version.
HeaderList json_headers();

// Providers (name, url) in this order, one route "*" listing them with `entry_extras[i]` for
// each entry (consecutive priorities when not given), and `settings` lines.
std::string config_yaml(const std::vector<std::pair<std::string, std::string>>& providers,
                        std::string_view settings = "", const std::vector<std::string>& entry_extras = {});

// The /providers entry of `name`; throws when it is not listed or /providers fails.
nlohmann::json provider_status(const TestBalancer& balancer, std::string_view name);

}  // namespace balancer::test
