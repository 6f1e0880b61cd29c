// config_test.cpp — parse_config / load_config (spec §2): the example file, the full schema,
// defaults, aliases, ${VAR} expansion, unknown-key warnings and every validation error.

#include <balancer/config.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using balancer::AuthType;
using balancer::BalancerConfig;
using balancer::EnvLookup;
using balancer::ErrorCode;
using balancer::ProviderType;
using balancer::SelectionStrategy;

namespace {

EnvLookup no_env() {
  return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// Parses and requires success, showing the error otherwise.
BalancerConfig parse_ok(const std::string& yaml, const EnvLookup& env = no_env()) {
  auto result = balancer::parse_config(yaml, env);
  INFO((result ? std::string() : result.error().message));
  REQUIRE(result.has_value());
  return *result;
}

// Parses and requires an InvalidConfig error; returns its message.
std::string parse_error(const std::string& yaml, const EnvLookup& env = no_env()) {
  auto result = balancer::parse_config(yaml, env);
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error().code == ErrorCode::InvalidConfig);
  return result.error().message;
}

// One provider "a" on lines 1-5; tests append from line 6 on.
const std::string kOneProvider = R"(providers:
  - name: a
    type: anthropic
    base_url: https://a.example.com
    auth_value: key-a
)";

// kOneProvider plus a route "*" -> a on lines 6-8; settings etc. start at line 9.
const std::string kMinimal = kOneProvider + R"(model_routes:
  "*":
    - provider: a
)";

