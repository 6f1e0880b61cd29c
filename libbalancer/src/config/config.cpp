// config.cpp — turns the YAML configuration (spec §2) into a validated BalancerConfig.
//
// This is the only file of the project that sees yaml-cpp. Parsing is pure: the environment comes
// in through an EnvLookup, nothing is thrown out of the library, and every error is
// ErrorCode::InvalidConfig with a message of the form "<key path> (line N): <what is wrong>".
// Unknown keys are warnings (BalancerConfig::warnings), never errors; keys of the reference
// balancers that we do not act on are accepted silently.
//
// The work is done by a small Reader that wraps one YAML node together with its key path: it
// converts scalars (after ${VAR} expansion) with uniform messages and remembers which keys of a
// map were taken, so that the rest can be reported as unknown.

#include <balancer/config.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <system_error>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "core/text.h"

namespace balancer {

namespace {

// Raised inside this file only; parse_config turns it into an InvalidConfig error.
struct ConfigFailure {
  std::string message;
};

struct Context {
  const EnvLookup* env;
  std::vector<std::string>* warnings;
};

// Longest durations accepted (about 31 years): keeps the seconds→milliseconds cast defined.
constexpr double kMaxSeconds = 1e9;

using detail::to_lower;

std::string upper(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// A value as a config error shows it. Config errors reach the terminal, the reload reply and the
// log, and the value may be a secret typed on the wrong line: anything longer than a setting's
// word (kMaxShown) or shaped like an API key ("sk-" in any case: some values are case-folded
// before they are quoted) is shown by its first characters and length only.
std::string quote(std::string_view text) {
  constexpr std::size_t kMaxShown = 24;
  constexpr std::size_t kPrefix = 4;
  if (text.size() > kMaxShown || to_lower(text.substr(0, 3)) == "sk-") {
    std::size_t cut = std::min(kPrefix, text.size());
    while (cut > 0 && cut < text.size() && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80)
      --cut;  // UTF-8
    return fmt::format("\"{}...\" ({} characters, not shown in full)", text.substr(0, cut), text.size());
  }
  return fmt::format("\"{}\"", text);
}

bool starts_with_http(std::string_view url) { return url.starts_with("http://") || url.starts_with("https://"); }

Duration seconds_to_duration(double seconds) {
  return Duration(static_cast<Duration::rep>(std::llround(seconds * 1000.0)));
}

// One YAML node and where it is: key path for messages, 1-based line, and — for maps — which
// keys have been taken.
class Reader {
 public:
  Reader(YAML::Node node, std::string path, int fallback_line, Context ctx)
      : node_(node), path_(std::move(path)), ctx_(ctx) {
    const YAML::Mark mark = node_.Mark();
    line_ = mark.line >= 0 ? mark.line + 1 : fallback_line;
    if (node_.IsMap()) index_entries();
  }

  const std::string& path() const { return path_; }
  int line() const { return line_; }
  bool is_map() const { return node_.IsMap(); }
  bool is_sequence() const { return node_.IsSequence(); }

  [[noreturn]] void fail(std::string_view message) const {
    throw ConfigFailure{fmt::format("{} (line {}): {}", path_.empty() ? "top level" : path_, line_, message)};
  }

  void warn(std::string_view message) const {
    ctx_.warnings->push_back(fmt::format("{} (line {}): {}", path_, line_, message));
  }

  // ---- the node itself as a scalar -------------------------------------------------------

  // The scalar text with every ${VAR} replaced through the EnvLookup.
  std::string as_string() const {
    require_scalar("a string");
    return expand(node_.Scalar());
  }

  bool as_bool() const {
    require_scalar("true or false");
    const std::string text = to_lower(expand(node_.Scalar()));
    if (text == "true" || text == "yes" || text == "on") return true;
    if (text == "false" || text == "no" || text == "off") return false;
    fail(fmt::format("must be true or false, got {}", quote(node_.Scalar())));
  }

  long long as_int(long long min, long long max) const {
    require_scalar("an integer");
    std::string text = expand(node_.Scalar());
    if (text.starts_with('+')) text.erase(0, 1);
    long long value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty())
      fail(fmt::format("must be an integer, got {}", quote(node_.Scalar())));
    if (value < min || value > max) fail(range_message(value, min, max));
    return value;
  }

  double as_number() const {
    require_scalar("a number");
    std::string text = expand(node_.Scalar());
    if (text.starts_with('+')) text.erase(0, 1);
    double value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty() || !std::isfinite(value))
      fail(fmt::format("must be a number, got {}", quote(node_.Scalar())));
    return value;
  }

