#include "core/sha256.h"

#include <openssl/evp.h>

namespace balancer::detail {

Sha256::Sha256() noexcept : ctx_(EVP_MD_CTX_new()), ok_(false) {
  ok_ = ctx_ != nullptr && EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) == 1;
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

void Sha256::update(std::string_view bytes) noexcept {
  if (ok_ && !bytes.empty()) {
    ok_ = EVP_DigestUpdate(ctx_, bytes.data(), bytes.size()) == 1;
  }
}

std::optional<Sha256Digest> Sha256::finish() noexcept {
  if (!ok_) {
    return std::nullopt;
  }
  ok_ = false;  // spent
  std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
  unsigned int size = 0;
  if (EVP_DigestFinal_ex(ctx_, out.data(), &size) != 1 || size != kSha256Size) {
    return std::nullopt;
  }
  Sha256Digest digest{};
  for (std::size_t i = 0; i < kSha256Size; ++i) {
    digest[i] = out[i];
  }
  return digest;
}

std::optional<Sha256Digest> sha256(std::string_view bytes) noexcept {
  Sha256 sha;
  sha.update(bytes);
  return sha.finish();
}

std::string to_hex(const Sha256Digest& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * digest.size());
  for (const unsigned char byte : digest) {
    out += kHex[byte >> 4];
    out += kHex[byte & 0xf];
  }
  return out;
}

std::string sha256_hex(std::string_view bytes) noexcept {
  const auto digest = sha256(bytes);
  if (!digest) {
    return {};
  }
  try {
    return to_hex(*digest);
  } catch (...) {  // std::bad_alloc
    return {};
  }
}

}  // namespace balancer::detail
