// oauth_token_response.cpp — parses token endpoint bodies into TokenGrant / TokenError (see
// oauth_token_response.h). Pure; thread-safe; never throws on any input.
#include "oauth/oauth_token_response.h"

#include <cmath>
#include <cstdint>

#include <nlohmann/json.hpp>

namespace balancer::detail {
namespace {

using nlohmann::json;

tl::unexpected<Error> shape_error(std::string_view what) {
  return make_error(ErrorCode::UpstreamProtocol, "token endpoint response " + std::string(what));
}

// expires_in as whole seconds: integer or float, > 0, capped at kMaxTokenLifetime.
Result<std::chrono::seconds> read_expires_in(const json& value) {
  const auto max = kMaxTokenLifetime.count();
  if (value.is_number_unsigned()) {
    const auto n = value.get<std::uint64_t>();
    if (n == 0) {
      return shape_error("has expires_in that is not positive");
    }
    return std::chrono::seconds(n > static_cast<std::uint64_t>(max) ? max : static_cast<std::int64_t>(n));
  }
  if (value.is_number_integer()) {  // signed and not unsigned: negative
    const auto n = value.get<std::int64_t>();
    if (n <= 0) {
      return shape_error("has expires_in that is not positive");
    }
    return std::chrono::seconds(n > max ? max : n);
  }
  if (value.is_number_float()) {
    const double d = value.get<double>();
    if (!std::isfinite(d) || !(d > 0)) {
      return shape_error("has expires_in that is not positive");
    }
    if (d >= static_cast<double>(max)) {
      return kMaxTokenLifetime;
    }
    const auto whole = static_cast<std::int64_t>(d);
    return std::chrono::seconds(whole < 1 ? 1 : whole);
  }
  return shape_error("has expires_in that is not a number");
}

std::vector<std::string> split_scopes(std::string_view text) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') {
      ++i;
    }
    const std::size_t start = i;
    while (i < text.size() && text[i] != ' ') {
      ++i;
    }
    if (i > start) {
      out.emplace_back(text.substr(start, i - start));
    }
  }
  return out;
}

// At most `max` bytes of `text` on one line: control characters become spaces and a cut never
// splits a UTF-8 sequence.
std::string one_line(std::string_view text, std::size_t max) {
  if (text.size() > max) {
    std::size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
      --cut;
    }
    text = text.substr(0, cut);
  }
  std::string out(text);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) {
      c = ' ';
    }
  }
  return out;
}

const json* member(const json& object, const char* key) {
  if (!object.is_object()) {
    return nullptr;
  }
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::string string_member(const json& object, const char* key) {
  const json* value = member(object, key);
  return value != nullptr && value->is_string() ? value->get<std::string>() : std::string();
}

// Printable ASCII without spaces (RFC 6750 b64token is narrower; this keeps any token that is
// safe in a header and a JSON file).
bool is_token_text(std::string_view text) {
  for (const unsigned char c : text) {
    if (c < 0x21 || c > 0x7e) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<TokenGrant> parse_token_response(std::string_view body) {
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return shape_error("is not JSON");
  }
  if (!doc.is_object()) {
    return shape_error("is not a JSON object");
  }
  TokenGrant grant;
  const json* access = member(doc, "access_token");
  if (access == nullptr) {
    return shape_error("has no access_token");
  }
  if (!access->is_string() || access->get_ref<const std::string&>().empty()) {
    return shape_error("has an access_token that is not a non-empty string");
  }
  grant.access_token = access->get<std::string>();
  if (!is_token_text(grant.access_token)) {  // it becomes a header value: no CR/LF, no spaces
    return shape_error("has an access_token with characters a token cannot have");
  }

  const json* expires = member(doc, "expires_in");
  if (expires == nullptr) {
    return shape_error("has no expires_in");
  }
  auto expires_in = read_expires_in(*expires);
  if (!expires_in) {
    return tl::unexpected(expires_in.error());
  }
  grant.expires_in = *expires_in;

  if (const json* refresh = member(doc, "refresh_token"); refresh != nullptr && !refresh->is_null()) {
    if (!refresh->is_string()) {
      return shape_error("has a refresh_token that is not a string");
    }
    grant.refresh_token = refresh->get<std::string>();
    if (!grant.refresh_token.empty() && !is_token_text(grant.refresh_token)) {
      return shape_error("has a refresh_token with characters a token cannot have");
    }
  }
  if (const json* scope = member(doc, "scope"); scope != nullptr && scope->is_string()) {
    grant.scopes = split_scopes(scope->get_ref<const std::string&>());
  }
  if (const json* account = member(doc, "account"); account != nullptr) {
    grant.account_email = string_member(*account, "email_address");
  }
  return grant;
}

TokenError parse_token_error(std::string_view body) {
  constexpr std::size_t kMaxErrorCode = 64;
  TokenError out;
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return out;
  }
  const json* error = member(doc, "error");
  if (error == nullptr) {
    return out;
  }
  if (error->is_string()) {  // OAuth (RFC 6749 §5.2)
    out.error = one_line(error->get_ref<const std::string&>(), kMaxErrorCode);
    out.description = one_line(string_member(doc, "error_description"), kMaxErrorDescription);
  } else if (error->is_object()) {  // Anthropic API error envelope
    out.error = one_line(string_member(*error, "type"), kMaxErrorCode);
    out.description = one_line(string_member(*error, "message"), kMaxErrorDescription);
  }
  return out;
}

}  // namespace balancer::detail
