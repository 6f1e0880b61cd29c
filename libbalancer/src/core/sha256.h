// sha256.h — the one SHA-256 of libbalancer (OpenSSL's EVP implementation): one-shot or
// incremental, as raw bytes or lowercase hex. Never throws; OpenSSL failing (it allocates a
// context, so: no memory) is reported as std::nullopt / an empty string, never as a wrong digest.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace balancer::detail {

inline constexpr std::size_t kSha256Size = 32;
using Sha256Digest = std::array<unsigned char, kSha256Size>;

// Incremental SHA-256. Not thread-safe; one object per digest.
class Sha256 {
 public:
  Sha256() noexcept;
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(std::string_view bytes) noexcept;
  // The digest of everything updated so far; std::nullopt when OpenSSL failed at any step.
  // Call once: the object is spent afterwards (later calls give std::nullopt).
  std::optional<Sha256Digest> finish() noexcept;

 private:
  evp_md_ctx_st* ctx_;
  bool ok_;
};

// SHA-256 of `bytes`; std::nullopt when OpenSSL failed.
std::optional<Sha256Digest> sha256(std::string_view bytes) noexcept;
// Lowercase hex of `digest` (64 characters). Throws only std::bad_alloc.
std::string to_hex(const Sha256Digest& digest);
// Lowercase hex SHA-256 of `bytes` (64 characters); empty when OpenSSL failed or no memory
// was left for the string.
std::string sha256_hex(std::string_view bytes) noexcept;

}  // namespace balancer::detail