  // Seconds, possibly fractional, not negative.
  Duration as_duration() const {
    const double seconds = as_number();
    if (seconds < 0) fail(fmt::format("must not be negative, got {}", seconds));
    if (seconds > kMaxSeconds) fail(fmt::format("is too large ({} s)", seconds));
    return seconds_to_duration(seconds);
  }

  std::vector<std::string> as_string_list() const {
    std::vector<std::string> out;
    for (const Reader& item : items()) {
      std::string value = item.as_string();
      if (value.empty()) item.fail("must not be empty");
      out.push_back(std::move(value));
    }
    return out;
  }

  std::vector<int> as_int_list(int min, int max) const {
    std::vector<int> out;
    for (const Reader& item : items())
      out.push_back(static_cast<int>(item.as_int(min, max)));
    return out;
  }

  // Elements of a sequence, each with the path "<path>[i]".
  std::vector<Reader> items() const {
    if (!node_.IsSequence()) fail(fmt::format("must be a list, got {}", kind()));
    std::vector<Reader> out;
    std::size_t index = 0;
    for (const YAML::Node& item : node_) {
      out.emplace_back(item, fmt::format("{}[{}]", path_, index++), line_, ctx_);
      if (item.IsNull()) out.back().fail("must not be empty");
    }
    return out;
  }

  // ---- the node as a map -------------------------------------------------------------------

  void require_map() const {
    if (!node_.IsMap()) fail(fmt::format("must be a map, got {}", kind()));
  }

  // The value of `key` (marked as taken), or nullopt when the key is absent or its value is
  // null (`key:` with nothing after it counts as absent).
  std::optional<Reader> take(std::string_view key) {
    require_map();
    for (Entry& entry : entries_) {
      if (entry.key != key) continue;
      entry.taken = true;
      if (entry.value.IsNull()) return std::nullopt;
      return Reader(entry.value, child_path(key), entry.line, ctx_);
    }
    return std::nullopt;
  }

  // The value of a required key; fails when it is absent or null.
  Reader require(std::string_view key) {
    std::optional<Reader> value = take(key);
    if (value) return std::move(*value);
    const auto present =
        std::find_if(entries_.begin(), entries_.end(), [&](const Entry& entry) { return entry.key == key; });
    const bool is_null = present != entries_.end();
    throw ConfigFailure{fmt::format("{} (line {}): {}", child_path(key), is_null ? present->line : line_,
                                    is_null ? "must not be empty" : "required key is missing")};
  }

  // Every entry in document order, each marked as taken. `path_of` names a child from its key.
  template <class PathOf>
  std::vector<std::pair<std::string, Reader>> take_all(PathOf path_of) {
    require_map();
    std::vector<std::pair<std::string, Reader>> out;
    for (Entry& entry : entries_) {
      entry.taken = true;
      out.emplace_back(entry.key, Reader(entry.value, path_of(entry.key), entry.line, ctx_));
    }
    return out;
  }

  // Keys accepted for compatibility with the reference balancers and not acted on.
  void ignore(std::initializer_list<std::string_view> keys) {
    for (std::string_view key : keys)
      take(key);
  }

  // Warns about every key that was not taken.
  void finish() const {
    for (const Entry& entry : entries_) {
      if (!entry.taken) {
        ctx_.warnings->push_back(fmt::format("unknown key {} (line {})", child_path(entry.key), entry.line));
      }
    }
  }

  // ---- convenience: optional keys read into an existing value ------------------------------

  void read(std::string_view key, std::string& out) {
    if (auto value = take(key)) out = value->as_string();
  }
  void read(std::string_view key, bool& out) {
    if (auto value = take(key)) out = value->as_bool();
  }
  void read(std::string_view key, Duration& out) {
    if (auto value = take(key)) out = value->as_duration();
  }
  void read(std::string_view key, double& out) {
    if (auto value = take(key)) out = value->as_number();
  }
  void read(std::string_view key, std::vector<std::string>& out) {
    if (auto value = take(key)) out = value->as_string_list();
  }
  void read(std::string_view key, int& out, long long min, long long max) {
    if (auto value = take(key)) out = static_cast<int>(value->as_int(min, max));
  }
  void read(std::string_view key, std::size_t& out, long long min) {
    if (auto value = take(key))
      out = static_cast<std::size_t>(value->as_int(min, std::numeric_limits<long long>::max()));
  }