bool contains(const std::vector<std::string>& list, const std::string& part) {
  for (const auto& item : list)
    if (item.find(part) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("config.example.yaml parses with no environment and no warnings", "[unit][config]") {
  auto result = balancer::load_config(BALANCER_SOURCE_DIR "/config.example.yaml", no_env());
  INFO((result ? std::string() : result.error().message));
  REQUIRE(result.has_value());
  const BalancerConfig& cfg = *result;
  CHECK(cfg.warnings.empty());
  REQUIRE(cfg.providers.size() == 1);
  const auto& p = cfg.providers[0];
  CHECK(p.name == "anthropic");
  CHECK(p.type == ProviderType::Anthropic);
  CHECK(p.base_url == "https://api.anthropic.com");
  CHECK(p.auth_type == AuthType::ApiKey);
  CHECK(p.passthrough());
  CHECK(p.enabled);
  REQUIRE(cfg.model_routes.size() == 1);
  CHECK(cfg.model_routes[0].pattern == "*");
  REQUIRE(cfg.model_routes[0].entries.size() == 1);
  CHECK(cfg.model_routes[0].entries[0].provider == "anthropic");
  CHECK(cfg.model_routes[0].entries[0].model == "passthrough");
  CHECK(cfg.settings.host == "127.0.0.1");
  CHECK(cfg.settings.port == 9090);
  CHECK_FALSE(cfg.auth.enabled);
}

namespace {

// The example's commented YAML must stay valid: uncomment every line whose text after "# " looks
// like a YAML key or list item (section banners and prose stay comments) and parse the result.
std::string uncomment_example(const std::string& text) {
  const std::regex yaml_line(R"(^(\s*)# ?(\s*(- )?("[^"]*"|[\w.-]+):( .*)?)$)");
  const std::regex banner(R"(^# -{5,}$)");
  std::istringstream in(text);
  std::string out;
  std::string line;
  bool started = false;
  bool in_banner = false;
  std::smatch match;
  while (std::getline(in, line)) {
    started = started || line.starts_with("providers:");
    if (std::regex_match(line, banner)) in_banner = !in_banner;
    if (started && !in_banner && std::regex_match(line, match, yaml_line)) line = match[1].str() + match[2].str();
    out += line + "\n";
  }
  return out;
}

}  // namespace

TEST_CASE("config.example.yaml's commented examples are valid once uncommented", "[unit][config]") {
  std::ifstream file(BALANCER_SOURCE_DIR "/config.example.yaml");
  REQUIRE(file.good());
  std::stringstream text;
  text << file.rdbuf();
  const std::string yaml = uncomment_example(text.str());
  INFO(yaml);
  const auto cfg = parse_ok(yaml, [](const std::string& name) -> std::optional<std::string> { return "v-" + name; });
  CHECK(cfg.warnings.empty());
  CHECK(cfg.providers.size() > 1);
  CHECK(cfg.model_routes.size() > 1);
  CHECK(cfg.model_routes.back().pattern == "*");  // the catch-all stays last
  CHECK_FALSE(cfg.auth.api_keys.empty());
}

TEST_CASE("a file using every key parses to the expected values", "[unit][config]") {
  const std::string yaml = R"(providers:
  - name: main
    type: anthropic
    base_url: "https://api.anthropic.com/"
    auth_type: auth_token
    auth_value: "${MAIN_KEY}"
    enabled: true
    weight: 3
    proxy: "socks5://127.0.0.1:1080"
    headers:
      X-Team: platform
      X-Secret: "${HEADER_SECRET}"
    streaming_mode: auto
    balance_check: "echo 12.5"
    balance_check_interval: 60
    balance_threshold: 1.5
  - name: router
    type: openai
    base_url: https://openrouter.ai/api/v1
    auth_type: api_key
    auth_value: literal-key
    enabled: false
    max_completion_tokens: true
    max_output_tokens: 8192
    send_reasoning_content: false
  - name: pro
    base_url: https://api.anthropic.com
    auth_type: oauth
    account_email: "me@example.com"
model_routes:
  "*sonnet*":
    - {provider: main, model: passthrough, priority: 1}
    - {provider: router, model: "anthropic/claude-sonnet-4.5", priority: 2, weight: 5, enabled: false, account_email: "x@example.com"}
  "claude-haiku-4-5":
    - provider: pro
  "*":
    - provider: main
settings:
  selection_strategy: weighted_round_robin
  failure_cooldown: 90
  unhealthy_threshold: 3
  unhealthy_reset_on_success: false
  unhealthy_reset_timeout: 0.5
  unhealthy_http_codes: [429, 503]
  unhealthy_error_types: [timeout_error]
  unhealthy_response_body_patterns: ["quota"]
  sticky_provider_duration: 60
  timeout_seconds: 45
  timeouts: {connect_timeout: 2.5, read_timeout: 30}
  host: "0.0.0.0"
  port: 8080
  log_level: debug
  log_file_path: "/var/log/balancer.jsonl"
  log_bodies: true
  max_cache_size: 10
  cache_ttl_seconds: 5
  deduplication: {enabled: false, max_flight_bytes: 1024, max_flights: 7}
  max_connections: 64
  shutdown_grace_seconds: 2
  allow_unauthenticated_remote: true
  tls_cert_file: cert.pem
  tls_key_file: key.pem
  max_request_body_bytes: 1048576
auth:
  enabled: true
  api_key: one
  api_keys: [two, "${THIRD}"]
  admin_api_key: admin
  exempt_paths: ["/health", "/metrics"]
oauth:
  authorize_url: "https://auth.example.com/authorize"
  token_url: "https://auth.example.com/token"
  client_id: "client"
  redirect_uri: "https://auth.example.com/callback"
  scopes: [a, b]
  token_store_path: "/tmp/tokens.json"
  refresh_skew_seconds: 60
  proxy: "http://127.0.0.1:3128"
)";
  const auto cfg = parse_ok(yaml, env_of({{"MAIN_KEY", "sk-main"}, {"HEADER_SECRET", "hs"}, {"THIRD", "three"}}));
  CHECK(cfg.warnings.empty());

  REQUIRE(cfg.providers.size() == 3);
  const auto& main = cfg.providers[0];
  CHECK(main.base_url == "https://api.anthropic.com");
  CHECK(main.auth_type == AuthType::AuthToken);
  CHECK(main.auth_value == "sk-main");
  CHECK(main.weight == 3);
  CHECK(main.proxy == "socks5://127.0.0.1:1080");
  CHECK(main.account_email.empty());
  using Header = std::pair<std::string, std::string>;
  CHECK(main.headers == std::vector<Header>{{"X-Team", "platform"}, {"X-Secret", "hs"}});
  CHECK(main.balance_check == "echo 12.5");
  CHECK(main.balance_check_interval == 60s);
  CHECK(main.balance_threshold == Approx(1.5));
  CHECK(main.line == 2);
  const auto& router = cfg.providers[1];
  CHECK(router.type == ProviderType::OpenAI);
  CHECK_FALSE(router.enabled);
  CHECK(router.max_completion_tokens);
  CHECK(router.max_output_tokens == 8192);
  CHECK_FALSE(router.send_reasoning_content);
  CHECK(router.line == 17);
  const auto& pro = cfg.providers[2];
  CHECK(pro.type == ProviderType::Anthropic);
  CHECK(pro.auth_type == AuthType::OAuth);
  CHECK(pro.auth_value == "oauth");
  CHECK(pro.account_email == "me@example.com");

  REQUIRE(cfg.model_routes.size() == 3);  // file order
  CHECK(cfg.model_routes[0].pattern == "*sonnet*");
  CHECK(cfg.model_routes[1].pattern == "claude-haiku-4-5");
  CHECK(cfg.model_routes[2].pattern == "*");
  const auto& second = cfg.model_routes[0].entries.at(1);
  CHECK(second.provider == "router");
  CHECK(second.model == "anthropic/claude-sonnet-4.5");
  CHECK(second.priority == 2);
  CHECK(second.weight == 5);
  CHECK_FALSE(second.enabled);
  CHECK(second.account_email == "x@example.com");
  CHECK_FALSE(cfg.model_routes[0].entries[0].weight.has_value());

  const auto& s = cfg.settings;
  CHECK(s.selection_strategy == SelectionStrategy::WeightedRoundRobin);
  CHECK(s.failure_cooldown == 90s);
  CHECK(s.unhealthy_threshold == 3);
  CHECK_FALSE(s.unhealthy_reset_on_success);
  CHECK(s.unhealthy_reset_timeout == 500ms);
  CHECK(s.unhealthy_http_codes == std::vector<int>{429, 503});
  CHECK(s.unhealthy_error_types == std::vector<std::string>{"timeout_error"});
  CHECK(s.unhealthy_response_body_patterns == std::vector<std::string>{"quota"});
  CHECK(s.sticky_provider_duration == 60s);
  CHECK(s.header_timeout == 45s);
  CHECK(s.timeouts.connect_timeout == 2500ms);
  CHECK(s.timeouts.read_timeout == 30s);
  CHECK(s.host == "0.0.0.0");
  CHECK(s.port == 8080);
  CHECK(s.log_level == "DEBUG");
  CHECK(s.log_file_path == "/var/log/balancer.jsonl");
  CHECK(s.log_bodies);
  CHECK(s.max_cache_size == 10);
  CHECK(s.cache_ttl == 5s);
  CHECK_FALSE(s.deduplication.enabled);
  CHECK(s.deduplication.max_flight_bytes == 1024);
  CHECK(s.deduplication.max_flights == 7);
  CHECK(s.max_connections == 64);
  CHECK(s.shutdown_grace == 2s);
  CHECK(s.allow_unauthenticated_remote);
  CHECK(s.tls_cert_file == "cert.pem");
  CHECK(s.tls_key_file == "key.pem");
  CHECK(s.max_request_body_bytes == 1048576);

  CHECK(cfg.auth.enabled);
  CHECK(cfg.auth.api_keys == std::vector<std::string>{"one", "two", "three"});
  CHECK(cfg.auth.admin_api_key == "admin");
  CHECK(cfg.auth.exempt_paths == std::vector<std::string>{"/health", "/metrics"});

  CHECK(cfg.oauth.authorize_url == "https://auth.example.com/authorize");
  CHECK(cfg.oauth.token_url == "https://auth.example.com/token");
  CHECK(cfg.oauth.client_id == "client");
  CHECK(cfg.oauth.redirect_uri == "https://auth.example.com/callback");
  CHECK(cfg.oauth.scopes == std::vector<std::string>{"a", "b"});
  CHECK(cfg.oauth.token_store_path == "/tmp/tokens.json");
  CHECK(cfg.oauth.refresh_skew == 60s);
  CHECK(cfg.oauth.proxy == "http://127.0.0.1:3128");

  CHECK(cfg.find_provider("router") == &cfg.providers[1]);
  CHECK(cfg.find_provider("nope") == nullptr);
}

