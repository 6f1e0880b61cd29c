#include <catch2/catch.hpp>

#include <string>

#include "core/sha256.h"

using namespace balancer::detail;

namespace {

// FIPS 180-2 / NIST test vectors.
constexpr const char* kEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr const char* kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr const char* kTwoBlocks = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
constexpr const char* kMillionA = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

}  // namespace

TEST_CASE("sha256_hex gives the NIST digests in lowercase hex", "[unit][sha256]") {
  CHECK(sha256_hex("") == kEmpty);
  CHECK(sha256_hex("abc") == kAbc);
  CHECK(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") == kTwoBlocks);
  CHECK(sha256_hex(std::string(1'000'000, 'a')) == kMillionA);
}

TEST_CASE("sha256 gives the raw 32 bytes; to_hex renders them", "[unit][sha256]") {
  const auto digest = sha256("abc");
  REQUIRE(digest);
  CHECK((*digest)[0] == 0xba);
  CHECK((*digest)[31] == 0xad);
  CHECK(to_hex(*digest) == kAbc);
  Sha256Digest zeros{};
  CHECK(to_hex(zeros) == std::string(64, '0'));
}

TEST_CASE("incremental Sha256 equals the one-shot digest, however the bytes are split", "[unit][sha256]") {
  const std::string text(1'000'000, 'a');
  Sha256 sha;
  std::size_t at = 0;
  for (std::size_t step = 1; at < text.size(); step = step * 3 + 1) {
    const std::size_t n = std::min(step, text.size() - at);
    sha.update(std::string_view(text).substr(at, n));
    at += n;
  }
  sha.update("");  // nothing changes
  const auto digest = sha.finish();
  REQUIRE(digest);
  CHECK(to_hex(*digest) == kMillionA);
  CHECK_FALSE(sha.finish());  // spent
}

TEST_CASE("SHA-256 helpers never throw", "[unit][sha256]") {
  static_assert(noexcept(sha256("")));
  static_assert(noexcept(sha256_hex("")));
  static_assert(noexcept(Sha256()));
  static_assert(noexcept(std::declval<Sha256&>().update("")));
  static_assert(noexcept(std::declval<Sha256&>().finish()));
  SUCCEED();
}
