// conversation_affinity.h — remembers which provider served a conversation, so its next
// requests go back there while the provider is healthy (its prompt cache stays warm).
#pragma once

#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <balancer/clock.h>

namespace balancer {

// A bounded map conversation key → provider with expiry, least recently used entries evicted
// first. Keys are `metadata.user_id`, else the `x-claude-code-session-id` header. It only
// reorders healthy candidates: it never blocks failover and never affects other conversations.
// Thread-safe.
class ConversationAffinity {
 public:
  explicit ConversationAffinity(std::size_t max_entries = 10000);

  // The provider that last served `key`, unless the entry expired by `now`.
  std::optional<std::string> get(std::string_view key, SteadyTime now);
  // Records that `provider` served `key`; the entry lives until `expires_at`.
  void put(std::string_view key, std::string_view provider, SteadyTime expires_at);
  std::size_t size() const;

 private:
  struct Entry {
    std::string provider;
    SteadyTime expires_at;
    std::list<std::string>::iterator lru;  // position in lru_ (front = most recent)
  };
  const std::size_t max_entries_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;  // guarded by mutex_
  std::list<std::string> lru_;                      // guarded by mutex_
};

}  // namespace balancer