TEST_CASE("absent sections keep the spec's defaults", "[unit][config]") {
  const auto cfg = parse_ok(kMinimal);
  CHECK(cfg.warnings.empty());
  const balancer::Settings defaults;
  const auto& s = cfg.settings;
  CHECK(s.selection_strategy == SelectionStrategy::Priority);
  CHECK(s.failure_cooldown == 180s);
  CHECK(s.unhealthy_threshold == 2);
  CHECK(s.unhealthy_reset_on_success);
  CHECK(s.unhealthy_reset_timeout == 300s);
  CHECK(s.unhealthy_http_codes == defaults.unhealthy_http_codes);
  CHECK(s.unhealthy_http_codes.size() == 16);
  CHECK(s.unhealthy_error_types == defaults.unhealthy_error_types);
  CHECK(s.sticky_provider_duration == 300s);
  CHECK(s.header_timeout == 300s);
  CHECK(s.timeouts.connect_timeout == 10s);
  CHECK(s.timeouts.read_timeout == 120s);
  CHECK(s.timeouts.first_event_timeout == 30s);
  CHECK(s.timeouts.count_tokens_timeout == 10s);
  CHECK_FALSE(s.cooldowns.rate_limit.has_value());
  CHECK_FALSE(s.cooldowns.auth.has_value());
  CHECK(s.port == 9090);
  CHECK(s.log_level == "INFO");
  CHECK(s.deduplication.enabled);
  CHECK(s.max_connections == 1024);
  CHECK(s.max_request_body_bytes == 32u << 20);
  CHECK_FALSE(cfg.auth.enabled);
  CHECK(cfg.auth.exempt_paths == std::vector<std::string>{"/health"});
  CHECK(cfg.oauth.client_id == "9d1c250a-e61b-44d9-88ed-5944d1962f5e");

  const auto& p = cfg.providers.at(0);
  CHECK(p.auth_type == AuthType::ApiKey);
  CHECK(p.enabled);
  CHECK(p.weight == 1);
  CHECK(p.balance_check_interval == 300s);
  const auto& e = cfg.model_routes.at(0).entries.at(0);
  CHECK(e.model == "passthrough");
  CHECK(e.priority == 1);
  CHECK(e.enabled);
  CHECK_FALSE(e.weight.has_value());
}

TEST_CASE("type and auth_type default to anthropic and api_key", "[unit][config]") {
  const auto cfg = parse_ok(R"(providers:
  - {name: a, base_url: "https://a.example.com///", auth_value: k}
model_routes: {"*": [{provider: a}]}
)");
  CHECK(cfg.providers[0].type == ProviderType::Anthropic);
  CHECK(cfg.providers[0].auth_type == AuthType::ApiKey);
  CHECK(cfg.providers[0].base_url == "https://a.example.com");
}

TEST_CASE("model_routes may be absent, with a warning", "[unit][config]") {
  const auto cfg = parse_ok(kOneProvider);
  CHECK(cfg.model_routes.empty());
  CHECK(contains(cfg.warnings, "no model_routes: every request will get 404"));
}

TEST_CASE("cooldown_seconds is an alias of failure_cooldown", "[unit][config]") {
  CHECK(parse_ok(kMinimal + "settings:\n  cooldown_seconds: 42\n").settings.failure_cooldown == 42s);
  const auto both = parse_ok(kMinimal + "settings:\n  failure_cooldown: 7\n  cooldown_seconds: 42\n");
  CHECK(both.settings.failure_cooldown == 7s);
  CHECK(contains(both.warnings, "settings.cooldown_seconds (line 11): ignored"));
}

TEST_CASE("claude-code-lb mode/algorithm and strategy names map onto selection_strategy", "[unit][config]") {
  struct Case {
    std::string yaml;
    SelectionStrategy expected;
  };
  const auto [yaml, expected] = GENERATE(values<Case>({
      {"mode: fallback\n", SelectionStrategy::Priority},
      {"mode: fallback\nalgorithm: random\n", SelectionStrategy::Priority},
      {"mode: load_balance\n", SelectionStrategy::RoundRobin},
      {"mode: load_balance\nalgorithm: weighted_round_robin\n", SelectionStrategy::WeightedRoundRobin},
      {"mode: load_balance\nalgorithm: random\n", SelectionStrategy::Random},
      {"algorithm: random\n", SelectionStrategy::Random},
      {"settings:\n  mode: load_balance\n  algorithm: random\n", SelectionStrategy::Random},
      {"settings:\n  mode: fallback\n", SelectionStrategy::Priority},
      {"settings:\n  selection_strategy: fallback\n", SelectionStrategy::Priority},
      {"settings:\n  selection_strategy: load_balance\n", SelectionStrategy::RoundRobin},
      {"settings:\n  selection_strategy: Round_Robin\n", SelectionStrategy::RoundRobin},
      {"settings:\n  selection_strategy: random\n", SelectionStrategy::Random},
  }));
  INFO(yaml);
  const auto cfg = parse_ok(kMinimal + yaml);
  CHECK(cfg.settings.selection_strategy == expected);
  CHECK(cfg.warnings.empty());
}