 private:
  struct Entry {
    std::string key;
    YAML::Node value;
    int line;
    bool taken = false;
  };

  void index_entries() {
    for (const auto& pair : node_) {
      const YAML::Mark mark = pair.first.Mark();
      const int line = mark.line >= 0 ? mark.line + 1 : line_;
      if (!pair.first.IsScalar()) {
        throw ConfigFailure{
            fmt::format("{} (line {}): keys must be plain strings", path_.empty() ? "top level" : path_, line)};
      }
      std::string key = pair.first.Scalar();
      for (const Entry& seen : entries_) {
        if (seen.key == key) {
          throw ConfigFailure{
              fmt::format("{} (line {}): duplicate key (first at line {})", child_path(key), line, seen.line)};
        }
      }
      entries_.push_back(Entry{std::move(key), pair.second, line});
    }
  }

  std::string child_path(std::string_view key) const {
    return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
  }

  std::string kind() const {
    switch (node_.Type()) {
      case YAML::NodeType::Map: return "a map";
      case YAML::NodeType::Sequence: return "a list";
      case YAML::NodeType::Scalar: return quote(node_.Scalar());
      default: return "nothing";
    }
  }

  void require_scalar(std::string_view what) const {
    if (!node_.IsScalar()) fail(fmt::format("must be {}, got {}", what, kind()));
  }

  std::string range_message(long long value, long long min, long long max) const {
    if (max >= std::numeric_limits<int>::max()) {  // effectively unbounded above
      if (value < min) return fmt::format("must be at least {}, got {}", min, value);
      return fmt::format("is too large, got {}", value);
    }
    return fmt::format("must be between {} and {}, got {}", min, max, value);
  }

  // Replaces every ${NAME}; a missing variable is an error naming the key and the variable
  // (never a value).
  std::string expand(const std::string& text) const {
    std::string out;
    std::size_t pos = 0;
    while (true) {
      const std::size_t open = text.find("${", pos);
      if (open == std::string::npos) break;
      const std::size_t close = text.find('}', open + 2);
      if (close == std::string::npos) fail("unterminated ${ in value");
      const std::string name = text.substr(open + 2, close - open - 2);
      if (name.empty()) fail("empty ${} in value");
      std::optional<std::string> value = (*ctx_.env)(name);
      if (!value) fail(fmt::format("environment variable {} is not set", name));
      out.append(text, pos, open - pos);
      out += *value;
      pos = close + 1;
    }
    out.append(text, pos);
    return out;
  }

