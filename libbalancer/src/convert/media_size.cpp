// media_size.cpp — header-only decoding of base64 images and a streaming page count for PDFs.
#include "convert/media_size.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace balancer::detail {
namespace {

// ---- Base64 -----------------------------------------------------------------------------------

constexpr std::int8_t kNotBase64 = -1;

constexpr std::array<std::int8_t, 256> make_base64_values() {
  std::array<std::int8_t, 256> values{};
  values.fill(kNotBase64);
  constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (std::size_t i = 0; i < alphabet.size(); ++i) {
    values[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
  }
  values['-'] = 62;  // base64url
  values['_'] = 63;
  return values;
}

constexpr std::array<std::int8_t, 256> kBase64Values = make_base64_values();

std::int8_t base64_value(char c) { return kBase64Values[static_cast<unsigned char>(c)]; }

// A "data:image/png;base64," prefix, if any, is not part of the payload.
std::string_view strip_data_url(std::string_view text) {
  if (text.substr(0, 5) != "data:") return text;
  const std::size_t comma = text.find(',');
  return comma == std::string_view::npos ? text : text.substr(comma + 1);
}

// Random access to the bytes of an unbroken base64 string (no line breaks): byte k lives in the
// 4-character group k / 3.
class Base64Bytes {
 public:
  explicit Base64Bytes(std::string_view text) : text_(strip_data_url(text)) {}

  std::optional<std::uint8_t> at(std::size_t index) const {
    const std::size_t group = index / 3 * 4;
    const std::size_t first = group + index % 3;  // the two characters holding this byte
    if (first + 1 >= text_.size()) return std::nullopt;
    const std::int8_t high = base64_value(text_[first]);
    const std::int8_t low = base64_value(text_[first + 1]);
    if (high == kNotBase64 || low == kNotBase64) return std::nullopt;
    const auto h = static_cast<unsigned>(high);
    const auto l = static_cast<unsigned>(low);
    switch (index % 3) {
      case 0: return static_cast<std::uint8_t>((h << 2) | (l >> 4));
      case 1: return static_cast<std::uint8_t>(((h & 0x0Fu) << 4) | (l >> 2));
      default: return static_cast<std::uint8_t>(((h & 0x03u) << 6) | l);
    }
  }

  std::optional<std::uint32_t> big_endian(std::size_t index, std::size_t length) const {
    std::uint32_t value = 0;
    for (std::size_t i = 0; i < length; ++i) {
      const auto byte = at(index + i);
      if (!byte) return std::nullopt;
      value = (value << 8) | *byte;
    }
    return value;
  }

  std::optional<std::uint32_t> little_endian(std::size_t index, std::size_t length) const {
    std::uint32_t value = 0;
    for (std::size_t i = length; i-- > 0;) {
      const auto byte = at(index + i);
      if (!byte) return std::nullopt;
      value = (value << 8) | *byte;
    }
    return value;
  }

  bool starts_with(std::size_t index, std::string_view expected) const {
    for (std::size_t i = 0; i < expected.size(); ++i) {
      if (at(index + i) != static_cast<std::uint8_t>(expected[i])) return false;
    }
    return true;
  }

 private:
  std::string_view text_;
};

// ---- Image headers ----------------------------------------------------------------------------

std::optional<ImageSize> make_size(std::optional<std::uint32_t> width, std::optional<std::uint32_t> height) {
  if (!width || !height || *width == 0 || *height == 0) return std::nullopt;
  return ImageSize{*width, *height};
}

std::optional<ImageSize> png_size(const Base64Bytes& bytes) {
  if (!bytes.starts_with(0, "\x89PNG\r\n\x1a\n") || !bytes.starts_with(12, "IHDR")) {
    return std::nullopt;
  }
  return make_size(bytes.big_endian(16, 4), bytes.big_endian(20, 4));
}

std::optional<ImageSize> gif_size(const Base64Bytes& bytes) {
  if (!bytes.starts_with(0, "GIF87a") && !bytes.starts_with(0, "GIF89a")) return std::nullopt;
  return make_size(bytes.little_endian(6, 2), bytes.little_endian(8, 2));
}

bool is_start_of_frame(std::uint8_t marker) {
  return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
}

bool is_standalone_marker(std::uint8_t marker) {
  return marker == 0x01 || marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7);
}

// Walks the segments (APPn, EXIF, tables...) to the first start-of-frame marker.
std::optional<ImageSize> jpeg_size(const Base64Bytes& bytes) {
  if (bytes.at(0) != 0xFF || bytes.at(1) != 0xD8) return std::nullopt;
  constexpr int kMaxSegments = 512;
  std::size_t pos = 2;
  for (int segment = 0; segment < kMaxSegments; ++segment) {
    if (bytes.at(pos) != 0xFF) return std::nullopt;
    std::size_t marker_at = pos + 1;
    while (bytes.at(marker_at) == 0xFF)
      ++marker_at;  // fill bytes
    const auto marker = bytes.at(marker_at);
    if (!marker || *marker == 0xD9 || *marker == 0xDA) return std::nullopt;  // EOI / SOS first
    if (is_start_of_frame(*marker)) {
      return make_size(bytes.big_endian(marker_at + 6, 2), bytes.big_endian(marker_at + 4, 2));
    }
    if (is_standalone_marker(*marker)) {
      pos = marker_at + 1;
      continue;
    }
    const auto length = bytes.big_endian(marker_at + 1, 2);
    if (!length || *length < 2) return std::nullopt;
    pos = marker_at + 1 + *length;
  }
  return std::nullopt;
}

std::optional<ImageSize> webp_size(const Base64Bytes& bytes) {
  if (!bytes.starts_with(0, "RIFF") || !bytes.starts_with(8, "WEBP")) return std::nullopt;
  if (bytes.starts_with(12, "VP8 ")) {  // lossy: 14-bit sizes after the frame start code
    const auto width = bytes.little_endian(26, 2);
    const auto height = bytes.little_endian(28, 2);
    if (!width || !height) return std::nullopt;
    return make_size(*width & 0x3FFFu, *height & 0x3FFFu);
  }
  if (bytes.starts_with(12, "VP8L")) {  // lossless: 14-bit sizes minus one, bit-packed
    const auto bits = bytes.little_endian(21, 4);
    if (!bits) return std::nullopt;
    return make_size((*bits & 0x3FFFu) + 1, ((*bits >> 14) & 0x3FFFu) + 1);
  }
  if (bytes.starts_with(12, "VP8X")) {  // extended: 24-bit canvas sizes minus one
    const auto width = bytes.little_endian(24, 3);
    const auto height = bytes.little_endian(27, 3);
    if (!width || !height) return std::nullopt;
    return make_size(*width + 1, *height + 1);
  }
  return std::nullopt;
}

// ---- PDF pages --------------------------------------------------------------------------------

// "/Type /Page" (whitespace optional) not followed by 's', starting before `limit`.
std::size_t count_page_markers(std::string_view window, std::size_t limit) {
  constexpr std::string_view kType = "/Type";
  constexpr std::string_view kPage = "/Page";
  std::size_t count = 0;
  for (std::size_t at = window.find(kType); at != std::string_view::npos && at < limit;
       at = window.find(kType, at + 1)) {
    std::size_t pos = at + kType.size();
    while (pos < window.size() && pos < at + kType.size() + 3 &&
           (window[pos] == ' ' || window[pos] == '\n' || window[pos] == '\r')) {
      ++pos;
    }
    if (window.substr(pos, kPage.size()) != kPage) continue;
    pos += kPage.size();
    if (pos >= window.size() || window[pos] != 's') ++count;
  }
  return count;
}

// Decodes `base64` chunk by chunk into a fixed buffer, carrying a small overlap so that a marker
// split across two chunks is still seen once.
class PdfPageCounter {
 public:
  void add(std::uint8_t byte) {
    buffer_[filled_++] = static_cast<char>(byte);
    if (filled_ == buffer_.size()) flush_keeping_overlap();
  }

