// redactor.cpp — see redactor.h.
#include "report/redactor.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

namespace balancer::detail {
namespace {

// Shorter values are too likely to be ordinary words of an error message.
constexpr std::size_t kMinSecretLength = 6;

constexpr std::string_view kRedacted = "<redacted>";

// The value, and its JSON-escaped spelling when that differs (an error body may quote it).
void add(std::vector<std::string>& secrets, std::string_view value) {
  if (value.size() < kMinSecretLength) {
    return;
  }
  secrets.emplace_back(value);
  const std::string quoted = nlohmann::json(std::string(value)).dump();
  if (quoted.size() != value.size() + 2) {
    secrets.push_back(quoted.substr(1, quoted.size() - 2));
  }
}

bool is_key_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_'; }

// Key-shaped words the config does not list — Anthropic API keys and OAuth tokens
// (`sk-ant-…`, which the balancer's own subscription tokens are), OpenAI keys (`sk-…`) — are
// replaced too: an upstream may echo a token the config never held.
constexpr std::string_view kKeyPrefix = "sk-";
constexpr std::size_t kMinKeyTail = 16;

void redact_key_shapes(std::string& out) {
  for (std::size_t at = out.find(kKeyPrefix); at != std::string::npos; at = out.find(kKeyPrefix, at + 1)) {
    if (at > 0 && is_key_char(out[at - 1])) {
      continue;  // inside a longer word
    }
    std::size_t end = at + kKeyPrefix.size();
    while (end < out.size() && is_key_char(out[end]))
      ++end;
    if (end - at - kKeyPrefix.size() >= kMinKeyTail) {
      out.replace(at, end - at, kRedacted);
    }
  }
}

// The userinfo of `url` and the value of each of its query parameters.
void add_url_credentials(std::vector<std::string>& secrets, std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end != std::string_view::npos) {
    const std::size_t authority = scheme_end + 3;
    const std::size_t end = std::min(url.find_first_of("/?#", authority), url.size());
    const auto at = url.substr(authority, end - authority).rfind('@');
    if (at != std::string_view::npos) {
      const std::string_view userinfo = url.substr(authority, at);
      add(secrets, userinfo);
      if (const auto colon = userinfo.find(':'); colon != std::string_view::npos) {
        add(secrets, userinfo.substr(colon + 1));
      }
    }
  }
  const auto q = url.find('?');
  if (q == std::string_view::npos) {
    return;
  }
  std::string_view query = url.substr(q + 1, url.find('#', q) - q - 1);
  while (!query.empty()) {
    const std::string_view pair = query.substr(0, query.find('&'));
    query.remove_prefix(std::min(pair.size() + 1, query.size()));
    if (const auto eq = pair.find('='); eq != std::string_view::npos) {
      add(secrets, pair.substr(eq + 1));
    }
  }
}

constexpr std::string_view kSpaces = " \t\r";

std::string_view trim(std::string_view text) {
  text.remove_prefix(std::min(text.find_first_not_of(kSpaces), text.size()));
  const std::size_t last = text.find_last_not_of(kSpaces);
  return last == std::string_view::npos ? std::string_view() : text.substr(0, last + 1);
}

// Whether one SSE event (its lines, LF or CR LF, without the blank line ending it) may be an
// error: an `event:` line naming error (spaces around the name allowed), or data that is a JSON
// object of type error, or data mentioning "error" that is not JSON at all (fail closed).
bool is_error_event(std::string_view event) {
  std::string data;
  for (std::size_t start = 0; start < event.size();) {
    std::size_t end = event.find('\n', start);
    if (end == std::string_view::npos) {
      end = event.size();
    }
    const std::string_view line = event.substr(start, end - start);
    start = end + 1;
    const std::size_t colon = line.find(':');
    const std::string_view field = line.substr(0, colon);
    const std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    if (field == "event" && trim(value) == "error") {
      return true;
    }
    if (field == "data") {
      data.append(value).push_back('\n');
    }
  }
  if (data.find("error") == std::string::npos) {
    return false;
  }
  const auto json = nlohmann::json::parse(data, nullptr, false);
  if (json.is_discarded()) {
    return true;
  }
  if (!json.is_object()) {
    return false;
  }
  const auto type = json.find("type");
  return type != json.end() && type->is_string() && type->get_ref<const std::string&>() == "error";
}

// Where the SSE event starting at `start` ends: after its blank line (LF or CR LF), or at the end.
std::size_t event_end(std::string_view text, std::size_t start) {
  for (std::size_t line = start; line < text.size();) {
    const std::size_t newline = text.find('\n', line);
    if (newline == std::string_view::npos) {
      break;
    }
    const bool blank = newline == line || (newline == line + 1 && text[line] == '\r');
    if (blank && line > start) {
      return newline + 1;
    }
    line = newline + 1;
  }
  return text.size();
}

// Events this splitter cannot delimit as an SSE parser would: a CR not followed by LF (a line
// ending of its own) or a byte order mark.
bool has_unusual_framing(std::string_view sse) {
  for (std::size_t at = sse.find('\r'); at != std::string_view::npos; at = sse.find('\r', at + 1)) {
    if (at + 1 >= sse.size() || sse[at + 1] != '\n') {
      return true;
    }
  }
  return sse.find("\xEF\xBB\xBF") != std::string_view::npos;
}

}  // namespace

Redactor::Redactor(const BalancerConfig& config) {
  for (const ProviderConfig& p : config.providers) {
    if (p.auth_value != "passthrough" && p.auth_value != "oauth") {
      add(secrets_, p.auth_value);
    }
    for (const auto& header : p.headers) {
      add(secrets_, header.second);
    }
    add_url_credentials(secrets_, p.base_url);
    add_url_credentials(secrets_, p.proxy);
  }
  add_url_credentials(secrets_, config.oauth.proxy);
  for (const std::string& key : config.auth.api_keys) {
    add(secrets_, key);
  }
  add(secrets_, config.auth.admin_api_key);
  std::sort(secrets_.begin(), secrets_.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() > b.size() : a < b;
  });
  secrets_.erase(std::unique(secrets_.begin(), secrets_.end()), secrets_.end());
}

std::string Redactor::apply(std::string_view text) const {
  std::string out(text);
  for (const std::string& secret : secrets_) {
    for (std::size_t at = out.find(secret); at != std::string::npos; at = out.find(secret, at + kRedacted.size())) {
      out.replace(at, secret.size(), kRedacted);
    }
  }
  redact_key_shapes(out);
  return out;
}

std::string Redactor::apply_to_error_events(std::string_view sse) const {
  if (has_unusual_framing(sse)) {
    return apply(sse);  // fail closed: the whole chunk
  }
  std::string out;
  out.reserve(sse.size());
  for (std::size_t start = 0; start < sse.size();) {
    const std::size_t end = event_end(sse, start);
    const std::string_view event = sse.substr(start, end - start);
    if (is_error_event(event)) {
      out += apply(event);
    } else {
      out += event;
    }
    start = end;
  }
  return out;
}

}  // namespace balancer::detail
