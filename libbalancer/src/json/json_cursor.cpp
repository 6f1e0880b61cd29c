// json_cursor.cpp — JsonCursor (see json_cursor.h). Relies on the text being valid JSON for
// its structure, but never reads outside the text whatever it is given.
#include "json/json_cursor.h"

#include <algorithm>
#include <charconv>

namespace balancer::detail {
namespace {

bool is_whitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

void append_utf8(std::string& out, std::uint32_t code_point) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

unsigned hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return static_cast<unsigned>(c - '0');
  }
  if (c >= 'a' && c <= 'f') {
    return static_cast<unsigned>(c - 'a' + 10);
  }
  if (c >= 'A' && c <= 'F') {
    return static_cast<unsigned>(c - 'A' + 10);
  }
  return 0;
}

}  // namespace

JsonCursor::JsonCursor(std::string_view validated_json) : text_(validated_json) {
  text_ = text_.substr(0, text_.find('\0'));  // a NUL can only be outside strings: the end
  if (text_.substr(0, 3) == "\xEF\xBB\xBF") {
    pos_ = 3;
  }
}

JsonKind JsonCursor::peek() {
  skip_whitespace();
  const char c = pos_ < text_.size() ? text_[pos_] : 'n';
  switch (c) {
    case '{': return JsonKind::Object;
    case '[': return JsonKind::Array;
    case '"': return JsonKind::String;
    case 't':
    case 'f': return JsonKind::Boolean;
    case 'n': return JsonKind::Null;
    default: return JsonKind::Number;
  }
}

void JsonCursor::enter_object() {
  skip_whitespace();
  advance(1);
}

void JsonCursor::enter_array() { enter_object(); }

bool JsonCursor::next_member(std::string& key) {
  skip_whitespace();
  if (pos_ >= text_.size() || text_[pos_] == '}') {
    advance(1);
    return false;
  }
  if (text_[pos_] == ',') {
    advance(1);
    skip_whitespace();
  }
  key.clear();
  append_string(key);
  skip_whitespace();
  advance(1);  // ':'
  return true;
}

bool JsonCursor::next_element() {
  skip_whitespace();
  if (pos_ >= text_.size() || text_[pos_] == ']') {
    advance(1);
    return false;
  }
  if (text_[pos_] == ',') {
    advance(1);
    skip_whitespace();
  }
  return true;
}

std::string JsonCursor::read_string() {
  std::string value;
  if (peek() == JsonKind::String) {
    append_string(value);
  } else {
    skip();
  }
  return value;
}

// At a string: appends its decoded value to `value`.
void JsonCursor::append_string(std::string& value) {
  advance(1);  // opening quote
  while (pos_ < text_.size() && text_[pos_] != '"') {
    std::size_t end = pos_;
    while (end < text_.size() && text_[end] != '"' && text_[end] != '\\') {
      ++end;
    }
    value.append(text_.substr(pos_, end - pos_));
    pos_ = end;
    if (pos_ < text_.size() && text_[pos_] == '\\') {
      append_escape(value);
    }
  }
  advance(1);  // closing quote
}

// At a backslash: appends the character it escapes (a \u pair of surrogates as one).
void JsonCursor::append_escape(std::string& out) {
  advance(1);
  const char c = pos_ < text_.size() ? text_[pos_] : '\\';
  advance(1);
  switch (c) {
    case 'b': out.push_back('\b'); return;
    case 'f': out.push_back('\f'); return;
    case 'n': out.push_back('\n'); return;
    case 'r': out.push_back('\r'); return;
    case 't': out.push_back('\t'); return;
    case 'u': break;
    default: out.push_back(c); return;  // \" \\ \/
  }
  std::uint32_t code_point = read_hex4();
  if (code_point >= 0xD800 && code_point <= 0xDBFF && text_.substr(pos_, 2) == "\\u") {
    advance(2);  // validated: a high surrogate is followed by \u and a low one
    const std::uint32_t low = read_hex4();
    code_point = 0x10000 + ((code_point - 0xD800) << 10) + (low - 0xDC00);
  }
  append_utf8(out, code_point);
}

unsigned JsonCursor::read_hex4() {
  unsigned value = 0;
  for (int i = 0; i < 4 && pos_ < text_.size(); ++i) {
    value = value * 16 + hex_value(text_[pos_]);
    advance(1);
  }
  return value;
}

std::optional<std::int64_t> JsonCursor::read_integer() {
  const bool is_number = peek() == JsonKind::Number;
  const std::string_view number = skip();
  std::int64_t value = 0;
  const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (!is_number || error != std::errc() || end != number.data() + number.size()) {
    return std::nullopt;  // not a number, a fraction, an exponent or out of range
  }
  return value;
}

std::optional<double> JsonCursor::read_number() {
  const bool is_number = peek() == JsonKind::Number;
  const std::string_view number = skip();
  double value = 0;
  const auto [end, error] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (!is_number || error != std::errc() || end != number.data() + number.size()) {
    return std::nullopt;
  }
  return value;
}

std::string_view JsonCursor::skip() {
  skip_whitespace();
  const std::size_t begin = pos_;
  switch (peek()) {
    case JsonKind::String: skip_string(); break;
    case JsonKind::Object:
    case JsonKind::Array: skip_container(); break;
    default: skip_scalar(); break;
  }
  return text_.substr(begin, pos_ - begin);
}

void JsonCursor::skip_whitespace() {
  while (pos_ < text_.size() && is_whitespace(text_[pos_])) {
    advance(1);
  }
}

void JsonCursor::skip_string() {
  advance(1);  // opening quote
  while (pos_ < text_.size() && text_[pos_] != '"') {
    advance(text_[pos_] == '\\' ? 2 : 1);
  }
  advance(1);  // closing quote
}

void JsonCursor::skip_container() {
  std::size_t depth = 0;
  do {
    const char c = text_[pos_];
    if (c == '"') {
      skip_string();
      continue;
    }
    if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      --depth;
    }
    advance(1);
  } while (depth > 0 && pos_ < text_.size());
}

void JsonCursor::skip_scalar() {
  while (pos_ < text_.size() && !is_whitespace(text_[pos_]) && text_[pos_] != ',' && text_[pos_] != '}' &&
         text_[pos_] != ']') {
    advance(1);
  }
}

void JsonCursor::advance(std::size_t bytes) { pos_ = std::min(pos_ + bytes, text_.size()); }

}  // namespace balancer::detail
