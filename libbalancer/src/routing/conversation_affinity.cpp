#include "routing/conversation_affinity.h"

namespace balancer {

ConversationAffinity::ConversationAffinity(std::size_t max_entries) : store_(make_memory_state_store(max_entries)) {}

ConversationAffinity::ConversationAffinity(std::shared_ptr<StateStore> store)
    : store_(store ? std::move(store) : make_memory_state_store()) {}

}  // namespace balancer