TEST_CASE("selection_strategy wins over a conflicting mode, with a warning", "[unit][config]") {
  const auto cfg = parse_ok(kMinimal + "mode: load_balance\nsettings:\n  selection_strategy: priority\n");
  CHECK(cfg.settings.selection_strategy == SelectionStrategy::Priority);
  CHECK(contains(cfg.warnings, "mode (line 9): ignored"));
}

TEST_CASE("auth is accepted under settings; the top-level auth wins", "[unit][config]") {
  const auto nested = parse_ok(kMinimal + R"(settings:
  auth:
    enabled: true
    api_key: k1
)");
  CHECK(nested.auth.enabled);
  CHECK(nested.auth.api_keys == std::vector<std::string>{"k1"});
  CHECK(nested.warnings.empty());

  const auto both = parse_ok(kMinimal + R"(settings:
  auth:
    enabled: false
auth:
  enabled: true
  api_keys: [k2]
)");
  CHECK(both.auth.enabled);
  CHECK(both.auth.api_keys == std::vector<std::string>{"k2"});
  CHECK(contains(both.warnings, "settings.auth (line 11): ignored: auth (line 13)"));
}

TEST_CASE("oauth is accepted under settings with the reference keys", "[unit][config]") {
  const auto cfg = parse_ok(kMinimal + R"(settings:
  oauth:
    enable_persistence: true
    service_name: "claude-code-balancer"
    proxy: "http://127.0.0.1:10808"
    enable_auto_refresh: true
)");
  CHECK(cfg.oauth.proxy == "http://127.0.0.1:10808");
  CHECK(cfg.warnings.empty());
}

TEST_CASE("api_key and api_keys are merged, empty and repeated keys dropped", "[unit][config]") {
  const auto cfg = parse_ok(kMinimal + R"(auth:
  api_key: a
  api_keys: [b, a, "", c]
)");
  CHECK(cfg.auth.api_keys == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("${VAR} is expanded in every string value", "[unit][config]") {
  const auto env = env_of({{"HOST", "api.example.com"},
                           {"PATH_PART", "v1"},
                           {"KEY", "sk-1"},
                           {"PORT", "7000"},
                           {"PATTERN", "boom"},
                           {"EMPTY", ""}});
  const auto cfg = parse_ok(R"(providers:
  - name: a
    base_url: "https://${HOST}/${PATH_PART}/"
    auth_value: "pre-${KEY}-${KEY}${EMPTY}-post"
model_routes:
  "*": [{provider: a}]
settings:
  port: ${PORT}
  unhealthy_response_body_patterns: ["x ${PATTERN}", "$ plain", "{not a var}"]
)",
                            env);
  CHECK(cfg.providers[0].base_url == "https://api.example.com/v1");
  CHECK(cfg.providers[0].auth_value == "pre-sk-1-sk-1-post");
  CHECK(cfg.settings.port == 7000);
  CHECK(cfg.settings.unhealthy_response_body_patterns == std::vector<std::string>{"x boom", "$ plain", "{not a var}"});
}

TEST_CASE("a missing ${VAR} is an error naming the key and the variable", "[unit][config]") {
  const std::string yaml = R"(providers:
  - name: a
    base_url: https://a.example.com
    auth_value: "${SET}:${UNSET_KEY}"
)";
  const std::string message = parse_error(yaml, env_of({{"SET", "secret-value"}}));
  CHECK_THAT(message, Catch::Contains("providers[0].auth_value (line 4)"));
  CHECK_THAT(message, Catch::Contains("UNSET_KEY"));
  CHECK_THAT(message, !Catch::Contains("secret-value"));

  CHECK_THAT(parse_error(kOneProvider + "auth:\n  api_keys: [x, \"${NOPE}\"]\n"),
             Catch::Contains("auth.api_keys[1] (line 7): environment variable NOPE is not set"));
  CHECK_THAT(parse_error(kOneProvider + "settings:\n  host: \"${BROKEN\"\n"),
             Catch::Contains("settings.host (line 7): unterminated ${"));
}

TEST_CASE("unknown keys are warnings naming the key path and line", "[unit][config]") {
  const auto cfg = parse_ok(R"(providers:
  - name: a
    base_url: https://a.example.com
    auth_value: k
    colour: blue
model_routes:
  "*":
    - provider: a
      prio: 2
settings:
  port: 1
  foo: bar
  deduplication:
    enabled: true
    size: 3
toplevel_thing: 1
auth:
  enabeld: true
)");
  CHECK(contains(cfg.warnings, "unknown key providers[0].colour (line 5)"));
  CHECK(contains(cfg.warnings, "unknown key model_routes[\"*\"][0].prio (line 9)"));
  CHECK(contains(cfg.warnings, "unknown key settings.foo (line 12)"));
  CHECK(contains(cfg.warnings, "unknown key settings.deduplication.size (line 15)"));
  CHECK(contains(cfg.warnings, "unknown key toplevel_thing (line 16)"));
  CHECK(contains(cfg.warnings, "unknown key auth.enabeld (line 18)"));
  CHECK(cfg.warnings.size() == 6);
  CHECK_FALSE(cfg.auth.enabled);
}

