// media_size.h — sizes of base64 media without decoding it whole, for the count_tokens estimate:
// an image's pixel size from its header (PNG, JPEG, GIF, WebP), Anthropic's image token rule,
// and a PDF's page count.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace balancer::detail {

struct ImageSize {
  std::uint32_t width = 0;
  std::uint32_t height = 0;
};

// Tokens charged for an image whose size cannot be read (URL or file source, unknown format).
inline constexpr std::int64_t kUnknownImageTokens = 1600;

// Width and height read from the header of a base64 PNG, JPEG (SOF marker), GIF or WebP
// (VP8, VP8L, VP8X). Only the bytes needed are decoded. nullopt for other formats, truncated or
// malformed data. Pure; never throws.
std::optional<ImageSize> base64_image_size(std::string_view base64) noexcept;

// Anthropic's rule: width × height / 750 after scaling the long edge down to 1568 px, at most
// kUnknownImageTokens (≈ 1.2 megapixels); at least 1.
std::int64_t image_tokens(ImageSize size) noexcept;

// Bytes that `base64` decodes to (padding and a trailing newline discounted).
std::size_t base64_decoded_size(std::string_view base64) noexcept;

// Page objects ("/Type /Page", not "/Pages") found in a base64 PDF; 0 when none is visible
// (e.g. all inside compressed object streams). One pass, no allocation.
std::size_t base64_pdf_page_count(std::string_view base64) noexcept;

}  // namespace balancer::detail