  YAML::Node node_;
  std::string path_;
  int line_ = 1;
  Context ctx_;
  std::vector<Entry> entries_;
};

// When a section may appear at the top level and nested (e.g. `auth` and `settings.auth`), the
// top-level one wins and the other is reported.
std::optional<Reader> prefer_top_level(std::optional<Reader> top, std::optional<Reader> nested) {
  if (top && nested) {
    nested->warn(fmt::format("ignored: {} (line {}) takes precedence", top->path(), top->line()));
    return top;
  }
  return top ? std::move(top) : std::move(nested);
}

// ---- enums --------------------------------------------------------------------------------

ProviderType parse_provider_type(const Reader& r) {
  const std::string value = to_lower(r.as_string());
  if (value == "anthropic") return ProviderType::Anthropic;
  if (value == "openai") return ProviderType::OpenAI;
  r.fail(fmt::format("must be \"anthropic\" or \"openai\", got {}", quote(value)));
}

AuthType parse_auth_type(const Reader& r) {
  const std::string value = to_lower(r.as_string());
  if (value == "api_key") return AuthType::ApiKey;
  if (value == "auth_token") return AuthType::AuthToken;
  if (value == "oauth") return AuthType::OAuth;
  r.fail(fmt::format("must be one of api_key, auth_token, oauth, got {}", quote(value)));
}

// selection_strategy also accepts claude-code-lb's mode names.
SelectionStrategy parse_strategy(const Reader& r) {
  const std::string value = to_lower(r.as_string());
  if (value == "priority" || value == "fallback") return SelectionStrategy::Priority;
  if (value == "round_robin" || value == "load_balance") return SelectionStrategy::RoundRobin;
  if (value == "weighted_round_robin") return SelectionStrategy::WeightedRoundRobin;
  if (value == "random") return SelectionStrategy::Random;
  r.fail(fmt::format("must be one of priority, round_robin, weighted_round_robin, random, got {}", quote(value)));
}

std::string parse_log_level(const Reader& r) {
  std::string value = upper(r.as_string());
  if (value == "WARN") value = "WARNING";
  for (std::string_view known : {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})
    if (value == known) return value;
  r.fail(fmt::format("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got {}", quote(value)));
}

// claude-code-lb: `mode: fallback|load_balance` and `algorithm: round_robin|...`.
SelectionStrategy strategy_from_mode(const std::optional<Reader>& mode, const std::optional<Reader>& algorithm) {
  if (mode) {
    const std::string value = to_lower(mode->as_string());
    if (value == "fallback") return SelectionStrategy::Priority;
    if (value != "load_balance")
      mode->fail(fmt::format("must be \"fallback\" or \"load_balance\", got {}", quote(value)));
  }
  if (!algorithm) return SelectionStrategy::RoundRobin;
  const std::string value = to_lower(algorithm->as_string());
  if (value == "round_robin") return SelectionStrategy::RoundRobin;
  if (value == "weighted_round_robin") return SelectionStrategy::WeightedRoundRobin;
  if (value == "random") return SelectionStrategy::Random;
  algorithm->fail(fmt::format("must be one of round_robin, weighted_round_robin, random, got {}", quote(value)));
}

// ---- providers ----------------------------------------------------------------------------

std::string parse_base_url(const Reader& r) {
  std::string url = r.as_string();
  if (!starts_with_http(url)) r.fail(fmt::format("must start with http:// or https://, got {}", quote(url)));
  while (url.ends_with('/'))
    url.pop_back();
  if (url == "http:" || url == "https:") r.fail("has no host");
  return url;
}

std::vector<std::pair<std::string, std::string>> parse_headers(Reader r) {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& [name, value] : r.take_all([&](const std::string& key) { return fmt::format("{}.{}", r.path(), key); })) {
    const bool token = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || (c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
    });
    if (!token) value.fail("is not a valid header name");
    std::string text = value.as_string();
    // As for auth_value: the transport refuses such a header, so every request would fail.
    if (text.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
      value.fail("must not contain a line break or NUL");
    out.emplace_back(name, std::move(text));
  }
  return out;
}

// auth_value: "oauth" implies auth_type oauth; auth_type oauth needs no auth_value. An empty or
// missing auth_value is only allowed on a disabled provider (the reference examples ship
// disabled placeholders with "").
void parse_credentials(Reader& r, ProviderConfig& p) {
  std::optional<Reader> type = r.take("auth_type");
  if (type) p.auth_type = parse_auth_type(*type);
  std::optional<Reader> value = r.take("auth_value");
  if (value) p.auth_value = value->as_string();
  // It becomes a request header: a line break would split it into headers of its own.
  if (std::any_of(p.auth_value.begin(), p.auth_value.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; }))
    value->fail("must not contain a line break or NUL");

  if (p.auth_value == "oauth") p.auth_type = AuthType::OAuth;
  if (p.auth_type == AuthType::OAuth) {
    if (!p.auth_value.empty() && p.auth_value != "oauth")
      value->warn("ignored: auth_type oauth uses the stored OAuth token");
    if (p.type == ProviderType::OpenAI)
      (type ? *type : *value).fail("oauth accounts are Claude subscriptions: the provider's type must be anthropic");
    p.auth_value = "oauth";
    return;
  }
  if (p.auth_value.empty() && p.enabled) {
    if (value) value->fail("must not be empty (a key, ${ENV_VAR}, \"passthrough\" or \"oauth\")");
    throw ConfigFailure{fmt::format("{}.auth_value (line {}): required key is missing", r.path(), r.line())};
  }
}

ProviderConfig parse_provider(Reader r) {
  r.require_map();
  ProviderConfig p;
  p.line = r.line();
  Reader name = r.require("name");
  p.name = name.as_string();
  if (p.name.empty()) name.fail("must not be empty");
  if (auto type = r.take("type")) p.type = parse_provider_type(*type);
  p.base_url = parse_base_url(r.require("base_url"));
  r.read("enabled", p.enabled);
  parse_credentials(r, p);
  r.read("weight", p.weight, 1, std::numeric_limits<int>::max());
  r.read("proxy", p.proxy);
  if (auto email = r.take("account_email")) {
    p.account_email = email->as_string();
    if (p.auth_type != AuthType::OAuth) email->warn("ignored: only auth_type oauth providers use an account");
  }
  if (auto headers = r.take("headers")) p.headers = parse_headers(*headers);
  r.read("max_completion_tokens", p.max_completion_tokens);
  r.read("max_output_tokens", p.max_output_tokens, 0, std::numeric_limits<int>::max());
  r.read("send_reasoning_content", p.send_reasoning_content);
  r.read("balance_check", p.balance_check);
  r.read("balance_check_interval", p.balance_check_interval);
  r.read("balance_threshold", p.balance_threshold);
  r.ignore({"streaming_mode"});
  r.finish();
  return p;
}

