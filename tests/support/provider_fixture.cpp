// provider_fixture.cpp — see provider_fixture.h.
#include "provider_fixture.h"

#include <stdexcept>

#include <fmt/format.h>

#include "test_client.h"

namespace balancer::test {

HeaderList json_headers() { return {{"Content-Type", "application/json"}, {"anthropic-version", "2023-06-01"}}; }

std::string config_yaml(const std::vector<std::pair<std::string, std::string>>& providers, std::string_view settings,
                        const std::vector<std::string>& entry_extras) {
  std::string yaml = "providers:\n";
  for (const auto& [name, url] : providers) {
    yaml += provider_yaml(name, url);
  }
  yaml += "model_routes:\n  \"*\":\n";
  for (std::size_t i = 0; i < providers.size(); ++i) {
    const std::string extra = i < entry_extras.size() ? entry_extras[i] : fmt::format("priority: {}", i + 1);
    yaml += fmt::format("    - {{provider: \"{}\", {}}}\n", providers[i].first, extra);
  }
  return yaml + test_settings_yaml(settings);
}

nlohmann::json provider_status(const TestBalancer& balancer, std::string_view name) {
  const ClientResponse response = get(balancer.url("/providers"));
  if (response.status != 200) {
    throw std::runtime_error(fmt::format("GET /providers answered {}", response.status));
  }
  const nlohmann::json report = nlohmann::json::parse(response.body);
  for (const nlohmann::json& p : report.at("providers")) {
    if (p.at("name").get<std::string>() == name) {
      return p;
    }
  }
  throw std::runtime_error(fmt::format("/providers does not list '{}': {}", name, response.body));
}

}  // namespace balancer::test
