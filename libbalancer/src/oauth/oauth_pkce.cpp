// oauth_pkce.cpp — the small pure helpers of the OAuth login (spec §9): base64url, the PKCE S256
// challenge, random URL-safe tokens from OpenSSL's CSPRNG and the account-email key. Stateless;
// any thread may call any of them at any time.
#include <balancer/oauth_client.h>

#include <limits>

#include <openssl/rand.h>

#include "core/sha256.h"

namespace balancer {

std::string base64url(std::string_view bytes) {
  static constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const auto n = (static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16) |
                   (static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8) |
                   static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 2]));
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    unsigned n = static_cast<unsigned>(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) {
      n |= static_cast<unsigned>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    }
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    if (rest == 2) {
      out += kAlphabet[(n >> 6) & 63];
    }
  }
  return out;
}

std::string pkce_challenge_s256(std::string_view verifier) {
  const auto digest = detail::sha256(verifier);
  if (!digest) {
    return {};
  }
  return base64url(std::string_view(reinterpret_cast<const char*>(digest->data()), digest->size()));
}

Result<std::string> random_url_token(std::size_t bytes) noexcept {
  static_assert(kMaxRandomUrlTokenBytes <= static_cast<std::size_t>(std::numeric_limits<int>::max()));
  try {
    if (bytes > kMaxRandomUrlTokenBytes) {
      return make_error(ErrorCode::Internal, "random_url_token: at most 65536 bytes");
    }
    std::string raw(bytes, '\0');
    if (bytes > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
      return make_error(ErrorCode::Internal, "OpenSSL RAND_bytes failed: no random bytes for an OAuth token");
    }
    return base64url(raw);
  } catch (...) {  // std::bad_alloc
    // Short enough for the small-string buffer: building this error allocates nothing.
    return tl::unexpected(Error{ErrorCode::Internal, "out of memory"});
  }
}

}  // namespace balancer
