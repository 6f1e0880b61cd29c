// config_fuzz.cpp — fuzz target over the configuration loader (parse_config: YAML text →
// BalancerConfig). Built as a libFuzzer binary with clang (-DBALANCER_FUZZ=ON: config_fuzz) and,
// always, as fuzz_replay_config, which runs tests/fuzz/config_corpus in ctest (replay_main.cpp).
//
// The input is the file's text. `${VAR}` goes through a fake environment: KEY (an sk- API key)
// and LONG (another secret), both longer than 24 bytes, EMPTY, URL, NEWLINE and NUL are set (the last two to values
// that must be refused where they would become a header), THROW makes the lookup throw (the
// loader must turn that into an error too), every other name is unset.
//
// Oracles (any mismatch aborts): nothing is thrown out of parse_config; parsing is
// deterministic; an error is ErrorCode::InvalidConfig whose message names where: "<key path>
// (line N): ...", a YAML syntax error with its line, or the failed environment lookup;
// no error or warning shows a secret (config.cpp's quote(): a value longer than 24 bytes or
// starting with "sk-", in any case, is shown by its first 4 characters and length only, so the
// KEY and LONG values never appear past that prefix); and a configuration it accepts holds what
// config.h and the loader promise (providers listed, names unique, URLs http(s) without a
// trailing '/', no line break or NUL in a credential or header value, every route entry naming
// a known provider, ranges and enums respected).
//
// JSON configuration: there is no separate JSON loader yet; JSON texts go through the YAML
// parser (the corpus holds some). When one lands, call it from fuzz_json_config below with the
// same checks.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>

#include <balancer/config.h>

