#include "request_head.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace balancer::server {
namespace {

bool is_tchar(unsigned char c) {
  return std::isalnum(c) != 0 ||
         std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return is_tchar(static_cast<unsigned char>(c)); });
}

// Field-value bytes (RFC 9110 §5.5): visible ASCII, obs-text, space and tab.
bool is_field_value_char(unsigned char c) { return c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f); }

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// Whether a comma-separated header value lists `token` (case-insensitively).
bool lists_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    if (iequal(trim_ows(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

HeadScan refuse(int status, std::string message) {
  HeadScan out;
  out.state = HeadScan::State::Refused;
  out.status = status;
  out.message = std::move(message);
  return out;
}

// The request line: method SP request-target SP HTTP-version. Empty when sound.
HeadScan check_request_line(std::string_view line, std::string_view& method, std::string_view& version) {
  const std::size_t first = line.find(' ');
  const std::size_t last = line.rfind(' ');
  if (first == std::string_view::npos || first == last) {
    return refuse(400, "malformed request line");
  }
  method = line.substr(0, first);
  const std::string_view target = line.substr(first + 1, last - first - 1);
  version = line.substr(last + 1);
  if (!is_token(method)) {
    return refuse(400, "malformed request line: the method is not a token");
  }
  if (target.empty() || std::any_of(target.begin(), target.end(),
                                    [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; })) {
    return refuse(400, "malformed request line: bad request target");
  }
  if (target.find('?') != target.rfind('?')) {
    return refuse(400, "malformed request line: more than one '?' in the request target");  // httplib's parser's rule
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    const bool looks_like_http = version.size() == 8 && version.substr(0, 5) == "HTTP/" &&
                                 std::isdigit(static_cast<unsigned char>(version[5])) != 0 && version[6] == '.' &&
                                 std::isdigit(static_cast<unsigned char>(version[7])) != 0;
    return looks_like_http ? refuse(505, "only HTTP/1.1 and HTTP/1.0 are served")
                           : refuse(400, "malformed request line: bad HTTP version");
  }
  return {};
}

}  // namespace

std::string framing_error(std::string_view method, std::string_view version,
                          const std::vector<std::pair<std::string_view, std::string_view>>& headers) {
  std::size_t hosts = 0;
  std::size_t lengths = 0;
  std::size_t encodings = 0;
  std::string_view length;
  std::string_view encoding;
  for (const auto& [name, value] : headers) {
    if (iequal(name, "host")) {
      ++hosts;
    } else if (iequal(name, "content-length")) {
      ++lengths;
      length = value;
    } else if (iequal(name, "transfer-encoding")) {
      ++encodings;
      encoding = value;
    }
  }
  if (version == "HTTP/1.1" && hosts != 1) {
    return "an HTTP/1.1 request needs exactly one Host header";
  }
  if (lengths > 1) {
    return "more than one Content-Length header";
  }
  if (lengths == 1 && encodings > 0) {
    return "both Content-Length and Transfer-Encoding";
  }
  if (lengths == 1 &&
      (length.empty() || length.size() > 18 || length.find_first_not_of("0123456789") != std::string_view::npos)) {
    return "Content-Length must be a decimal number of bytes";
  }
  if (encodings > 1 || (encodings == 1 && !iequal(encoding, "chunked"))) {
    return "the only Transfer-Encoding accepted is chunked";
  }
  if (encodings == 1 && version == "HTTP/1.0") {
    return "Transfer-Encoding is not allowed in HTTP/1.0";
  }
  const bool has_body = encodings == 1 || (lengths == 1 && length.find_first_not_of('0') != std::string_view::npos);
  if (has_body && (method == "GET" || method == "HEAD" || method == "OPTIONS")) {
    return fmt::format("a {} request cannot carry a body", method);
  }
  return {};
}

HeadScan scan_request_head(std::string_view buffer, const HeadLimits& limits) {
  std::size_t pos = 0;
  // A client may send empty lines between requests (RFC 9112 §2.2): skipped.
  while (buffer.substr(pos, 2) == "\r\n")
    pos += 2;
  const std::size_t skipped = pos;
  if (pos == buffer.size() || buffer.substr(pos) == "\r") {
    return {};
  }
  std::string_view method;
  std::string_view version;
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  std::size_t header_bytes = 0;
  bool request_line = true;
  while (true) {
    const std::size_t newline = buffer.find('\n', pos);
    const std::string_view rest =
        buffer.substr(pos, newline == std::string_view::npos ? std::string_view::npos : newline - pos);
    if (rest.find('\0') != std::string_view::npos) {
      return refuse(400, "malformed request head: NUL byte");
    }
    const std::size_t cr = rest.find('\r');
    if (cr != std::string_view::npos && cr + 1 < rest.size()) {
      return refuse(400, "malformed request head: bare CR");
    }
    if (rest.size() > limits.max_line_bytes + 1) {
      return request_line ? refuse(414, fmt::format("request line longer than {} bytes", limits.max_line_bytes))
                          : refuse(431, fmt::format("a header line is longer than {} bytes", limits.max_line_bytes));
    }
    if (newline == std::string_view::npos) {
      return {};  // the line goes on
    }
    if (rest.empty() || rest.back() != '\r') {
      return refuse(400, "malformed request head: a line ends without CR LF");
    }
    const std::string_view line = rest.substr(0, rest.size() - 1);
    pos = newline + 1;
    if (request_line) {
      if (HeadScan bad = check_request_line(line, method, version); bad.state == HeadScan::State::Refused) {
        return bad;
      }
      request_line = false;
      continue;
    }
    if (line.empty()) {
      break;  // end of head
    }
    if (line.front() == ' ' || line.front() == '\t') {
      return refuse(400, "malformed request head: folded header line (obs-fold)");
    }
    const std::size_t colon = line.find(':');
    const std::string_view name = line.substr(0, colon);
    if (colon == std::string_view::npos || !is_token(name)) {
      return refuse(400, "malformed request head: a header name is not a token");
    }
    const std::string_view value = trim_ows(line.substr(colon + 1));
    if (!std::all_of(value.begin(), value.end(),
                     [](char c) { return is_field_value_char(static_cast<unsigned char>(c)); })) {
      return refuse(400, "malformed request head: control character in a header value");
    }
    header_bytes += name.size() + value.size();
    headers.emplace_back(name, value);
    if (headers.size() > limits.max_header_count || header_bytes > limits.max_header_bytes) {
      return refuse(431, fmt::format("request headers exceed the limit of {} headers or {} bytes",
                                     limits.max_header_count, limits.max_header_bytes));
    }
  }
  if (std::string error = framing_error(method, version, headers); !error.empty()) {
    return refuse(400, "malformed request: " + error);
  }
  HeadScan out;
  out.state = HeadScan::State::Complete;
  out.head_bytes = pos;
  out.skipped = skipped;
  bool keep_alive_asked = false;  // httplib's HTTP/1.0 rule: the first Connection value is "Keep-Alive"
  bool connection_seen = false;
  for (const auto& [name, value] : headers) {
    if (iequal(name, "content-length")) {
      out.framing = BodyFraming::Length;
      out.content_length = std::stoull(std::string(value));
    } else if (iequal(name, "transfer-encoding")) {
      out.framing = BodyFraming::Chunked;
    } else if (iequal(name, "connection")) {
      out.close = out.close || lists_token(value, "close");
      if (!connection_seen) {
        keep_alive_asked = value == "Keep-Alive";
        connection_seen = true;
      }
    }
  }
  if (out.framing == BodyFraming::Length && out.content_length == 0) {
    out.framing = BodyFraming::None;
  }
  if (version == "HTTP/1.0" && !keep_alive_asked) {
    out.close = true;
  }
  out.headers = std::move(headers);
  return out;
}

}  // namespace balancer::server