std::vector<ProviderConfig> parse_providers(Reader& root) {
  Reader list = root.require("providers");
  if (!list.is_sequence()) list.fail("must be a list of providers");
  std::vector<ProviderConfig> providers;
  for (Reader& item : list.items()) {
    ProviderConfig p = parse_provider(item);
    for (const ProviderConfig& seen : providers) {
      if (seen.name == p.name) {
        throw ConfigFailure{
            fmt::format("{}.name (line {}): duplicate provider name {} (first at "
                        "line {})",
                        item.path(), p.line, quote(p.name), seen.line)};
      }
    }
    providers.push_back(std::move(p));
  }
  if (providers.empty()) list.fail("must list at least one provider");
  return providers;
}

// ---- model_routes -------------------------------------------------------------------------

RouteEntry parse_route_entry(Reader r, const std::vector<ProviderConfig>& providers) {
  r.require_map();
  RouteEntry e;
  Reader provider = r.require("provider");
  e.provider = provider.as_string();
  const bool known =
      std::any_of(providers.begin(), providers.end(), [&](const ProviderConfig& p) { return p.name == e.provider; });
  if (!known) provider.fail(fmt::format("unknown provider {}", quote(e.provider)));
  if (auto model = r.take("model")) {
    e.model = model->as_string();
    if (e.model.empty()) model->fail("must not be empty (use \"passthrough\")");
  }
  r.read("priority", e.priority, 0, std::numeric_limits<int>::max());
  if (auto weight = r.take("weight")) e.weight = static_cast<int>(weight->as_int(1, std::numeric_limits<int>::max()));
  r.read("enabled", e.enabled);
  r.read("account_email", e.account_email);
  r.finish();
  return e;
}

std::vector<ModelRoute> parse_routes(Reader& root, const std::vector<ProviderConfig>& providers,
                                     std::vector<std::string>& warnings) {
  std::optional<Reader> routes = root.take("model_routes");
  if (routes) routes->require_map();
  std::vector<ModelRoute> out;
  if (routes) {
    auto entries = routes->take_all([](const std::string& key) { return fmt::format("model_routes[\"{}\"]", key); });
    for (auto& [pattern, list] : entries) {
      if (pattern.empty()) list.fail("model pattern must not be empty");
      if (!list.is_sequence()) list.fail("must be a list of route entries");
      ModelRoute route{pattern, {}};
      for (Reader& item : list.items())
        route.entries.push_back(parse_route_entry(item, providers));
      if (route.entries.empty()) list.fail("must list at least one route entry");
      out.push_back(std::move(route));
    }
  }
  if (out.empty()) warnings.push_back("no model_routes: every request will get 404");
  return out;
}

// ---- settings -----------------------------------------------------------------------------

Duration positive_duration(const Reader& r) {
  const Duration value = r.as_duration();
  if (value <= Duration::zero()) r.fail("must be greater than 0");
  return value;
}

// Flat `connect_timeout`/`read_timeout`; zk's `streaming.{connect,read}_timeout` stand in when
// the flat keys are absent. zk's other timeout groups are accepted and ignored.
void parse_timeouts(Reader r, TimeoutSettings& t) {
  r.require_map();
  std::optional<Reader> connect = r.take("connect_timeout");
  std::optional<Reader> read = r.take("read_timeout");
  std::optional<Reader> first_event = r.take("first_event_timeout");
  if (auto streaming = r.take("streaming")) {
    streaming->require_map();
    if (!connect) connect = streaming->take("connect_timeout");
    if (!read) read = streaming->take("read_timeout");
    if (!first_event) first_event = streaming->take("first_chunk_timeout");
    streaming->ignore({"connect_timeout", "read_timeout", "pool_timeout", "chunk_timeout", "first_chunk_timeout",
                       "processing_timeout"});
    streaming->finish();
  }
  r.ignore({"non_streaming", "caching", "health_check"});
  if (connect) t.connect_timeout = positive_duration(*connect);
  if (read) t.read_timeout = positive_duration(*read);
  if (first_event) t.first_event_timeout = positive_duration(*first_event);
  if (auto count_tokens = r.take("count_tokens_timeout")) t.count_tokens_timeout = positive_duration(*count_tokens);
  r.finish();
}

