// json_cursor.h — a forward-only reader over a JSON text that find_json_error() accepted:
// pulls out the members a caller wants and skips the rest without building a DOM.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace balancer::detail {

enum class JsonKind { Object, Array, String, Number, Boolean, Null };

// Reads one value at a time from a valid JSON text (the caller validates first; on invalid
// text the reader stays in bounds but its results are meaningless). Each read_*/skip/enter
// call consumes exactly one value. Usage for an object:
//   cursor.enter_object();
//   while (cursor.next_member(key)) { if (key == "id") id = cursor.read_string(); else cursor.skip(); }
// Not thread-safe; cheap to create (it only holds a view of the text).
class JsonCursor {
 public:
  // `validated_json` must outlive the cursor. A leading BOM and anything after a NUL byte
  // (both allowed by find_json_error, as by nlohmann) are ignored.
  explicit JsonCursor(std::string_view validated_json);

  // The kind of the next value.
  JsonKind peek();

  // Consumes `{` / `[`. Then call next_member / next_element until they return false.
  void enter_object();
  void enter_array();
  // Reads the next member's key and its `:`; false (and the `}` consumed) at the end.
  bool next_member(std::string& key);
  // Steps to the next element; false (and the `]` consumed) at the end.
  bool next_element();

  // The next value when it is a string (decoded), else skips it and returns "".
  std::string read_string();
  // The next value when it is a number without fraction or exponent that fits, else skips it.
  std::optional<std::int64_t> read_integer();
  // The next value when it is a number, else skips it.
  std::optional<double> read_number();
  // Skips the next value and returns its text.
  std::string_view skip();

 private:
  void skip_whitespace();
  void append_string(std::string& value);
  void skip_string();
  void skip_container();
  void skip_scalar();
  void append_escape(std::string& out);
  unsigned read_hex4();
  void advance(std::size_t bytes);  // never past the end

  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace balancer::detail
