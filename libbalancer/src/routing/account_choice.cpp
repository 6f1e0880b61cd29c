// account_choice.cpp — see account_choice.h.
#include "routing/account_choice.h"

#include <algorithm>
#include <cstdint>
#include <utility>

namespace balancer::detail {
namespace {

// FNV-1a over the conversation key, a separator and the account, then a 64-bit finaliser
// (splitmix64) so that accounts differing in one character get unrelated scores.
std::uint64_t score(std::string_view conversation, std::string_view account) {
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&h](std::string_view bytes) {
    for (unsigned char c : bytes) {
      h ^= c;
      h *= 1099511628211ull;
    }
  };
  mix(conversation);
  mix(std::string_view("\n", 1));
  mix(account);
  h += 0x9e3779b97f4a7c15ull;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

}  // namespace

std::vector<std::string> rank_accounts(std::string_view conversation, std::vector<std::string> accounts) {
  std::vector<std::pair<std::uint64_t, std::string>> scored;
  scored.reserve(accounts.size());
  for (std::string& account : accounts) {
    scored.emplace_back(score(conversation, account), std::move(account));
  }
  std::sort(scored.begin(), scored.end(),
            [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
  std::vector<std::string> out;
  out.reserve(scored.size());
  for (auto& entry : scored) {
    out.push_back(std::move(entry.second));
  }
  return out;
}

bool account_serves(const BalancerConfig& config, const ProviderConfig& provider, std::string_view email) {
  if (provider.auth_type != AuthType::OAuth) {
    return false;
  }
  if (!provider.account_email.empty() && normalize_account_email(provider.account_email) == email) {
    return true;
  }
  bool routed = false;
  bool unbound_entry = false;
  for (const ModelRoute& route : config.model_routes) {
    for (const RouteEntry& entry : route.entries) {
      if (entry.provider != provider.name) {
        continue;
      }
      routed = true;
      if (entry.account_email.empty()) {
        unbound_entry = true;
      } else if (normalize_account_email(entry.account_email) == email) {
        return true;
      }
    }
  }
  // A route entry's account overrides the provider's; an entry without one uses the provider's,
  // or, when the provider binds none either, any logged-in account.
  return provider.account_email.empty() && (unbound_entry || !routed);
}

std::vector<std::string> accounts_serving(const BalancerConfig& config, const ProviderConfig& provider,
                                          std::vector<std::string> logged_in) {
  std::erase_if(logged_in, [&](const std::string& email) { return !account_serves(config, provider, email); });
  return logged_in;
}

}  // namespace balancer::detail
