// account_choice.h — which OAuth accounts may serve a provider (the one rule the Router, the
// status reports and /oauth/status share), and which of them serves a conversation on a
// provider that binds none (spec §9): rendezvous hashing of the conversation key, so a
// conversation stays on one account (its prompt cache stays warm) and adding or removing an
// account moves only the conversations that account wins or held. Pure; any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <balancer/config.h>

namespace balancer::detail {

// `accounts` ordered by preference for `conversation` (highest rendezvous score first; ties by
// email). The same inputs give the same order on every platform. An empty conversation key is
// a conversation like any other (all such requests prefer the same account).
std::vector<std::string> rank_accounts(std::string_view conversation, std::vector<std::string> accounts);

// Whether the OAuth provider `provider` may be served by account `email` (normalised): the
// provider binds that account, a route entry binds it to the provider (an entry's account
// overrides the provider's), or neither the provider nor some route entry using it binds one
// (or no route uses it), so any logged-in account may serve it. False for a non-OAuth provider.
bool account_serves(const BalancerConfig& config, const ProviderConfig& provider, std::string_view email);

// The accounts of `logged_in` that may serve `provider` (account_serves), in their order.
std::vector<std::string> accounts_serving(const BalancerConfig& config, const ProviderConfig& provider,
                                          std::vector<std::string> logged_in);

}  // namespace balancer::detail
