// oauth_pkce.cpp — the small pure helpers of the OAuth login (spec §9): base64url, the PKCE S256
// challenge, random URL-safe tokens from OpenSSL's CSPRNG and the account-email key. Stateless;
// any thread may call any of them at any time.
#include <balancer/oauth_client.h>

#include <array>
#include <stdexcept>

#include <openssl/rand.h>
#include <openssl/sha.h>

namespace balancer {

std::string base64url(std::string_view bytes) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
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
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(verifier.data()), verifier.size(), digest.data());
  return base64url(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

std::string random_url_token(std::size_t bytes) {
  if (bytes > (1u << 16)) {
    throw std::invalid_argument("random_url_token: at most 65536 bytes");
  }
  std::string raw(bytes, '\0');
  if (bytes > 0 &&
      RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    throw std::runtime_error("OpenSSL RAND_bytes failed: no random bytes for an OAuth token");
  }
  return base64url(raw);
}

std::string normalize_account_email(std::string_view email) {
  const auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  while (!email.empty() && is_space(email.front())) {
    email.remove_prefix(1);
  }
  while (!email.empty() && is_space(email.back())) {
    email.remove_suffix(1);
  }
  std::string out(email);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

}  // namespace balancer
