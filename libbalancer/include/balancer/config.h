// config.h — the balancer's configuration: plain validated aggregates parsed from YAML
// (spec §2). Parsing is pure: environment variables come in through an EnvLookup; the
// library never reads the process environment itself.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <balancer/error.h>

namespace balancer {

// Config durations are given in (possibly fractional) seconds and kept in milliseconds.
using Duration = std::chrono::milliseconds;

enum class ProviderType { Anthropic, OpenAI };
// How the provider's credential is sent. `auth_value: passthrough` is orthogonal: the client's
// own credential is forwarded instead of a configured one.
enum class AuthType { ApiKey, AuthToken, OAuth };
enum class SelectionStrategy { Priority, RoundRobin, WeightedRoundRobin, Random };

std::string_view to_string(ProviderType type);
std::string_view to_string(AuthType type);
std::string_view to_string(SelectionStrategy strategy);

struct ProviderConfig {
  std::string name;
  ProviderType type = ProviderType::Anthropic;
  std::string base_url;  // trailing '/' removed
  AuthType auth_type = AuthType::ApiKey;
  std::string auth_value;  // secret (expanded), "passthrough" or "oauth"
  bool enabled = true;
  int weight = 1;
  std::string proxy;
  std::string account_email;
  std::vector<std::pair<std::string, std::string>> headers;  // extra upstream headers
  bool max_completion_tokens = false;                        // openai: send max_completion_tokens
  int max_output_tokens = 0;                                 // openai: cap max_tokens at the model's limit (0 = no cap)
  bool send_reasoning_content = true;  // openai: assistant thinking goes back as reasoning_content
  std::string balance_check;           // shell command printing a number
  Duration balance_check_interval = std::chrono::seconds(300);
  double balance_threshold = 0.0;
  int line = 0;  // 1-based line in the file, for messages