void parse_dedup(Reader r, DedupSettings& d) {
  r.require_map();
  r.read("enabled", d.enabled);
  r.read("max_flight_bytes", d.max_flight_bytes, 1);
  r.read("max_flights", d.max_flights, 1);
  r.ignore({"include_max_tokens_in_signature", "sse_error_cleanup_delay"});
  r.finish();
}

// `cooldowns: {rate_limit: 60, auth: 1800, ...}`: seconds per failure class.
void parse_cooldowns(Reader r, CooldownSettings& c) {
  r.require_map();
  const std::pair<const char*, std::optional<Duration>*> classes[] = {
      {"rate_limit", &c.rate_limit},     {"overloaded", &c.overloaded},
      {"server_error", &c.server_error}, {"auth", &c.auth},
      {"connection", &c.connection},     {"timeout", &c.timeout}};
  for (const auto& [name, slot] : classes) {
    if (auto value = r.take(name)) *slot = value->as_duration();
  }
  r.finish();
}

void parse_health_settings(Reader& r, Settings& s) {
  std::optional<Reader> cooldown = r.take("failure_cooldown");
  std::optional<Reader> alias = r.take("cooldown_seconds");
  if (cooldown && alias)
    alias->warn(fmt::format("ignored: {} (line {}) takes precedence", cooldown->path(), cooldown->line()));
  if (cooldown || alias) s.failure_cooldown = (cooldown ? cooldown : alias)->as_duration();
  if (auto cooldowns = r.take("cooldowns")) parse_cooldowns(*cooldowns, s.cooldowns);
  r.read("unhealthy_threshold", s.unhealthy_threshold, 1, std::numeric_limits<int>::max());
  r.read("unhealthy_reset_on_success", s.unhealthy_reset_on_success);
  if (auto reset = r.take("unhealthy_reset_timeout")) {  // <= 0 disables: stored as zero
    const double seconds = reset->as_number();
    if (seconds > kMaxSeconds) reset->fail(fmt::format("is too large ({} s)", seconds));
    s.unhealthy_reset_timeout = seconds > 0 ? seconds_to_duration(seconds) : Duration::zero();
  }
  if (auto codes = r.take("unhealthy_http_codes")) s.unhealthy_http_codes = codes->as_int_list(100, 599);
  r.read("unhealthy_error_types", s.unhealthy_error_types);
  r.read("unhealthy_response_body_patterns", s.unhealthy_response_body_patterns);
  if (auto patterns = r.take("unhealthy_exception_patterns")) {
    patterns->warn(
        "ignored (reference-balancer key): use unhealthy_error_types and "
        "unhealthy_response_body_patterns");
  }
  r.read("sticky_provider_duration", s.sticky_provider_duration);
}

void parse_server_settings(Reader& r, Settings& s) {
  if (auto host = r.take("host")) {
    s.host = host->as_string();
    if (s.host.empty()) host->fail("must not be empty");
  }
  r.read("port", s.port, 0, 65535);
  if (auto level = r.take("log_level")) s.log_level = parse_log_level(*level);
  r.read("log_file_path", s.log_file_path);
  r.read("log_bodies", s.log_bodies);
  r.read("max_connections", s.max_connections, 1);
  r.read("shutdown_grace_seconds", s.shutdown_grace);
  r.read("allow_unauthenticated_remote", s.allow_unauthenticated_remote);
  r.read("max_request_body_bytes", s.max_request_body_bytes, 1);
  r.read("max_header_count", s.max_header_count, 1);
  r.read("max_header_bytes", s.max_header_bytes, 1);
  r.read("request_head_timeout_seconds", s.request_head_timeout);
  r.read("request_body_idle_timeout_seconds", s.request_body_idle_timeout);
  r.read("keep_alive_timeout_seconds", s.keep_alive_timeout);
  std::optional<Reader> cert = r.take("tls_cert_file");
  std::optional<Reader> key = r.take("tls_key_file");
  if (cert) s.tls_cert_file = cert->as_string();
  if (key) s.tls_key_file = key->as_string();
  if (!s.tls_cert_file.empty() && s.tls_key_file.empty()) cert->fail("tls_key_file must be set too");
  if (s.tls_cert_file.empty() && !s.tls_key_file.empty()) key->fail("tls_cert_file must be set too");
}

