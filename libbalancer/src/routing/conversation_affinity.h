// conversation_affinity.h — remembers which provider served a conversation, so its next
// requests go back there while the provider is healthy (its prompt cache stays warm).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <balancer/clock.h>
#include <balancer/state_store.h>

namespace balancer {

// Conversation key → provider with expiry, kept in a StateStore (bounded, least recently used
// entries evicted first in the in-memory store). Keys are `metadata.user_id`, else the
// `x-claude-code-session-id` header. It only reorders healthy candidates: it never blocks
// failover and never affects other conversations. Thread-safe.
class ConversationAffinity {
 public:
  // A private in-memory store of at most `max_entries`.
  explicit ConversationAffinity(std::size_t max_entries = 10000);
  // Shared state.
  explicit ConversationAffinity(std::shared_ptr<StateStore> store);

  // The provider that last served `key`, unless the entry expired by `now`.
  std::optional<std::string> get(std::string_view key, SteadyTime now) { return store_->affinity_get(key, now); }
  // Records that `provider` served `key`; the entry lives until `expires_at`.
  void put(std::string_view key, std::string_view provider, SteadyTime expires_at) {
    store_->affinity_put(key, provider, expires_at);
  }
  std::size_t size() const { return store_->affinity_size(); }

  // After a committed stream of `key` failed on `health_key` (a provider, or provider/account):
  // the conversation's next requests (Claude Code's retry) go elsewhere until `expires_at`.
  void avoid(std::string_view key, std::string_view health_key, SteadyTime expires_at) {
    store_->affinity_put(avoid_key(key), health_key, expires_at);
  }
  // The health key `key` should avoid, unless none or the entry expired by `now`.
  std::optional<std::string> avoided(std::string_view key, SteadyTime now) {
    return store_->affinity_get(avoid_key(key), now);
  }

 private:
  // Kept next to the affinity entries, under a key no conversation key can spell (they are
  // "user:…" or "session:…").
  static std::string avoid_key(std::string_view key) { return "avoid:" + std::string(key); }

  std::shared_ptr<StateStore> store_;
};

}  // namespace balancer