  std::size_t finish() {
    pages_ += count_page_markers(window(), filled_);
    return pages_;
  }

 private:
  static constexpr std::size_t kOverlap = 16;

  std::string_view window() const { return {buffer_.data(), filled_}; }

  void flush_keeping_overlap() {
    pages_ += count_page_markers(window(), filled_ - kOverlap);
    std::copy(buffer_.end() - kOverlap, buffer_.end(), buffer_.begin());
    filled_ = kOverlap;
  }

  std::array<char, 4096> buffer_{};
  std::size_t filled_ = 0;
  std::size_t pages_ = 0;
};

}  // namespace

// ---- Public functions -------------------------------------------------------------------------

std::optional<ImageSize> base64_image_size(std::string_view base64) noexcept {
  const Base64Bytes bytes(base64);
  if (auto size = png_size(bytes)) return size;
  if (auto size = jpeg_size(bytes)) return size;
  if (auto size = gif_size(bytes)) return size;
  return webp_size(bytes);
}

std::int64_t image_tokens(ImageSize size) noexcept {
  constexpr double kMaxLongEdge = 1568.0;
  constexpr double kPixelsPerToken = 750.0;
  double width = size.width;
  double height = size.height;
  const double long_edge = std::max(width, height);
  if (long_edge > kMaxLongEdge) {
    width *= kMaxLongEdge / long_edge;
    height *= kMaxLongEdge / long_edge;
  }
  const double tokens = std::ceil(width * height / kPixelsPerToken);
  return std::clamp(static_cast<std::int64_t>(tokens), std::int64_t{1}, kUnknownImageTokens);
}

std::size_t base64_decoded_size(std::string_view base64) noexcept {
  std::string_view text = strip_data_url(base64);
  while (!text.empty() && (text.back() == '=' || text.back() == '\n' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text.size() / 4 * 3 + (text.size() % 4 == 0 ? 0 : text.size() % 4 - 1);
}

std::size_t base64_pdf_page_count(std::string_view base64) noexcept {
  PdfPageCounter counter;
  unsigned quad = 0;
  int bits = 0;
  for (const char c : strip_data_url(base64)) {
    const std::int8_t value = base64_value(c);
    if (value == kNotBase64) continue;  // line breaks, padding
    quad = (quad << 6) | static_cast<unsigned>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      counter.add(static_cast<std::uint8_t>((quad >> bits) & 0xFFu));
    }
  }
  return counter.finish();
}

}  // namespace balancer::detail