// Reads everything under `settings` except auth, oauth, mode and algorithm (the caller owns
// those, as they may also appear at the top level). Returns an explicit selection_strategy.
std::optional<SelectionStrategy> parse_settings(Reader& r, Settings& s) {
  std::optional<SelectionStrategy> strategy;
  if (auto value = r.take("selection_strategy")) strategy = parse_strategy(*value);
  parse_health_settings(r, s);
  if (auto timeout = r.take("timeout_seconds")) s.header_timeout = positive_duration(*timeout);
  if (auto timeouts = r.take("timeouts")) parse_timeouts(*timeouts, s.timeouts);
  parse_server_settings(r, s);
  r.read("max_cache_size", s.max_cache_size, 0);
  r.read("cache_ttl_seconds", s.cache_ttl);
  if (auto dedup = r.take("deduplication")) parse_dedup(*dedup, s.deduplication);
  r.ignore({"reload", "reload_includes", "log_color", "app_name", "app_version", "testing", "token_counting"});
  return strategy;
}

// ---- auth and oauth -----------------------------------------------------------------------

AuthSettings parse_auth(Reader r) {
  r.require_map();
  AuthSettings a;
  std::optional<Reader> enabled = r.take("enabled");
  if (enabled) a.enabled = enabled->as_bool();
  std::vector<std::string> keys;
  if (auto key = r.take("api_key")) keys.push_back(key->as_string());
  if (auto list = r.take("api_keys")) {
    for (const Reader& item : list->items())
      keys.push_back(item.as_string());
  }
  for (std::string& key : keys) {  // merged, empty placeholders dropped, duplicates once
    if (!key.empty() && std::find(a.api_keys.begin(), a.api_keys.end(), key) == a.api_keys.end())
      a.api_keys.push_back(std::move(key));
  }
  if (a.enabled && a.api_keys.empty()) enabled->fail("auth is enabled but api_key/api_keys is empty");
  r.read("admin_api_key", a.admin_api_key);
  if (auto paths = r.take("exempt_paths")) {
    a.exempt_paths.clear();
    for (const Reader& item : paths->items()) {
      std::string path = item.as_string();
      if (!path.starts_with('/')) item.fail(fmt::format("must start with '/', got {}", quote(path)));
      a.exempt_paths.push_back(std::move(path));
    }
  }
  r.finish();
  return a;
}

void read_url(Reader& r, std::string_view key, std::string& out) {
  std::optional<Reader> value = r.take(key);
  if (!value) return;
  out = value->as_string();
  if (!starts_with_http(out)) value->fail(fmt::format("must start with http:// or https://, got {}", quote(out)));
}

OAuthSettings parse_oauth(Reader r) {
  r.require_map();
  OAuthSettings o;
  read_url(r, "authorize_url", o.authorize_url);
  read_url(r, "token_url", o.token_url);
  r.read("client_id", o.client_id);
  read_url(r, "redirect_uri", o.redirect_uri);
  r.read("scopes", o.scopes);
  r.read("token_store_path", o.token_store_path);
  r.read("refresh_skew_seconds", o.refresh_skew);
  r.read("proxy", o.proxy);
  r.ignore({"enable_persistence", "service_name", "enable_auto_refresh"});
  r.finish();
  return o;
}

// ---- the document -------------------------------------------------------------------------

BalancerConfig parse_document(const YAML::Node& document, const EnvLookup& env) {
  BalancerConfig cfg;
  Reader root(document, "", 1, Context{&env, &cfg.warnings});
  if (!root.is_map()) root.fail("the configuration must be a map (providers, model_routes, ...)");

  cfg.providers = parse_providers(root);
  cfg.model_routes = parse_routes(root, cfg.providers, cfg.warnings);

  std::optional<Reader> settings = root.take("settings");
  if (settings) settings->require_map();
  const auto nested = [&](std::string_view key) -> std::optional<Reader> {
    return settings ? settings->take(key) : std::nullopt;
  };
  std::optional<SelectionStrategy> strategy;
  if (settings) strategy = parse_settings(*settings, cfg.settings);

  std::optional<Reader> mode = prefer_top_level(root.take("mode"), nested("mode"));
  std::optional<Reader> algorithm = prefer_top_level(root.take("algorithm"), nested("algorithm"));
  if (mode || algorithm) {
    const SelectionStrategy derived = strategy_from_mode(mode, algorithm);
    const Reader& alias = mode ? *mode : *algorithm;
    if (strategy && *strategy != derived) alias.warn("ignored: settings.selection_strategy takes precedence");
    if (!strategy) strategy = derived;
  }
  if (strategy) cfg.settings.selection_strategy = *strategy;

  if (auto auth = prefer_top_level(root.take("auth"), nested("auth"))) cfg.auth = parse_auth(*auth);
  if (auto oauth = prefer_top_level(root.take("oauth"), nested("oauth"))) cfg.oauth = parse_oauth(*oauth);

  if (settings) settings->finish();
  root.finish();
  return cfg;
}

}  // namespace