TEST_CASE("the reference balancer's settings are accepted without errors", "[unit][config]") {
  // The shape of claude-code-provider-balancer's config.example.yaml settings block.
  const auto cfg = parse_ok(kMinimal + R"(settings:
  selection_strategy: "priority"
  failure_cooldown: 300
  reload: true
  reload_includes: ["*.py", "config.yaml"]
  timeouts:
    non_streaming: {connect_timeout: 30, read_timeout: 120, pool_timeout: 30}
    streaming: {connect_timeout: 30, read_timeout: 90, pool_timeout: 30}
    caching: {deduplication_timeout: 180}
  sticky_provider_duration: 300
  unhealthy_exception_patterns: ["connection", "timeout"]
  log_level: "INFO"
  log_color: true
  log_file_path: "logs/logs.jsonl"
  app_name: "ClaudeCode Providers Balancer"
  app_version: "0.1.7"
  oauth:
    enable_persistence: true
    service_name: "claude-code-balancer"
    enable_auto_refresh: true
  deduplication:
    enabled: true
    include_max_tokens_in_signature: false
    sse_error_cleanup_delay: 3
  testing:
    simulate_delay: false
    delay_seconds: 10
  token_counting:
    always_use_local: false
)");
  CHECK(cfg.settings.failure_cooldown == 300s);
  CHECK(cfg.settings.timeouts.connect_timeout == 30s);  // from timeouts.streaming
  CHECK(cfg.settings.timeouts.read_timeout == 90s);
  // Only the informative note about unhealthy_exception_patterns.
  REQUIRE(cfg.warnings.size() == 1);
  CHECK_THAT(cfg.warnings[0], Catch::Contains("settings.unhealthy_exception_patterns (line 19): ignored"));
}

TEST_CASE("flat timeouts win over the nested streaming ones", "[unit][config]") {
  const auto cfg = parse_ok(kMinimal + R"(settings:
  timeouts:
    read_timeout: 5
    streaming: {connect_timeout: 3, read_timeout: 90}
)");
  CHECK(cfg.settings.timeouts.read_timeout == 5s);
  CHECK(cfg.settings.timeouts.connect_timeout == 3s);
}

TEST_CASE("durations are fractional seconds; unhealthy_reset_timeout <= 0 disables", "[unit][config]") {
  const auto cfg = parse_ok(kMinimal + R"(settings:
  failure_cooldown: 0.5
  sticky_provider_duration: 0
  unhealthy_reset_timeout: -1
)");
  CHECK(cfg.settings.failure_cooldown == 500ms);
  CHECK(cfg.settings.sticky_provider_duration == 0ms);
  CHECK(cfg.settings.unhealthy_reset_timeout == 0ms);
}

TEST_CASE("provider credentials: oauth, passthrough and disabled placeholders", "[unit][config]") {
  const auto cfg = parse_ok(R"(providers:
  - {name: ag, base_url: "https://x.example.com", auth_type: auth_token, auth_value: oauth}
  - {name: zk, base_url: "https://x.example.com", auth_type: oauth}
  - {name: pass, base_url: "https://x.example.com", auth_type: auth_token, auth_value: passthrough}
  - {name: off, base_url: "https://x.example.com", auth_value: "", enabled: false}
  - {name: off2, base_url: "https://x.example.com", enabled: false}
model_routes: {"*": [{provider: ag}]}
)");
  CHECK(cfg.providers[0].auth_type == AuthType::OAuth);
  CHECK(cfg.providers[0].auth_value == "oauth");
  CHECK(cfg.providers[1].auth_type == AuthType::OAuth);
  CHECK(cfg.providers[1].auth_value == "oauth");
  CHECK(cfg.providers[2].auth_type == AuthType::AuthToken);
  CHECK(cfg.providers[2].passthrough());
  CHECK_FALSE(cfg.providers[3].enabled);
  CHECK_FALSE(cfg.providers[4].enabled);
  CHECK(cfg.warnings.empty());
}

TEST_CASE("account_email on a provider that is not oauth is a warning", "[unit][config]") {
  const auto cfg = parse_ok(R"(providers:
  - {name: a, base_url: "https://x.example.com", auth_value: k, account_email: me@x.io}
  - {name: b, base_url: "https://x.example.com", auth_type: oauth, account_email: me@x.io}
model_routes: {"*": [{provider: a}, {provider: b}]}
)");
  REQUIRE(cfg.warnings.size() == 1);
  CHECK(cfg.warnings[0].find("providers[0].account_email (line 2)") != std::string::npos);
  CHECK(cfg.warnings[0].find("only auth_type oauth") != std::string::npos);
  CHECK(cfg.providers[1].account_email == "me@x.io");
}

TEST_CASE("log_level is case-insensitive and stored upper-case", "[unit][config]") {
  const auto [given, stored] = GENERATE(table<std::string, std::string>({
      {"debug", "DEBUG"},
      {"Info", "INFO"},
      {"warn", "WARNING"},
      {"WARNING", "WARNING"},
      {"error", "ERROR"},
      {"critical", "CRITICAL"},
  }));
  CHECK(parse_ok(kMinimal + "settings:\n  log_level: " + given + "\n").settings.log_level == stored);
}

TEST_CASE("scalar forms: quoted numbers, yes/no booleans, port 0", "[unit][config]") {
  const auto cfg = parse_ok(kMinimal + R"(settings:
  port: "0"
  log_bodies: yes
  unhealthy_reset_on_success: off
)");
  CHECK(cfg.settings.port == 0);
  CHECK(cfg.settings.log_bodies);
  CHECK_FALSE(cfg.settings.unhealthy_reset_on_success);
}

