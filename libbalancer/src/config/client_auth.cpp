#include "config/client_auth.h"

#include <algorithm>

#include <openssl/crypto.h>

#include "core/sha256.h"

namespace balancer {

std::string_view presented_credential(const Headers& headers) {
  if (auto key = find_header(headers, "x-api-key"); key && !key->empty()) {
    return *key;
  }
  if (auto authorization = find_header(headers, "authorization")) {
    std::string_view value = *authorization;
    if (value.size() > 7 && iequals(value.substr(0, 7), "bearer ")) {
      value.remove_prefix(7);
      while (!value.empty() && value.front() == ' ') {
        value.remove_prefix(1);
      }
      return value;
    }
  }
  return {};
}

ClientAuth::ClientAuth(const AuthSettings& settings)
    : enabled_(settings.enabled), exempt_paths_(settings.exempt_paths) {
  for (const auto& key : settings.api_keys) {
    client_keys_.push_back(digest(key));
  }
  if (!settings.admin_api_key.empty()) {
    admin_keys_.push_back(digest(settings.admin_api_key));
  }
}

// Empty when SHA-256 failed (OpenSSL had no memory): an empty digest matches nothing.
ClientAuth::Digest ClientAuth::digest(std::string_view key) {
  const auto sha = detail::sha256(key);
  return sha ? Digest(reinterpret_cast<const char*>(sha->data()), sha->size()) : Digest();
}

bool ClientAuth::matches_any(const std::vector<Digest>& digests, std::string_view credential) {
  const Digest presented = digest(credential);
  if (presented.size() != detail::kSha256Size) {
    return false;
  }
  bool match = false;
  for (const Digest& d : digests) {  // no early exit: every key is compared
    match |= d.size() == presented.size() && CRYPTO_memcmp(d.data(), presented.data(), d.size()) == 0;
  }
  return match;
}

bool ClientAuth::is_balancer_key(std::string_view credential) const {
  return !credential.empty() && (matches_any(client_keys_, credential) || matches_any(admin_keys_, credential));
}

Result<void> ClientAuth::check(std::string_view path, const Headers& headers, Access access) const {
  if (!enabled_ && admin_keys_.empty()) {
    return {};
  }
  if (std::find(exempt_paths_.begin(), exempt_paths_.end(), path) != exempt_paths_.end()) {
    return {};
  }
  const std::string_view credential = presented_credential(headers);
  if (access == Access::Admin && !admin_keys_.empty()) {
    if (!credential.empty() && matches_any(admin_keys_, credential)) {
      return {};
    }
    return make_error(ErrorCode::Unauthorized,
                      credential.empty() ? "this endpoint requires the admin API key" : "invalid admin API key");
  }
  if (!enabled_) {
    return {};
  }
  if (credential.empty()) {
    return make_error(ErrorCode::Unauthorized, "missing API key: send it as x-api-key or Authorization: Bearer");
  }
  if (matches_any(client_keys_, credential) || matches_any(admin_keys_, credential)) {
    return {};
  }
  return make_error(ErrorCode::Unauthorized, "invalid API key");
}

}  // namespace balancer
