// client_auth.h — checks the balancer's own client keys (spec §10).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <balancer/config.h>
#include <balancer/http.h>

namespace balancer {

// Decides whether a request may use the balancer. Keys are compared in constant time (SHA-256
// digests compared with CRYPTO_memcmp), so neither a key's content nor its length leaks through
// timing. Immutable after construction; thread-safe.
class ClientAuth {
 public:
  explicit ClientAuth(const AuthSettings& settings);

  enum class Access { Client, Admin };

  // OK when auth is disabled, the path is exempt, or the request carries a valid key in
  // `x-api-key` or `Authorization: Bearer`. Admin access requires `admin_api_key` when one is
  // configured. Errors: ErrorCode::Unauthorized with a message that never echoes the key.
  Result<void> check(std::string_view path, const Headers& headers, Access access) const;

  // True when `credential` (a raw x-api-key value or a Bearer token) is one of the balancer's
  // own keys, so passthrough providers never receive it.
  bool is_balancer_key(std::string_view credential) const;

  bool enabled() const { return enabled_; }

 private:
  using Digest = std::string;  // 32 bytes
  static Digest digest(std::string_view key);
  static bool matches_any(const std::vector<Digest>& digests, std::string_view credential);

  bool enabled_;
  std::vector<Digest> client_keys_;
  std::vector<Digest> admin_keys_;
  std::vector<std::string> exempt_paths_;
};

// The credential a request carries: `x-api-key`, else the token of `Authorization: Bearer`.
// Empty when neither is present.
std::string_view presented_credential(const Headers& headers);

}  // namespace balancer