TEST_CASE("validation errors name the key path and line", "[unit][config]") {
  struct Case {
    std::string yaml;
    std::vector<std::string> expected;  // substrings of the message
  };
  // clang-format off
  const auto [yaml, expected] = GENERATE(values<Case>({
    // document shape
    {"providers:\n  - name: a\n    base_url: [\n", {"YAML syntax error", "line 4"}},
    {"- a\n- b\n", {"top level (line 1)", "must be a map"}},
    {"just text\n", {"top level (line 1)", "must be a map"}},
    {"", {"top level (line 1)", "must be a map"}},
    {"settings:\n  port: 1\n", {"providers (line 1): required key is missing"}},
    {"providers: []\n", {"providers (line 1)", "at least one provider"}},
    {"providers:\n  name: a\n", {"providers (line 2): must be a list"}},
    {"providers:\nsettings: {}\n", {"providers (line 1): must not be empty"}},
    {"providers:\n  - name:\n    base_url: https://x\n    auth_value: k\n",
     {"providers[0].name (line 2): must not be empty"}},
    {"providers:\n  - just-a-name\n", {"providers[0] (line 2): must be a map"}},
    {kOneProvider + "settings: 5\n", {"settings (line 6): must be a map"}},
    {kOneProvider + "settings:\n  port: 1\n  port: 2\n",
     {"settings.port (line 8): duplicate key (first at line 7)"}},
    // providers
    {"providers:\n  - type: anthropic\n    base_url: https://x\n    auth_value: k\n",
     {"providers[0].name (line 2): required key is missing"}},
    {"providers:\n  - name: \"\"\n    base_url: https://x\n    auth_value: k\n",
     {"providers[0].name (line 2): must not be empty"}},
    {kOneProvider + "  - name: a\n    base_url: https://b\n    auth_value: k\n",
     {"providers[1].name (line 6): duplicate provider name \"a\" (first at line 2)"}},
    {"providers:\n  - name: a\n    type: foo\n    base_url: https://x\n    auth_value: k\n",
     {"providers[0].type (line 3): must be \"anthropic\" or \"openai\", got \"foo\""}},
    {"providers:\n  - name: a\n    auth_value: k\n",
     {"providers[0].base_url (line 2): required key is missing"}},
    {"providers:\n  - name: a\n    base_url: ftp://x\n    auth_value: k\n",
     {"providers[0].base_url (line 3): must start with http:// or https://"}},
    {"providers:\n  - name: a\n    base_url: https://\n    auth_value: k\n",
     {"providers[0].base_url (line 3): has no host"}},
    {"providers:\n  - name: a\n    base_url: https://x\n    auth_type: bearer\n    auth_value: k\n",
     {"providers[0].auth_type (line 4): must be one of api_key, auth_token, oauth, got \"bearer\""}},
    {"providers:\n  - name: a\n    base_url: https://x\n",
     {"providers[0].auth_value (line 2): required key is missing"}},
    {"providers:\n  - name: a\n    type: openai\n    base_url: https://x\n    auth_type: oauth\n",
     {"providers[0].auth_type (line 5): oauth accounts are Claude subscriptions"}},
    {"providers:\n  - name: a\n    base_url: https://x\n    auth_value: \"\"\n",
     {"providers[0].auth_value (line 4): must not be empty"}},
    {kOneProvider + "    weight: 0\n", {"providers[0].weight (line 6): must be at least 1, got 0"}},
    {kOneProvider + "    weight: -2\n", {"providers[0].weight (line 6): must be at least 1"}},
    {kOneProvider + "    weight: 1.5\n", {"providers[0].weight (line 6): must be an integer, got \"1.5\""}},
    {kOneProvider + "    enabled: maybe\n",
     {"providers[0].enabled (line 6): must be true or false, got \"maybe\""}},
    {kOneProvider + "    headers: [a]\n", {"providers[0].headers (line 6): must be a map"}},
    {kOneProvider + "    headers:\n      X-A: {b: c}\n",
     {"providers[0].headers.X-A (line 7): must be a string, got a map"}},
    {kOneProvider + "    headers:\n      \"X A\": b\n",
     {"providers[0].headers.X A (line 7): is not a valid header name"}},
    {kOneProvider + "    headers:\n      X-A: \"b\\r\\nInjected: c\"\n",
     {"providers[0].headers.X-A (line 7): must not contain a line break"}},
    {"providers:\n  - name: a\n    base_url: https://x\n    auth_value: \"sk-1\\r\\nX-Injected: c\"\n",
     {"providers[0].auth_value (line 4): must not contain a line break"}},
    {kOneProvider + "    balance_check_interval: -5\n",
     {"providers[0].balance_check_interval (line 6): must not be negative"}},
    {kOneProvider + "    name2: [\n", {"YAML syntax error", "line"}},
    // model_routes
    {kOneProvider + "model_routes:\n  \"*\":\n    - provider: b\n",
     {"model_routes[\"*\"][0].provider (line 8): unknown provider \"b\""}},
    {kOneProvider + "model_routes:\n  \"*\":\n    - model: passthrough\n",
     {"model_routes[\"*\"][0].provider (line 8): required key is missing"}},
    {kOneProvider + "model_routes:\n  \"*\": []\n",
     {"model_routes[\"*\"] (line 7)", "at least one route entry"}},
    {kOneProvider + "model_routes:\n  \"*\": a\n",
     {"model_routes[\"*\"] (line 7): must be a list of route entries"}},
    {kOneProvider + "model_routes:\n  - provider: a\n", {"model_routes (line 7): must be a map"}},
    {kOneProvider + "model_routes:\n  \"*\":\n    - {provider: a, priority: x}\n",
     {"model_routes[\"*\"][0].priority (line 8): must be an integer"}},
    {kOneProvider + "model_routes:\n  \"*\":\n    - {provider: a, weight: 0}\n",
     {"model_routes[\"*\"][0].weight (line 8): must be at least 1"}},
    {kOneProvider + "model_routes:\n  \"*\":\n    - {provider: a, model: \"\"}\n",
     {"model_routes[\"*\"][0].model (line 8): must not be empty"}},
    // settings
    {kMinimal + "settings:\n  port: abc\n", {"settings.port (line 10): must be an integer, got \"abc\""}},
    {kMinimal + "settings:\n  port: 70000\n",
     {"settings.port (line 10): must be between 0 and 65535, got 70000"}},
    {kMinimal + "settings:\n  port: -1\n", {"settings.port (line 10): must be between 0 and 65535"}},
    {kMinimal + "settings:\n  unhealthy_threshold: 0\n",
     {"settings.unhealthy_threshold (line 10): must be at least 1, got 0"}},
    {kMinimal + "settings:\n  selection_strategy: fastest\n",
     {"settings.selection_strategy (line 10): must be one of priority, round_robin, "
      "weighted_round_robin, random, got \"fastest\""}},
    {kMinimal + "mode: parallel\n", {"mode (line 9): must be \"fallback\" or \"load_balance\""}},
    {kMinimal + "settings:\n  algorithm: least_conn\n",
     {"settings.algorithm (line 10): must be one of round_robin, weighted_round_robin, random"}},
    {kMinimal + "settings:\n  unhealthy_http_codes: [429, 99]\n",
     {"settings.unhealthy_http_codes[1] (line 10): must be between 100 and 599, got 99"}},
    {kMinimal + "settings:\n  unhealthy_http_codes:\n    - 500\n    - 600\n",
     {"settings.unhealthy_http_codes[1] (line 12): must be between 100 and 599, got 600"}},
    {kMinimal + "settings:\n  unhealthy_http_codes: 500\n",
     {"settings.unhealthy_http_codes (line 10): must be a list"}},
    {kMinimal + "settings:\n  log_level: verbose\n",
     {"settings.log_level (line 10): must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got \"VERBOSE\""}},
    {kMinimal + "settings:\n  failure_cooldown: -1\n",
     {"settings.failure_cooldown (line 10): must not be negative"}},
    {kMinimal + "settings:\n  failure_cooldown: soon\n",
     {"settings.failure_cooldown (line 10): must be a number, got \"soon\""}},
    {kMinimal + "settings:\n  sticky_provider_duration: 1e12\n",
     {"settings.sticky_provider_duration (line 10): is too large"}},
    {kMinimal + "settings:\n  timeout_seconds: 0\n",
     {"settings.timeout_seconds (line 10): must be greater than 0"}},
    {kMinimal + "settings:\n  timeouts:\n    read_timeout: 0\n",
     {"settings.timeouts.read_timeout (line 11): must be greater than 0"}},
    {kMinimal + "settings:\n  max_connections: 0\n",
     {"settings.max_connections (line 10): must be at least 1, got 0"}},
    {kMinimal + "settings:\n  tls_cert_file: cert.pem\n",
     {"settings.tls_cert_file (line 10): tls_key_file must be set too"}},
    {kMinimal + "settings:\n  tls_key_file: key.pem\n",
     {"settings.tls_key_file (line 10): tls_cert_file must be set too"}},
    {kMinimal + "settings:\n  deduplication:\n    max_flights: 0\n",
     {"settings.deduplication.max_flights (line 11): must be at least 1"}},
    {kMinimal + "settings:\n  host: \"\"\n", {"settings.host (line 10): must not be empty"}},
    // auth and oauth
    {kMinimal + "auth:\n  enabled: true\n",
     {"auth.enabled (line 10): auth is enabled but api_key/api_keys is empty"}},
    {kMinimal + "auth:\n  enabled: true\n  api_key: \"\"\n", {"auth.enabled (line 10)"}},
    {kMinimal + "settings:\n  auth:\n    enabled: true\n", {"settings.auth.enabled (line 11)"}},
    {kMinimal + "auth:\n  exempt_paths: [health]\n",
     {"auth.exempt_paths[0] (line 10): must start with '/'"}},
    {kMinimal + "auth: true\n", {"auth (line 9): must be a map"}},
    {kMinimal + "oauth:\n  token_url: console.anthropic.com\n",
     {"oauth.token_url (line 10): must start with http:// or https://"}},
    {kMinimal + "oauth:\n  scopes: [a, ~]\n", {"oauth.scopes[1]", "must not be empty"}},
  }));
  // clang-format on
  INFO(yaml);
  const std::string message = parse_error(yaml);
  for (const std::string& part : expected)
    CHECK_THAT(message, Catch::Contains(part));
}