namespace {

using balancer::BalancerConfig;
using balancer::Result;

[[noreturn]] void oracle_failed(const char* what, const std::string& detail = "") {
  std::fprintf(stderr, "fuzz oracle failed: %s\n%s\n", what, detail.c_str());
  std::abort();
}

constexpr std::string_view kKeySecret = "sk-ant-api03-fuzz-0123456789abcdefghij";
constexpr std::string_view kLongSecret = "long-secret-QWERTYUIOPASDFGHJKLZXCVBNM-42";

std::optional<std::string> fake_env(const std::string& name) {
  if (name == "KEY") return std::string(kKeySecret);
  if (name == "LONG") return std::string(kLongSecret);
  if (name == "EMPTY") return "";
  if (name == "URL") return "https://example.com/v1/";
  if (name == "NEWLINE") return "a\r\nX-Injected: 1";
  if (name == "NUL") return std::string("a\0b", 3);
  if (name == "THROW") throw std::runtime_error("environment unavailable");
  return std::nullopt;
}

bool has_any(std::string_view text, std::string_view bytes) { return text.find_first_of(bytes) != std::string::npos; }

bool is_http_url(std::string_view url) { return url.starts_with("http://") || url.starts_with("https://"); }

void check_accepted(const BalancerConfig& cfg) {
  if (cfg.providers.empty()) {
    oracle_failed("accepted without providers");
  }
  std::set<std::string> names;
  for (const auto& p : cfg.providers) {
    if (p.name.empty() || !names.insert(p.name).second) {
      oracle_failed("a provider name that is empty or not unique", p.name);
    }
    if (!is_http_url(p.base_url) || p.base_url.ends_with('/') || p.base_url == "http:" || p.base_url == "https:") {
      oracle_failed("a base_url that is not http(s) or ends in '/'", p.base_url);
    }
    if (has_any(p.auth_value, std::string_view("\r\n\0", 3))) {
      oracle_failed("a credential with a line break or NUL");
    }
    if (p.auth_type == balancer::AuthType::OAuth &&
        (p.auth_value != "oauth" || p.type != balancer::ProviderType::Anthropic)) {
      oracle_failed("an oauth provider that is not anthropic or not auth_value oauth", p.name);
    }
    if (p.enabled && p.auth_value.empty()) {
      oracle_failed("an enabled provider without a credential", p.name);
    }
    if (p.weight < 1 || p.max_output_tokens < 0 || p.balance_check_interval.count() < 0 || p.line < 1) {
      oracle_failed("a provider number out of range", p.name);
    }
    for (const auto& [header, value] : p.headers) {
      if (header.empty() || has_any(header, std::string_view(" :\r\n\0", 5)) ||
          has_any(value, std::string_view("\r\n\0", 3))) {
        oracle_failed("a header that would split the request head", header);
      }
    }
  }
  for (const auto& route : cfg.model_routes) {
    if (route.pattern.empty() || route.entries.empty()) {
      oracle_failed("an empty route pattern or entry list", route.pattern);
    }
    for (const auto& e : route.entries) {
      if (cfg.find_provider(e.provider) == nullptr) {
        oracle_failed("a route entry naming an unknown provider", e.provider);
      }
      if (e.model.empty() || e.priority < 0 || (e.weight && *e.weight < 1)) {
        oracle_failed("a route entry out of range", route.pattern);
      }
    }
  }
  const auto& s = cfg.settings;
  if (s.port < 0 || s.port > 65535 || s.host.empty() || s.unhealthy_threshold < 1 || s.max_connections < 1 ||
      s.max_request_body_bytes < 1 || s.max_header_count < 1 || s.max_header_bytes < 1 ||
      s.deduplication.max_flights < 1 || s.deduplication.max_flight_bytes < 1) {
    oracle_failed("a setting out of range");
  }
  if (s.failure_cooldown.count() < 0 || s.header_timeout.count() <= 0 || s.timeouts.connect_timeout.count() <= 0 ||
      s.timeouts.read_timeout.count() <= 0 || s.unhealthy_reset_timeout.count() < 0 || s.cache_ttl.count() < 0 ||
      s.sticky_provider_duration.count() < 0 || s.shutdown_grace.count() < 0) {
    oracle_failed("a negative or zero duration");
  }
  for (const int code : s.unhealthy_http_codes) {
    if (code < 100 || code > 599) {
      oracle_failed("an unhealthy_http_codes entry out of range");
    }
  }
  const std::string_view levels[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};
  if (std::find(std::begin(levels), std::end(levels), s.log_level) == std::end(levels)) {
    oracle_failed("an unknown log level", s.log_level);
  }
  if (s.tls_cert_file.empty() != s.tls_key_file.empty()) {
    oracle_failed("a TLS certificate without a key or the reverse");
  }
  if (cfg.auth.enabled && cfg.auth.api_keys.empty()) {
    oracle_failed("auth enabled without keys");
  }
  for (const auto& key : cfg.auth.api_keys) {
    if (key.empty()) {
      oracle_failed("an empty client API key");
    }
  }
  for (const auto& path : cfg.auth.exempt_paths) {
    if (!path.starts_with('/')) {
      oracle_failed("an exempt path without a leading '/'", path);
    }
  }
  for (const auto& url : {cfg.oauth.authorize_url, cfg.oauth.token_url, cfg.oauth.redirect_uri}) {
    if (!is_http_url(url)) {
      oracle_failed("an OAuth URL that is not http(s)", url);
    }
  }
  (void)balancer::check_listen_safety(cfg, cfg.settings.host);
  (void)balancer::to_string(s.selection_strategy);
}

// The outcome as text, for the determinism check.
std::string summary(const Result<BalancerConfig>& r) {
  if (!r) {
    return "error: " + r.error().message;
  }
  std::string out = std::to_string(r->providers.size()) + " providers, " + std::to_string(r->model_routes.size()) +
                    " routes, " + std::to_string(r->warnings.size()) + " warnings:";
  for (const auto& w : r->warnings) {
    out += "\n" + w;
  }
  return out;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// "(line N" with N >= 1, as "<key path> (line N): ..." and "YAML syntax error (line N, ...".
bool names_a_line(std::string_view message) {
  for (std::size_t at = message.find("(line "); at != std::string_view::npos; at = message.find("(line ", at + 1)) {
    const std::size_t digits = at + 6;
    if (digits < message.size() && message[digits] >= '1' && message[digits] <= '9') {
      return true;
    }
  }
  return false;
}

// A message or warning of the loader about `input` (lowercased): no secret in it. Whatever the
// input itself spells out (a key is echoed as it is, and the fuzzer learns the strings compared
// here) does not count.
void check_no_secret(std::string_view text, std::string_view input_lower) {
  const std::string message = lower(text);
  for (const std::string_view secret : {kKeySecret, kLongSecret}) {
    const std::string hidden = lower(secret.substr(4));  // quote() shows 4 characters
    if (contains(message, hidden) && !contains(input_lower, hidden)) {
      oracle_failed("a message shows an environment secret", std::string(text));
    }
  }
  // Every value a message quotes comes after one of these: quote() output, `"<= 24 bytes"` or
  // `"<4 characters>..." (N characters, not shown in full)`.
  for (const std::string_view lead : {"got \"", "name \"", "provider \""}) {
    if (contains(input_lower, lead)) {
      continue;
    }
    for (std::size_t at = message.find(lead); at != std::string::npos; at = message.find(lead, at + 1)) {
      const std::size_t begin = at + lead.size();
      const std::size_t end = message.find('"', begin);
      if (end == std::string::npos) {
        continue;  // not quote()'s output (a value holding '"' ends early: harmless here)
      }
      const std::string_view shown = std::string_view(message).substr(begin, end - begin);
      const bool abridged =
          shown.ends_with("...") && shown.size() <= 4 + 3 && std::string_view(message).substr(end).starts_with("\" (");
      if (!abridged && (shown.size() > 24 || shown.starts_with("sk-"))) {
        oracle_failed("a message quotes a long or key-shaped value in full", std::string(text));
      }
    }
  }
}

void check_config_result(std::string_view text, const Result<BalancerConfig>& result) {
  const std::string input_lower = lower(text);
  if (result) {
    check_accepted(*result);
    for (const auto& warning : result->warnings) {
      if (warning.empty()) {
        oracle_failed("an empty warning");
      }
      check_no_secret(warning, input_lower);
    }
    return;
  }
  const std::string& message = result.error().message;
  if (result.error().code != balancer::ErrorCode::InvalidConfig || message.empty()) {
    oracle_failed("an error that is not InvalidConfig or has no message", message);
  }
  if (!names_a_line(message) && message != "cannot parse config: environment unavailable") {
    oracle_failed("an error that names no line", message);
  }
  check_no_secret(message, input_lower);
}

Result<BalancerConfig> parse_or_abort(std::string_view text) {
  try {
    return balancer::parse_config(text, fake_env);
  } catch (...) {
    oracle_failed("parse_config threw");
  }
}

void fuzz_yaml_config(std::string_view text) {
  const auto first = parse_or_abort(text);
  check_config_result(text, first);
  if (summary(first) != summary(parse_or_abort(text))) {
    oracle_failed("parse_config is not deterministic", summary(first));
  }
}

// Hook for a JSON configuration loader (issue 15: "the config loader (YAML and, later, JSON)").
// Until there is one, JSON texts are YAML to the loader and fuzz_yaml_config covers them.
void fuzz_json_config(std::string_view /*text*/) {}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  fuzz_yaml_config(text);
  fuzz_json_config(text);
  return 0;
}
