// account_choice.h — which OAuth account serves a conversation on a provider that binds none
// (spec §9): rendezvous hashing of the conversation key, so a conversation stays on one
// account (its prompt cache stays warm) and adding or removing an account moves only the
// conversations that account wins or held. Pure; any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace balancer::detail {

// `accounts` ordered by preference for `conversation` (highest rendezvous score first; ties by
// email). The same inputs give the same order on every platform. An empty conversation key is
// a conversation like any other (all such requests prefer the same account).
std::vector<std::string> rank_accounts(std::string_view conversation, std::vector<std::string> accounts);

}  // namespace balancer::detail