TEST_CASE("errors never echo a provider secret", "[unit][config]") {
  const std::string message = parse_error(R"(providers:
  - name: a
    base_url: https://x.example.com
    auth_value: sk-very-secret
    weight: nope
)");
  CHECK_THAT(message, Catch::Contains("providers[0].weight (line 5)"));
  CHECK_THAT(message, !Catch::Contains("sk-very-secret"));
}

TEST_CASE("load_config reads a file and names it in errors", "[unit][config]") {
  const auto dir = std::filesystem::temp_directory_path() / ("balancer_config_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto good = (dir / "good.yaml").string();
  const auto bad = (dir / "bad.yaml").string();
  std::ofstream(good) << kMinimal;
  std::ofstream(bad) << kOneProvider << "settings:\n  port: abc\n";

  auto ok = balancer::load_config(good, no_env());
  REQUIRE(ok.has_value());
  CHECK(ok->providers.at(0).name == "a");

  auto invalid = balancer::load_config(bad, no_env());
  REQUIRE_FALSE(invalid.has_value());
  CHECK(invalid.error().code == ErrorCode::InvalidConfig);
  CHECK_THAT(invalid.error().message, Catch::StartsWith(bad + ": settings.port (line 7)"));

  const auto missing_path = (dir / "missing.yaml").string();
  auto missing = balancer::load_config(missing_path, no_env());
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == ErrorCode::InvalidConfig);
  CHECK_THAT(missing.error().message, Catch::Contains(missing_path));

  auto directory = balancer::load_config(dir.string(), no_env());
  REQUIRE_FALSE(directory.has_value());
  CHECK_THAT(directory.error().message, Catch::Contains(dir.string()));

  std::filesystem::remove_all(dir);
}

TEST_CASE("enum to_string names match the config spelling", "[unit][config]") {
  CHECK(balancer::to_string(ProviderType::Anthropic) == "anthropic");
  CHECK(balancer::to_string(ProviderType::OpenAI) == "openai");
  CHECK(balancer::to_string(AuthType::ApiKey) == "api_key");
  CHECK(balancer::to_string(AuthType::AuthToken) == "auth_token");
  CHECK(balancer::to_string(AuthType::OAuth) == "oauth");
  CHECK(balancer::to_string(SelectionStrategy::Priority) == "priority");
  CHECK(balancer::to_string(SelectionStrategy::RoundRobin) == "round_robin");
  CHECK(balancer::to_string(SelectionStrategy::WeightedRoundRobin) == "weighted_round_robin");
  CHECK(balancer::to_string(SelectionStrategy::Random) == "random");
}

