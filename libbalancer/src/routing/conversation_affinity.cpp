#include <balancer/conversation_affinity.h>

namespace balancer {

ConversationAffinity::ConversationAffinity(std::size_t max_entries)
    : max_entries_(max_entries < 1 ? 1 : max_entries) {}

std::optional<std::string> ConversationAffinity::get(std::string_view key, SteadyTime now) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(std::string(key));
  if (it == entries_.end()) {
    return std::nullopt;
  }
  if (now >= it->second.expires_at) {
    lru_.erase(it->second.lru);
    entries_.erase(it);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.provider;
}

void ConversationAffinity::put(std::string_view key, std::string_view provider,
                               SteadyTime expires_at) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(std::string(key));
  if (it != entries_.end()) {
    it->second.provider.assign(provider);
    it->second.expires_at = expires_at;
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return;
  }
  if (entries_.size() >= max_entries_) {
    entries_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.emplace_front(key);
  entries_.emplace(std::string(key), Entry{std::string(provider), expires_at, lru_.begin()});
}

std::size_t ConversationAffinity::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace balancer