  bool passthrough() const { return auth_value == "passthrough"; }
};

struct RouteEntry {
  std::string provider;
  std::string model = "passthrough";  // "passthrough" keeps the client's model
  int priority = 1;                   // lower = preferred
  std::optional<int> weight;          // overrides the provider's weight
  bool enabled = true;
  std::string account_email;
};

struct ModelRoute {
  std::string pattern;  // exact model name, or a glob where '*' is the only wildcard
  std::vector<RouteEntry> entries;
  bool is_glob() const { return pattern.find('*') != std::string::npos; }
};

struct TimeoutSettings {
  Duration connect_timeout = std::chrono::seconds(10);
  Duration read_timeout = std::chrono::seconds(120);  // max idle gap inside a body/stream
  // From a stream's response headers to its first SSE event; exceeded before anything reached
  // the client, the attempt fails (timeout_error) and the request fails over.
  Duration first_event_timeout = std::chrono::seconds(30);
  // count_tokens calls: the wait for headers and the longest gap inside the body.
  Duration count_tokens_timeout = std::chrono::seconds(10);
};

// Per-class cooldowns (`settings.cooldowns`); a class not given cools down for failure_cooldown.
struct CooldownSettings {
  std::optional<Duration> rate_limit;    // 429, rate_limit_error
  std::optional<Duration> overloaded;    // 529, 503, overloaded_error
  std::optional<Duration> server_error;  // other 5xx, error payloads, broken bodies and streams
  std::optional<Duration> auth;          // 401, 402, 403, refused OAuth tokens
  std::optional<Duration> connection;    // refused, reset, DNS, TLS, protocol errors
  std::optional<Duration> timeout;       // timeout_error, 408, 504, 524
};

struct DedupSettings {
  bool enabled = true;
  std::size_t max_flight_bytes = 64u << 20;
  std::size_t max_flights = 1024;
};

struct Settings {
  SelectionStrategy selection_strategy = SelectionStrategy::Priority;
  Duration failure_cooldown = std::chrono::seconds(180);
  CooldownSettings cooldowns;
  int unhealthy_threshold = 2;
  bool unhealthy_reset_on_success = true;
  Duration unhealthy_reset_timeout = std::chrono::seconds(300);
  std::vector<int> unhealthy_http_codes{401, 402, 403, 404, 408, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524, 529};
  std::vector<std::string> unhealthy_error_types{"connection_error", "timeout_error", "ssl_error"};
  std::vector<std::string> unhealthy_response_body_patterns{"Insufficient credits", "没有可用token", "无可用模型"};
  Duration sticky_provider_duration = std::chrono::seconds(300);
  Duration header_timeout = std::chrono::seconds(300);  // wait for upstream headers
  TimeoutSettings timeouts;
  std::string host = "127.0.0.1";
  int port = 9090;
  std::string log_level = "INFO";  // DEBUG | INFO | WARNING | ERROR | CRITICAL (upper-cased)
  std::string log_file_path = "logs/logs.jsonl";
  bool log_bodies = false;
  std::size_t max_cache_size = 1000;
  Duration cache_ttl = Duration::zero();
  DedupSettings deduplication;
  std::size_t max_connections = 1024;
  Duration shutdown_grace = std::chrono::seconds(30);
  bool allow_unauthenticated_remote = false;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::size_t max_request_body_bytes = 32u << 20;  // the API's own limit
  // Request head limits: more headers, or more header bytes (names and values), get 431.
  std::size_t max_header_count = 100;
  std::size_t max_header_bytes = 64u << 10;
  // Client connection deadlines: the whole request head must arrive within request_head_timeout
  // of its first byte (or of the connection's opening); a body may pause at most
  // request_body_idle_timeout between reads; an idle kept-alive connection is closed after
  // keep_alive_timeout.
  Duration request_head_timeout = std::chrono::seconds(10);
  Duration request_body_idle_timeout = std::chrono::seconds(30);
  Duration keep_alive_timeout = std::chrono::seconds(30);
};

struct AuthSettings {
  bool enabled = false;
  std::vector<std::string> api_keys;  // `api_key` and `api_keys` merged
  std::string admin_api_key;          // optional: required for /providers/reload and /oauth/*
  std::vector<std::string> exempt_paths{"/health"};
};

struct OAuthSettings {
  std::string authorize_url = "https://claude.ai/oauth/authorize";
  std::string token_url = "https://console.anthropic.com/v1/oauth/token";
  std::string client_id = "9d1c250a-e61b-44d9-88ed-5944d1962f5e";
  std::string redirect_uri = "https://console.anthropic.com/oauth/code/callback";
  std::vector<std::string> scopes{"org:create_api_key", "user:profile", "user:inference"};
  std::string token_store_path;  // empty: a file under the user's state directory
  Duration refresh_skew = std::chrono::seconds(300);
  std::string proxy;
};

// The whole validated configuration. Immutable once parsed; share it as shared_ptr<const>.
struct BalancerConfig {
  std::vector<ProviderConfig> providers;  // file order
  std::vector<ModelRoute> model_routes;   // file order
  Settings settings;
  AuthSettings auth;
  OAuthSettings oauth;
  std::vector<std::string> warnings;  // unknown keys and other non-fatal findings

  const ProviderConfig* find_provider(std::string_view name) const;
};

// Looks up an environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// Parses and validates YAML text. Errors are ErrorCode::InvalidConfig with a message that names
// the key path and line, e.g. "providers[1].auth_type (line 7): must be one of api_key, ...".
// `${VAR}` in any string value is expanded through `env`; a missing variable is an error.
Result<BalancerConfig> parse_config(std::string_view yaml, const EnvLookup& env);
// Reads `path` and parses it; the message of a read failure names the file.
Result<BalancerConfig> load_config(const std::string& path, const EnvLookup& env);

// Whether `host` names this machine only: "localhost", "::1" or an IPv4 address 127.x.y.z.
bool is_loopback_host(std::string_view host);
// The rule for listening on `host`, at start-up and again on every reload: a host other than
// loopback needs client auth (auth.enabled) or settings.allow_unauthenticated_remote. The error
// (InvalidConfig) names the host and how to allow it.
Result<void> check_listen_safety(const BalancerConfig& config, std::string_view host);

// Lower-cases and trims an account email: the key OAuth accounts are stored, bound and tracked
// under (provider and route-entry `account_email`, the token store, health keys).
std::string normalize_account_email(std::string_view email);

}  // namespace balancer