TEST_CASE("is_loopback_host and check_listen_safety", "[unit][config]") {
  using balancer::check_listen_safety;
  using balancer::is_loopback_host;
  for (const char* host : {"localhost", "::1", "127.0.0.1", "127.1.2.3"}) {
    CHECK(is_loopback_host(host));
  }
  for (const char* host : {"0.0.0.0", "::", "", "127.example.com", "127.", "192.168.1.2", "localhost.evil"}) {
    INFO(host);
    CHECK_FALSE(is_loopback_host(host));
  }
  BalancerConfig config;
  CHECK(check_listen_safety(config, "127.0.0.1"));
  CHECK_FALSE(check_listen_safety(config, "0.0.0.0"));
  config.settings.allow_unauthenticated_remote = true;
  CHECK(check_listen_safety(config, "0.0.0.0"));
  config.settings.allow_unauthenticated_remote = false;
  config.auth.enabled = true;
  CHECK(check_listen_safety(config, "0.0.0.0"));
  // Auth that exempts the Messages API is no auth for it.
  config.auth.exempt_paths.push_back("/v1/messages");
  const auto exempt = check_listen_safety(config, "0.0.0.0");
  REQUIRE_FALSE(exempt);
  CHECK(exempt.error().message.find("exempt_paths") != std::string::npos);
  CHECK(check_listen_safety(config, "127.0.0.1"));
}

TEST_CASE("config errors never echo a value that could be a secret", "[unit][config]") {
  const std::string secret = "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789";
  for (const std::string& yaml :
       {kOneProvider + "    enabled: " + secret + "\n", kOneProvider + "    weight: " + secret + "\n",
        "providers:\n  - name: a\n    base_url: " + secret + "\n    auth_value: k\n",
        kOneProvider + "settings:\n  selection_strategy: verylongbutnotasecretvalue12345\n"}) {
    const std::string message = parse_error(yaml);
    INFO(message);
    CHECK(message.find("abcdefghij") == std::string::npos);
    CHECK(message.find("notasecret") == std::string::npos);
    CHECK(message.find("characters, not shown in full") != std::string::npos);
  }
  // Short words are echoed, so a typo is easy to see.
  CHECK(parse_error(kOneProvider + "    enabled: maybe\n").find("\"maybe\"") != std::string::npos);
}

// Found by config_fuzz (tests/fuzz/config_corpus/regress_header_nul.yaml): a NUL in a header
// value passed the loader, and the transport then refused every request to that provider.
TEST_CASE("a header value holding a NUL is refused like a line break", "[unit][config]") {
  const std::string message =
      parse_error(kOneProvider + "    headers:\n      A: ${NUL}\n", env_of({{"NUL", std::string("a\0b", 3)}}));
  CHECK_THAT(message, Catch::Contains("providers[0].headers.A (line 7): must not contain a line break or NUL"));
}

// config_fuzz (tests/fuzz/config_corpus/regress_upper_key.yaml): log_level is upper-cased
// before it is quoted, and "SK-..." escaped the key-shape rule, so a short key was echoed.
TEST_CASE("a key-shaped value is not echoed whatever its case", "[unit][config]") {
  for (const std::string value : {"sk-ant-abc", "SK-ant-abc", "Sk-x"}) {
    INFO(value);
    const std::string message = parse_error(kOneProvider + "settings:\n  log_level: " + value + "\n");
    CHECK_THAT(message, Catch::Contains("settings.log_level (line 7)"));
    CHECK_THAT(message, Catch::Contains("characters, not shown in full"));
    CHECK(message.find("ANT-ABC") == std::string::npos);
  }
}

TEST_CASE("config: first-event and count_tokens timeouts, per-class cooldowns", "[unit][config]") {
  const auto cfg = parse_ok(kMinimal + R"(settings:
  failure_cooldown: 60
  timeouts: {first_event_timeout: 12.5, count_tokens_timeout: 3}
  cooldowns: {rate_limit: 30, overloaded: 120, server_error: 45, auth: 1800, connection: 20, timeout: 90}
)");
  const auto& s = cfg.settings;
  CHECK(s.timeouts.first_event_timeout == 12500ms);
  CHECK(s.timeouts.count_tokens_timeout == 3s);
  CHECK(s.cooldowns.rate_limit == std::optional<balancer::Duration>(30s));
  CHECK(s.cooldowns.overloaded == std::optional<balancer::Duration>(120s));
  CHECK(s.cooldowns.server_error == std::optional<balancer::Duration>(45s));
  CHECK(s.cooldowns.auth == std::optional<balancer::Duration>(1800s));
  CHECK(s.cooldowns.connection == std::optional<balancer::Duration>(20s));
  CHECK(s.cooldowns.timeout == std::optional<balancer::Duration>(90s));

  // zk's streaming.first_chunk_timeout stands in for first_event_timeout.
  CHECK(parse_ok(kMinimal + "settings:\n  timeouts:\n    streaming: {first_chunk_timeout: 8}\n")
            .settings.timeouts.first_event_timeout == 8s);
  // A class not given keeps failure_cooldown (unset here).
  CHECK_FALSE(parse_ok(kMinimal + "settings:\n  cooldowns: {auth: 5}\n").settings.cooldowns.rate_limit.has_value());

  CHECK(contains(parse_ok(kMinimal + "settings:\n  cooldowns: {ratelimit: 5}\n").warnings, "ratelimit"));
  CHECK_THAT(parse_error(kMinimal + "settings:\n  timeouts: {first_event_timeout: 0}\n"),
             Catch::Contains("first_event_timeout"));
  CHECK_THAT(parse_error(kMinimal + "settings:\n  cooldowns: {auth: -1}\n"), Catch::Contains("cooldowns.auth"));
}