// ---- public API ---------------------------------------------------------------------------

std::string_view to_string(ProviderType type) {
  switch (type) {
    case ProviderType::Anthropic: return "anthropic";
    case ProviderType::OpenAI: return "openai";
  }
  return "anthropic";
}

std::string_view to_string(AuthType type) {
  switch (type) {
    case AuthType::ApiKey: return "api_key";
    case AuthType::AuthToken: return "auth_token";
    case AuthType::OAuth: return "oauth";
  }
  return "api_key";
}

std::string_view to_string(SelectionStrategy strategy) {
  switch (strategy) {
    case SelectionStrategy::Priority: return "priority";
    case SelectionStrategy::RoundRobin: return "round_robin";
    case SelectionStrategy::WeightedRoundRobin: return "weighted_round_robin";
    case SelectionStrategy::Random: return "random";
  }
  return "priority";
}

const ProviderConfig* BalancerConfig::find_provider(std::string_view name) const {
  for (const ProviderConfig& provider : providers)
    if (provider.name == name) return &provider;
  return nullptr;
}

Result<BalancerConfig> parse_config(std::string_view yaml, const EnvLookup& env) {
  try {
    return parse_document(YAML::Load(std::string(yaml)), env);
  } catch (const ConfigFailure& failure) {
    return make_error(ErrorCode::InvalidConfig, failure.message);
  } catch (const YAML::ParserException& e) {
    return make_error(ErrorCode::InvalidConfig, fmt::format("YAML syntax error (line {}, column {}): {}",
                                                            e.mark.line + 1, e.mark.column + 1, e.msg));
  } catch (const YAML::Exception& e) {
    return make_error(ErrorCode::InvalidConfig, fmt::format("invalid YAML: {}", e.what()));
  } catch (const std::exception& e) {
    return make_error(ErrorCode::InvalidConfig, fmt::format("cannot parse config: {}", e.what()));
  } catch (...) {  // e.g. from a caller's EnvLookup
    return make_error(ErrorCode::InvalidConfig, "cannot parse config: unknown error");
  }
}

Result<BalancerConfig> load_config(const std::string& path, const EnvLookup& env) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    return make_error(ErrorCode::InvalidConfig, fmt::format("{}: is a directory", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return make_error(ErrorCode::InvalidConfig,
                      fmt::format("{}: cannot read config file: {}", path, std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return make_error(ErrorCode::InvalidConfig, fmt::format("{}: read error", path));
  Result<BalancerConfig> cfg = parse_config(text.str(), env);
  if (!cfg) cfg.error().message = fmt::format("{}: {}", path, cfg.error().message);
  return cfg;
}

std::string normalize_account_email(std::string_view email) {
  return detail::to_lower(detail::trim(email, detail::kAsciiWhitespace));
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost" || host == "::1") {
    return true;
  }
  return host.size() > 4 && host.substr(0, 4) == "127." &&
         host.find_first_not_of("0123456789.") == std::string_view::npos;
}

Result<void> check_listen_safety(const BalancerConfig& config, std::string_view host) {
  if (is_loopback_host(host) || config.settings.allow_unauthenticated_remote) {
    return {};
  }
  const auto& exempt = config.auth.exempt_paths;
  if (config.auth.enabled && std::find(exempt.begin(), exempt.end(), "/v1/messages") != exempt.end()) {
    return make_error(ErrorCode::InvalidConfig,
                      fmt::format("auth.exempt_paths: refusing to listen on {} with /v1/messages exempt from client "
                                  "auth (set settings.allow_unauthenticated_remote to allow it)",
                                  host));
  }
  if (config.auth.enabled) {
    return {};
  }
  return make_error(ErrorCode::InvalidConfig,
                    fmt::format("settings.host: refusing to listen on {} without client auth "
                                "(set auth.enabled, or settings.allow_unauthenticated_remote)",
                                host));
}

}  // namespace balancer
