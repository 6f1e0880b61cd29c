// Claude subscription accounts end to end (spec §9, issue 7): the real in-process server, real
// libcurl clients, a fake OAuth token endpoint and a fake Anthropic upstream that only accepts
// the Bearer access tokens the fake endpoint issued (with the oauth beta). Login through
// /oauth/generate-url + /oauth/exchange-code, refresh ahead of expiry and after a 401, the
// status endpoint, removal, admin auth, concurrent logins and the store file. The tests never
// sleep; they wait on recorded state.
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "fake_upstream.h"
#include "test_balancer.h"
#include "test_client.h"

namespace balancer::test {
namespace {

using nlohmann::json;

constexpr std::string_view kAlice = "alice@example.com";
constexpr std::string_view kBob = "bob@example.com";

std::string percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// A token request body: JSON, or application/x-www-form-urlencoded, as an object of strings.
json parse_grant(const std::string& body) {
  json parsed = json::parse(body, nullptr, false);
  if (parsed.is_object()) {
    return parsed;
  }
  json form = json::object();
  std::istringstream in(body);
  for (std::string pair; std::getline(in, pair, '&');) {
    const auto eq = pair.find('=');
    if (eq != std::string::npos) {
      form[percent_decode(pair.substr(0, eq))] = percent_decode(pair.substr(eq + 1));
    }
  }
  return form;
}

std::string url_encode(std::string_view text) {
  std::string out;
  for (const char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += fmt::format("%{:02X}", static_cast<unsigned char>(c));
    }
  }
  return out;
}

// A fake OAuth token endpoint (POST /v1/oauth/token): answers authorization_code and
// refresh_token grants with fresh, numbered tokens; refresh tokens are single-use (a second use
// gets invalid_grant, as the real endpoint does) and rotate. Records every grant.
class FakeTokenEndpoint {
 public:
  FakeTokenEndpoint() : upstream_([this](const RecordedRequest& r) { return answer(r); }) {}

  std::string token_url() const { return upstream_.url() + "/v1/oauth/token"; }

  // Lifetimes (expires_in, s) of the tokens issued for a code and for a refresh.
  void set_expires_in(int code_grant, int refresh_grant) {
    std::lock_guard lock(mutex_);
    code_expires_in_ = code_grant;
    refresh_expires_in_ = refresh_grant;
  }
  // Refresh grants from now on get this answer (status 0: normal answers again).
  void fail_refresh(int status, std::string error) {
    std::lock_guard lock(mutex_);
    refresh_failure_status_ = status;
    refresh_failure_error_ = std::move(error);
  }
  // Authorization-code grants from now on get this status (0: normal answers again).
  void fail_codes(int status) {
    std::lock_guard lock(mutex_);
    code_failure_status_ = status;
  }
  // The upstream stops accepting `access` (as if revoked).
  void revoke(const std::string& access) {
    std::lock_guard lock(mutex_);
    valid_access_.erase(access);
  }

  bool valid_access(const std::string& access) const {
    std::lock_guard lock(mutex_);
    return valid_access_.count(access) > 0;
  }
  std::size_t grants(std::string_view type) const {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(std::count_if(grants_.begin(), grants_.end(),
                                                  [&](const json& g) { return g.value("grant_type", "") == type; }));
  }
  std::vector<json> grant_bodies() const {
    std::lock_guard lock(mutex_);
    return grants_;
  }
  // Every access and refresh token issued so far.
  std::vector<std::string> issued() const {
    std::lock_guard lock(mutex_);
    return issued_;
  }
  // Every authorization code and PKCE verifier the balancer sent.
  std::vector<std::string> codes_and_verifiers() const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const json& grant : grants_) {
      for (const char* key : {"code", "code_verifier"}) {
        if (grant.contains(key) && grant[key].is_string()) {
          out.push_back(grant[key].get<std::string>());
        }
      }
    }
    return out;
  }
  // The access token issued last.
  std::string last_access() const {
    std::lock_guard lock(mutex_);
    return last_access_;
  }

 private:
  Reply answer(const RecordedRequest& request) {
    std::lock_guard lock(mutex_);
    if (request.method != "POST" || request.path != "/v1/oauth/token") {
      return Reply::json(R"({"error":"not_found"})", 404);
    }
    json grant = parse_grant(request.body);
    grants_.push_back(grant);
    const std::string type = grant.value("grant_type", "");
    int expires_in = code_expires_in_;
    if (type == "authorization_code") {
      if (code_failure_status_ != 0) {
        return Reply::json(R"({"error":"server_error"})", code_failure_status_);
      }
      const std::string code = grant.value("code", "");
      if (code.empty() || code.find('#') != std::string::npos || !used_codes_.insert(code).second ||
          grant.value("code_verifier", "").empty()) {
        return Reply::json(R"({"error":"invalid_grant","error_description":"bad code"})", 400);
      }
    } else if (type == "refresh_token") {
      if (refresh_failure_status_ != 0) {
        return Reply::json(json{{"error", refresh_failure_error_}}.dump(), refresh_failure_status_);
      }
      if (valid_refresh_.erase(grant.value("refresh_token", "")) == 0) {
        return Reply::json(R"({"error":"invalid_grant","error_description":"refresh token not found or already used"})",
                           400);
      }
      expires_in = refresh_expires_in_;
    } else {
      return Reply::json(R"({"error":"unsupported_grant_type"})", 400);
    }
    ++serial_;
    const std::string access = fmt::format("sk-ant-oat01-FAKEACCESS{:04}xq7Zt", serial_);
    const std::string refresh = fmt::format("sk-ant-ort01-FAKEREFRESH{:04}pW3kv", serial_);
    valid_access_.insert(access);
    valid_refresh_.insert(refresh);
    issued_.push_back(access);
    issued_.push_back(refresh);
    last_access_ = access;
    return Reply::json(json{{"token_type", "Bearer"},
                            {"access_token", access},
                            {"refresh_token", refresh},
                            {"expires_in", expires_in},
                            {"scope", "user:inference user:profile"}}
                           .dump());
  }

  mutable std::mutex mutex_;
  int code_expires_in_ = 28800;
  int refresh_expires_in_ = 28800;
  int refresh_failure_status_ = 0;
  int code_failure_status_ = 0;
  std::string refresh_failure_error_;
  int serial_ = 0;
  std::set<std::string> used_codes_;
  std::set<std::string> valid_access_;
  std::set<std::string> valid_refresh_;
  std::vector<json> grants_;
  std::vector<std::string> issued_;
  std::string last_access_;
  FakeUpstream upstream_;  // last: its threads call answer()
};

// All values of `name` (case-insensitive) joined with ",".
std::string header_values(const HeaderList& headers, std::string_view name) {
  std::string out;
  for (const auto& [n, v] : headers) {
    if (n.size() == name.size() && std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        })) {
      out += (out.empty() ? "" : ",") + v;
    }
  }
  return out;
}

// A fake Anthropic API that accepts only `Authorization: Bearer <a valid access token>` with
// the oauth beta; anything else gets 401 authentication_error.
Reply subscription_api(const FakeTokenEndpoint& tokens, const RecordedRequest& request) {
  const std::string auth = request.header("authorization").value_or("");
  const bool bearer = auth.rfind("Bearer ", 0) == 0 && tokens.valid_access(auth.substr(7));
  if (!bearer || header_values(request.headers, "anthropic-beta").find("oauth-2025-04-20") == std::string::npos) {
    return Reply::error(401, "authentication_error", "OAuth authentication is currently not supported.");
  }
  return Reply::json(message_json("hello from the subscription"));
}

struct Setup {
  std::string api_url{};
  std::string token_url{};
  std::string dir{};
  int refresh_skew = 300;
  std::string extra_providers{};  // YAML list entries appended to providers
  std::string route = "[{provider: \"Sub\"}]";
  std::string extra{};  // appended at the end (e.g. an auth: block)
  std::string account = std::string(kAlice);
};

std::string store_path(const std::string& dir) { return dir + "/state/oauth_tokens.json"; }
std::string log_path(const std::string& dir) { return dir + "/logs/balancer.jsonl"; }

std::string oauth_config(const Setup& s) {
  return fmt::format(
      "providers:\n"
      "  - name: \"Sub\"\n"
      "    type: \"anthropic\"\n"
      "    base_url: \"{}\"\n"
      "    auth_type: \"oauth\"\n"
      "    auth_value: \"oauth\"\n"
      "    account_email: \"{}\"\n"
      "{}"
      "model_routes:\n"
      "  \"*\": {}\n"
      "settings:\n"
      "  log_file_path: \"{}\"\n"
      "  log_level: \"DEBUG\"\n"
      "  failure_cooldown: 60\n"
      "oauth:\n"
      "  token_url: \"{}\"\n"
      "  token_store_path: \"{}\"\n"
      "  refresh_skew_seconds: {}\n"
      "{}",
      s.api_url, s.account, s.extra_providers, s.route, log_path(s.dir), s.token_url, store_path(s.dir), s.refresh_skew,
      s.extra);
}

HeaderList json_headers(HeaderList extra = {}) {
  HeaderList headers = {{"Content-Type", "application/json"}, {"anthropic-version", "2023-06-01"}};
  headers.insert(headers.end(), extra.begin(), extra.end());
  return headers;
}

std::string message_body(std::string_view text = "hi") {
  return fmt::format(R"({{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{{"role":"user","content":"{}"}}]}})",
                     text);
}

ClientRequest make_request(std::string method, std::string url, std::string body = "", HeaderList headers = {}) {
  ClientRequest r;
  r.method = std::move(method);
  r.url = std::move(url);
  r.body = std::move(body);
  r.headers = json_headers(std::move(headers));
  return r;
}

json parse(const ClientResponse& response) {
  INFO(response.body);
  json parsed = json::parse(response.body, nullptr, false);
  REQUIRE(parsed.is_object());
  return parsed;
}

// Logs `email` in through GET /oauth/generate-url and POST /oauth/exchange-code (code#state).
json login(TestBalancer& balancer, std::string_view email, std::string_view code, HeaderList auth = {}) {
  const ClientResponse generated = get(balancer.url("/oauth/generate-url?account_email=" + url_encode(email)), auth);
  REQUIRE(generated.status == 200);
  const json flow = parse(generated);
  const ClientResponse exchanged = post(
      balancer.url("/oauth/exchange-code"),
      json{{"code", fmt::format("{}#{}", code, flow["state"].get<std::string>())}, {"account_email", email}}.dump(),
      json_headers(auth));
  INFO(exchanged.body);
  REQUIRE(exchanged.status == 200);
  return parse(exchanged);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// No access or refresh token the fake endpoint issued appears in `text`, nor a recognisable
// piece of one.
void check_no_token_text(const std::string& text, const std::vector<std::string>& tokens, std::string_view where) {
  INFO(where);
  REQUIRE_FALSE(tokens.empty());
  for (const std::string& token : tokens) {
    INFO(token);
    CHECK(text.find(token) == std::string::npos);
    CHECK(text.find(token.substr(token.size() - 9)) == std::string::npos);  // e.g. "0001xq7Zt"
  }
  CHECK(text.find("FAKEACCESS") == std::string::npos);
  CHECK(text.find("FAKEREFRESH") == std::string::npos);
}

// An OAuth provider "Pool" that binds no account, for `providers:`.
std::string pool_provider_yaml(const std::string& api_url) {
  return fmt::format(
      "  - name: \"Pool\"\n"
      "    type: \"anthropic\"\n"
      "    base_url: \"{}\"\n"
      "    auth_type: \"oauth\"\n",
      api_url);
}

const json* find_account(const json& status, std::string_view email) {
  for (const json& account : status["accounts"]) {
    if (account.value("account_email", "") == email) {
      return &account;
    }
  }
  return nullptr;
}

}  // namespace

TEST_CASE("oauth: login via generate-url and exchange-code; requests carry the Bearer token and the merged beta",
          "[oauth]") {
  TempDir dir;
  FakeTokenEndpoint tokens;
  FakeUpstream api([&](const RecordedRequest& r) { return subscription_api(tokens, r); });
  TestBalancer balancer(oauth_config({.api_url = api.url(), .token_url = tokens.token_url(), .dir = dir.path()}));

  const json before = parse(get(balancer.url("/oauth/status")));
  CHECK(before["accounts"].empty());
  CHECK(before["pending_logins"] == 0);

  const ClientResponse generated = get(balancer.url("/oauth/generate-url?account_email=alice%40example.com"));
  REQUIRE(generated.status == 200);
  const json flow = parse(generated);
  const std::string state = flow["state"].get<std::string>();
  CHECK_FALSE(state.empty());
  CHECK_THAT(flow["url"].get<std::string>(), Catch::StartsWith("https://claude.ai/oauth/authorize?"));
  CHECK_THAT(flow["url"].get<std::string>(), Catch::Contains("code_challenge_method=S256"));
  CHECK_THAT(flow["url"].get<std::string>(), Catch::Contains(state));
  CHECK_THAT(flow["expires_at"].get<std::string>(), Catch::Matches(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"));
  CHECK_THAT(flow["instructions"].get<std::string>(), Catch::Contains("/oauth/exchange-code"));
  CHECK(parse(get(balancer.url("/oauth/status")))["pending_logins"] == 1);

  const ClientResponse exchanged =
      post(balancer.url("/oauth/exchange-code"),
           json{{"code", "auth-code-1#" + state}, {"account_email", "Alice@Example.com"}}.dump(), json_headers());
  INFO(exchanged.body);
  REQUIRE(exchanged.status == 200);
  const json logged_in = parse(exchanged);
  CHECK(logged_in["account_email"] == kAlice);
  CHECK(logged_in["status"] == "logged_in");
  CHECK_THAT(logged_in["expires_at"].get<std::string>(), Catch::Matches(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"));

  // The token endpoint got the code without "#state" and the PKCE verifier.
  REQUIRE(tokens.grants("authorization_code") == 1);
  const json grant = tokens.grant_bodies().front();
  CHECK(grant["code"] == "auth-code-1");
  CHECK(grant.value("code_verifier", "").size() >= 43);

  // The store file exists with mode 0600.
  struct stat st {};
  REQUIRE(::stat(store_path(dir.path()).c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  const json status = parse(get(balancer.url("/oauth/status")));
  CHECK(status["pending_logins"] == 0);
  REQUIRE(status["accounts"].size() == 1);
  const json& account = status["accounts"][0];
  CHECK(account["account_email"] == kAlice);
  CHECK(account["state"] == "valid");
  CHECK(account["has_refresh_token"] == true);
  CHECK(account["expires_in_s"].get<double>() > 28000);
  REQUIRE(account["providers"].size() == 1);
  CHECK(account["providers"][0]["provider"] == "Sub");
  CHECK(account["providers"][0]["health_key"] == "Sub");
  CHECK(account["providers"][0]["healthy"] == true);

  // A request: Bearer token, the oauth beta merged with the client's own betas, no x-api-key.
  const ClientResponse response =
      post(balancer.url("/v1/messages"), message_body(),
           json_headers({{"anthropic-beta", "prompt-caching-2024-07-31,fine-grained-tool-streaming-2025-05-14"}}));
  INFO(response.body);
  REQUIRE(response.status == 200);
  const auto requests = api.requests();
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].header("authorization") == "Bearer " + tokens.last_access());
  CHECK_FALSE(requests[0].has_header("x-api-key"));
  const std::string betas = header_values(requests[0].headers, "anthropic-beta");
  CHECK_THAT(betas, Catch::Contains("oauth-2025-04-20"));
  CHECK_THAT(betas, Catch::Contains("prompt-caching-2024-07-31"));
  CHECK_THAT(betas, Catch::Contains("fine-grained-tool-streaming-2025-05-14"));
  CHECK(parse(get(balancer.url("/oauth/status")))["accounts"][0]["requests"].get<int>() >= 1);
}

TEST_CASE("oauth: a token within the refresh skew is refreshed exactly once, however many requests need it",
          "[oauth]") {
  TempDir dir;
  FakeTokenEndpoint tokens;
  tokens.set_expires_in(60, 28800);  // the code's token is inside the 600 s skew at once
  FakeUpstream api([&](const RecordedRequest& r) { return subscription_api(tokens, r); });
  TestBalancer balancer(
      oauth_config({.api_url = api.url(), .token_url = tokens.token_url(), .dir = dir.path(), .refresh_skew = 600}));
  login(balancer, kAlice, "auth-code-1");
  const std::string first_access = tokens.last_access();
  CHECK(parse(get(balancer.url("/oauth/status")))["accounts"][0]["state"] == "expiring");

  std::vector<ClientRequest> requests;
  for (int i = 0; i < 8; ++i) {
    requests.push_back(make_request("POST", balancer.url("/v1/messages"), message_body(fmt::format("question {}", i))));
  }
  const std::vector<ClientResponse> responses = perform_all(requests);
  for (const ClientResponse& r : responses) {
    INFO(r.body);
    CHECK(r.status == 200);
  }
  CHECK(tokens.grants("refresh_token") == 1);
  const std::string refreshed = tokens.last_access();
  CHECK(refreshed != first_access);
  for (const RecordedRequest& r : api.requests()) {
    CHECK(r.header("authorization") == "Bearer " + refreshed);
  }

  CHECK(post(balancer.url("/v1/messages"), message_body("one more"), json_headers()).status == 200);
  CHECK(tokens.grants("refresh_token") == 1);
  const json status = parse(get(balancer.url("/oauth/status")));
  CHECK(status["accounts"][0]["state"] == "valid");
  CHECK_FALSE(status["accounts"][0]["last_refresh"].is_null());
}

TEST_CASE("oauth: a 401 for the current token makes one refresh and one retry", "[oauth]") {
  TempDir dir;
  FakeTokenEndpoint tokens;
  FakeUpstream api([&](const RecordedRequest& r) { return subscription_api(tokens, r); });
  TestBalancer balancer(oauth_config({.api_url = api.url(), .token_url = tokens.token_url(), .dir = dir.path()}));
  login(balancer, kAlice, "auth-code-1");
  const std::string revoked = tokens.last_access();
  tokens.revoke(revoked);

  const ClientResponse response = post(balancer.url("/v1/messages"), message_body(), json_headers());
  INFO(response.body);
  CHECK(response.status == 200);
  CHECK(tokens.grants("refresh_token") == 1);
  const auto requests = api.requests();
  REQUIRE(requests.size() == 2);
  CHECK(requests[0].header("authorization") == "Bearer " + revoked);
  CHECK(requests[1].header("authorization") == "Bearer " + tokens.last_access());
  CHECK(tokens.last_access() != revoked);

  // The new token keeps working without further refreshes.
  CHECK(post(balancer.url("/v1/messages"), message_body("again"), json_headers()).status == 200);
  CHECK(tokens.grants("refresh_token") == 1);
}

TEST_CASE("oauth: /oauth/status, the other endpoints and the log never show token characters", "[oauth]") {
  TempDir dir;
  FakeTokenEndpoint tokens;
  FakeUpstream api([&](const RecordedRequest& r) { return subscription_api(tokens, r); });
  TestBalancer balancer(oauth_config({.api_url = api.url(), .token_url = tokens.token_url(), .dir = dir.path()}));
  std::vector<std::string> bodies;
  const json logged_in = login(balancer, kAlice, "auth-code-1");
  bodies.push_back(logged_in.dump());
  // A refresh through the API, a 401 refresh and a refused refresh, so every kind of token
  // handling has happened.
  const ClientResponse refreshed = post(balancer.url("/oauth/refresh/alice%40example.com"), "", json_headers());
  REQUIRE(refreshed.status == 200);
  bodies.push_back(refreshed.body);
  CHECK(parse(refreshed)["account_email"] == kAlice);
  tokens.revoke(tokens.last_access());
  const ClientResponse retried = post(balancer.url("/v1/messages"), message_body(), json_headers());
  CHECK(retried.status == 200);
  bodies.push_back(retried.body);
  tokens.fail_refresh(503, "temporarily_unavailable");
  const ClientResponse failed = post(balancer.url("/oauth/refresh/alice%40example.com"), "", json_headers());
  CHECK(failed.status == 502);
  CHECK(anthropic_error_type(failed.body) == "api_error");
  bodies.push_back(failed.body);
  CHECK(tokens.grants("refresh_token") == 3);

  const ClientResponse status = get(balancer.url("/oauth/status"));
  REQUIRE(status.status == 200);
  bodies.push_back(status.body);
  const json account = parse(status)["accounts"][0];
  CHECK(account["account_email"] == kAlice);
  CHECK_THAT(account["expires_at"].get<std::string>(), Catch::Matches(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"));
  CHECK(account["expires_in_s"].get<double>() > 0);
  CHECK_FALSE(account["last_error"].is_null());
  CHECK(account["backoff_remaining_s"].get<double>() > 0);
  bodies.push_back(get(balancer.url("/providers")).body);
  bodies.push_back(get(balancer.url("/health")).body);
  const ClientResponse metrics = get(balancer.url("/metrics"));
  CHECK_THAT(metrics.body, Catch::Contains("balancer_oauth_token_expires_in_seconds{account=\"alice@example.com\"}"));
  bodies.push_back(metrics.body);

  // The store holds the tokens (so the search below would find them if they leaked) ...
  const std::string store = read_file(store_path(dir.path()));
  CHECK_THAT(store, Catch::Contains(tokens.last_access()));
  // ... and no answer and no log line does.
  const std::vector<std::string> issued = tokens.issued();
  CHECK(issued.size() == 6);
  for (const std::string& body : bodies) {
    check_no_token_text(body, issued, "response body");
  }
  const std::string log = read_file(log_path(dir.path()));
  CHECK_THAT(log, Catch::Contains("oauth"));  // the log file is the one the server wrote
  check_no_token_text(log, issued, "log file");
  // Nor the login's code and PKCE verifier.
  const std::vector<std::string> login_secrets = tokens.codes_and_verifiers();
  REQUIRE(login_secrets.size() >= 2);
  for (const std::string& secret : login_secrets) {
    INFO(secret);
    CHECK(log.find(secret) == std::string::npos);
    for (const std::string& body : bodies) {
      CHECK(body.find(secret) == std::string::npos);
    }
  }
}

TEST_CASE("oauth: after DELETE /oauth/tokens/{email} requests fail over or say to log in", "[oauth]") {
  TempDir dir;
  FakeTokenEndpoint tokens;
  FakeUpstream api([&](const RecordedRequest& r) { return subscription_api(tokens, r); });
  FakeUpstream backup;

  SECTION("the only provider: an Anthropic error that names the login, without token text") {
    TestBalancer balancer(oauth_config({.api_url = api.url(), .token_url = tokens.token_url(), .dir = dir.path()}));
    login(balancer, kAlice, "auth-code-1");
    REQUIRE(post(balancer.url("/v1/messages"), message_body(), json_headers()).status == 200);

    const ClientResponse removed = perform(make_request("DELETE", balancer.url("/oauth/tokens/alice%40example.com")));
    REQUIRE(removed.status == 200);
    CHECK(parse(removed)["removed"] == kAlice);
    const ClientResponse again = perform(make_request("DELETE", balancer.url("/oauth/tokens/alice%40example.com")));
    CHECK(again.status == 404);
    CHECK(anthropic_error_type(again.body) == "not_found_error");
    CHECK(parse(get(balancer.url("/oauth/status")))["accounts"].empty());
    CHECK(read_file(store_path(dir.path())).find(tokens.last_access()) == std::string::npos);

    const ClientResponse response = post(balancer.url("/v1/messages"), message_body("after"), json_headers());
    INFO(response.body);
    CHECK(response.status >= 400);
    CHECK_FALSE(anthropic_error_type(response.body).empty());
    std::string message = anthropic_error_message(response.body);
    std::transform(message.begin(), message.end(), message.begin(), [](unsigned char c) { return std::tolower(c); });
    CHECK((message.find("login") != std::string::npos || message.find("log in") != std::string::npos));
    check_no_token_text(response.body, tokens.issued(), "error body");
    CHECK(api.request_count() == 1);  // the upstream was not asked without a token
  }

  SECTION("with a backup provider: the request fails over to it") {
    TestBalancer balancer(
        oauth_config({.api_url = api.url(),
                      .token_url = tokens.token_url(),
                      .dir = dir.path(),
                      .extra_providers = provider_yaml("Backup", backup.url()),
                      .route = "[{provider: \"Sub\", priority: 1}, {provider: \"Backup\", priority: 2}]"}));
    login(balancer, kAlice, "auth-code-1");
    REQUIRE(post(balancer.url("/v1/messages"), message_body(), json_headers()).status == 200);
    CHECK(backup.request_count() == 0);

    const ClientResponse removed = perform(make_request("DELETE", balancer.url("/oauth/tokens")));
    REQUIRE(removed.status == 200);
    CHECK(parse(removed)["removed"] == 1);

    const ClientResponse response = post(balancer.url("/v1/messages"), message_body("after"), json_headers());
    INFO(response.body);
    CHECK(response.status == 200);
    CHECK(response.header("x-balancer-provider") == "Backup");
    CHECK(backup.request_count() == 1);
    CHECK(api.request_count() == 1);
  }
}

TEST_CASE("oauth: an invalid_grant refresh marks the account as needing a login", "[oauth]") {
  TempDir dir;
  FakeTokenEndpoint tokens;
  FakeUpstream api([&](const RecordedRequest& r) { return subscription_api(tokens, r); });
  TestBalancer balancer(oauth_config({.api_url = api.url(), .token_url = tokens.token_url(), .dir = dir.path()}));
  login(balancer, kAlice, "auth-code-1");

  tokens.fail_refresh(400, "invalid_grant");
  const ClientResponse refused = post(balancer.url("/oauth/refresh/alice%40example.com"), "", json_headers());
  INFO(refused.body);
  CHECK(refused.status == 409);
  CHECK(anthropic_error_type(refused.body) == "invalid_request_error");
  const json status = parse(get(balancer.url("/oauth/status")));
  CHECK(status["accounts"][0]["state"] == "needs_login");

  // A new login brings it back.
  tokens.fail_refresh(0, "");
  login(balancer, kAlice, "auth-code-2");
  CHECK(parse(get(balancer.url("/oauth/status")))["accounts"][0]["state"] == "valid");
  CHECK(post(balancer.url("/v1/messages"), message_body(), json_headers()).status == 200);

  const ClientResponse unknown = post(balancer.url("/oauth/refresh/nobody%40example.com"), "", json_headers());
  CHECK(unknown.status == 404);
  CHECK(anthropic_error_type(unknown.body) == "not_found_error");
}

TEST_CASE("oauth: two logins in flight at once, exchanged in reverse order, both succeed", "[oauth]") {
  TempDir dir;
  FakeTokenEndpoint tokens;
  FakeUpstream api([&](const RecordedRequest& r) { return subscription_api(tokens, r); });
  TestBalancer balancer(oauth_config({.api_url = api.url(), .token_url = tokens.token_url(), .dir = dir.path()}));

  const std::vector<ClientResponse> generated =
      perform_all({make_request("GET", balancer.url("/oauth/generate-url?account_email=alice%40example.com")),
                   make_request("GET", balancer.url("/oauth/generate-url?account_email=bob%40example.com"))});
  REQUIRE(generated[0].status == 200);
  REQUIRE(generated[1].status == 200);
  const std::string state_alice = parse(generated[0])["state"].get<std::string>();
  const std::string state_bob = parse(generated[1])["state"].get<std::string>();
  CHECK(state_alice != state_bob);
  CHECK(parse(get(balancer.url("/oauth/status")))["pending_logins"] == 2);

  const ClientResponse bob =
      post(balancer.url("/oauth/exchange-code"),
           json{{"code", "code-bob#" + state_bob}, {"account_email", kBob}}.dump(), json_headers());
  INFO(bob.body);
  CHECK(bob.status == 200);
  const ClientResponse alice =
      post(balancer.url("/oauth/exchange-code"),
           json{{"code", "code-alice#" + state_alice}, {"account_email", kAlice}}.dump(), json_headers());
  INFO(alice.body);
  CHECK(alice.status == 200);

  const auto grants = tokens.grant_bodies();
  REQUIRE(grants.size() == 2);
  CHECK(grants[0]["code"] == "code-bob");
  CHECK(grants[1]["code"] == "code-alice");
  CHECK(grants[0]["code_verifier"] != grants[1]["code_verifier"]);  // each flow its own verifier

  const json status = parse(get(balancer.url("/oauth/status")));
  CHECK(status["pending_logins"] == 0);
  CHECK(status["accounts"].size() == 2);
  REQUIRE(find_account(status, kAlice) != nullptr);
  REQUIRE(find_account(status, kBob) != nullptr);
  // Sub binds alice; bob serves no provider of this config.
  CHECK(find_account(status, kAlice)->at("providers").size() == 1);
  CHECK(find_account(status, kBob)->at("providers").empty());

  // A state is single-use.
  const ClientResponse reused =
      post(balancer.url("/oauth/exchange-code"),
           json{{"code", "code-again#" + state_bob}, {"account_email", kBob}}.dump(), json_headers());
  CHECK(reused.status == 400);
  CHECK(anthropic_error_type(reused.body) == "invalid_request_error");
}

TEST_CASE("oauth: unbound oauth providers list every account, with health per provider and account", "[oauth]") {
  TempDir dir;
  FakeTokenEndpoint tokens;
  FakeUpstream api([&](const RecordedRequest& r) { return subscription_api(tokens, r); });
  const std::string pool = pool_provider_yaml(api.url());
  TestBalancer balancer(oauth_config({.api_url = api.url(),
                                      .token_url = tokens.token_url(),
                                      .dir = dir.path(),
                                      .extra_providers = pool,
                                      .route = "[{provider: \"Pool\"}, {provider: \"Sub\", priority: 2}]"}));
  login(balancer, kAlice, "code-alice");
  login(balancer, kBob, "code-bob");

  const ClientResponse response = post(balancer.url("/v1/messages"), message_body(), json_headers());
  INFO(response.body);
  CHECK(response.status == 200);

  const json status = parse(get(balancer.url("/oauth/status")));
  const json* alice = find_account(status, kAlice);
  const json* bob = find_account(status, kBob);
  REQUIRE(alice != nullptr);
  REQUIRE(bob != nullptr);
  std::map<std::string, std::string> alice_keys;
  for (const json& p : alice->at("providers")) {
    alice_keys[p["provider"].get<std::string>()] = p["health_key"].get<std::string>();
  }
  CHECK(alice_keys == std::map<std::string, std::string>{{"Pool", "Pool/alice@example.com"}, {"Sub", "Sub"}});
  REQUIRE(bob->at("providers").size() == 1);
  CHECK(bob->at("providers")[0]["health_key"] == "Pool/bob@example.com");
}

TEST_CASE("oauth: a provider bound by route entries counts only those accounts, in /providers and /oauth/status alike",
          "[oauth]") {
  TempDir dir;
  FakeTokenEndpoint tokens;
  FakeUpstream api([&](const RecordedRequest& r) { return subscription_api(tokens, r); });
  const std::string pool = pool_provider_yaml(api.url());
  TestBalancer balancer(oauth_config({.api_url = api.url(),
                                      .token_url = tokens.token_url(),
                                      .dir = dir.path(),
                                      .extra_providers = pool,
                                      .route = "[{provider: \"Pool\", account_email: \"alice@example.com\"}, "
                                               "{provider: \"Sub\", priority: 2}]"}));
  login(balancer, kAlice, "code-alice");
  login(balancer, kBob, "code-bob");

  const json providers = parse(get(balancer.url("/providers")));
  const json* pool_report = nullptr;
  for (const json& p : providers["providers"]) {
    if (p.value("name", "") == "Pool") {
      pool_report = &p;
    }
  }
  REQUIRE(pool_report != nullptr);
  INFO(pool_report->dump());
  // Bob is logged in but no route entry lets him serve Pool.
  CHECK(pool_report->at("oauth").at("accounts") == 1);
  CHECK(pool_report->at("oauth").at("usable_accounts") == 1);

  const json status = parse(get(balancer.url("/oauth/status")));
  const json* bob = find_account(status, kBob);
  REQUIRE(bob != nullptr);
  for (const json& p : bob->at("providers")) {
    CHECK(p["provider"] != "Pool");
  }
  const json* alice = find_account(status, kAlice);
  REQUIRE(alice != nullptr);
  bool alice_serves_pool = false;
  for (const json& p : alice->at("providers")) {
    alice_serves_pool = alice_serves_pool || p["provider"] == "Pool";
  }
  CHECK(alice_serves_pool);
}

TEST_CASE("oauth: the authorize redirect and the callback complete a login", "[oauth]") {
  TempDir dir;
  FakeTokenEndpoint tokens;
  FakeUpstream api([&](const RecordedRequest& r) { return subscription_api(tokens, r); });
  TestBalancer balancer(oauth_config({.api_url = api.url(), .token_url = tokens.token_url(), .dir = dir.path()}));

  const ClientResponse redirect = get(balancer.url("/oauth/authorize?account_email=alice%40example.com"));
  REQUIRE(redirect.status == 302);
  const std::string location = redirect.header("location").value_or("");
  CHECK_THAT(location, Catch::StartsWith("https://claude.ai/oauth/authorize?"));
  const auto state_at = location.find("state=");
  REQUIRE(state_at != std::string::npos);
  const std::string state = location.substr(state_at + 6, location.find('&', state_at) - state_at - 6);

  const ClientResponse bad_state = get(balancer.url("/oauth/callback?code=c1&state=not-a-state"));
  CHECK(bad_state.status == 400);
  CHECK(anthropic_error_type(bad_state.body) == "invalid_request_error");
  const ClientResponse no_code = get(balancer.url("/oauth/callback?state=" + state));
  CHECK(no_code.status == 400);
  CHECK_THAT(anthropic_error_message(no_code.body), Catch::Contains("code"));
  const ClientResponse denied = get(balancer.url("/oauth/callback?error=access_denied&state=" + state));
  CHECK(denied.status == 400);
  CHECK_THAT(anthropic_error_message(denied.body), Catch::Contains("access_denied"));

  const ClientResponse page = get(balancer.url("/oauth/callback?code=c1&state=" + state), {{"Accept", "text/html"}});
  INFO(page.body);
  REQUIRE(page.status == 200);
  CHECK_THAT(page.header("content-type").value_or(""), Catch::StartsWith("text/html"));
  CHECK_THAT(page.body, Catch::Contains("alice@example.com"));
  check_no_token_text(page.body, tokens.issued(), "callback page");
  CHECK(find_account(parse(get(balancer.url("/oauth/status"))), kAlice) != nullptr);
}

TEST_CASE("oauth: exchange-code rejects malformed bodies naming the field", "[oauth]") {
  TempDir dir;
  FakeTokenEndpoint tokens;
  FakeUpstream api;
  TestBalancer balancer(oauth_config({.api_url = api.url(), .token_url = tokens.token_url(), .dir = dir.path()}));
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not json", "code"},
      {"[1,2]", "code"},
      {R"({"account_email":"alice@example.com"})", "code"},
      {R"({"code":42,"account_email":"alice@example.com"})", "code"},
      {R"({"code":"abc#def","account_email":7})", "account_email"},
  };
  for (const auto& [body, field] : cases) {
    INFO(body);
    const ClientResponse response = post(balancer.url("/oauth/exchange-code"), body, json_headers());
    CHECK(response.status == 400);
    CHECK(anthropic_error_type(response.body) == "invalid_request_error");
    CHECK_THAT(anthropic_error_message(response.body), Catch::Contains(field));
  }
  // A well-formed code whose state no flow has.
  const ClientResponse unknown =
      post(balancer.url("/oauth/exchange-code"), R"({"code":"abc#no-such-state","account_email":"alice@example.com"})",
           json_headers());
  CHECK(unknown.status == 400);
  CHECK(anthropic_error_type(unknown.body) == "invalid_request_error");
  CHECK(tokens.grants("authorization_code") == 0);

  // The token endpoint failing is a 502 api_error, and the login can be retried.
  tokens.fail_codes(503);
  const std::string state = parse(get(balancer.url("/oauth/generate-url?account_email=alice%40example.com")))["state"];
  const ClientResponse failed = post(balancer.url("/oauth/exchange-code"),
                                     json{{"code", "c1#" + state}, {"account_email", kAlice}}.dump(), json_headers());
  CHECK(failed.status == 502);
  CHECK(anthropic_error_type(failed.body) == "api_error");
  tokens.fail_codes(0);
  login(balancer, kAlice, "c2");
}

TEST_CASE("oauth: /oauth/* need the admin key when auth is enabled; wrong methods get 405", "[oauth]") {
  TempDir dir;
  FakeTokenEndpoint tokens;
  FakeUpstream api;
  TestBalancer balancer(oauth_config({.api_url = api.url(),
                                      .token_url = tokens.token_url(),
                                      .dir = dir.path(),
                                      .extra = "auth:\n  enabled: true\n  api_keys: [\"client-key\"]\n"
                                               "  admin_api_key: \"admin-key\"\n"}));
  const std::vector<std::pair<std::string, std::string>> endpoints = {
      {"GET", "/oauth/authorize"},
      {"GET", "/oauth/generate-url"},
      {"GET", "/oauth/callback?code=c&state=s"},
      {"POST", "/oauth/exchange-code"},
      {"GET", "/oauth/status"},
      {"POST", "/oauth/refresh/alice%40example.com"},
      {"DELETE", "/oauth/tokens/alice%40example.com"},
      {"DELETE", "/oauth/tokens"},
  };
  for (const auto& [method, path] : endpoints) {
    INFO(method << " " << path);
    for (const HeaderList& key :
         {HeaderList{}, HeaderList{{"x-api-key", "client-key"}}, HeaderList{{"Authorization", "Bearer wrong-key"}}}) {
      const ClientResponse refused = perform(make_request(method, balancer.url(path), "{}", key));
      CHECK(refused.status == 401);
      CHECK(anthropic_error_type(refused.body) == "authentication_error");
    }
    const ClientResponse admitted =
        perform(make_request(method, balancer.url(path), "{}", {{"x-api-key", "admin-key"}}));
    CHECK(admitted.status != 401);
  }
  CHECK(tokens.grants("authorization_code") + tokens.grants("refresh_token") == 0);

  // With the admin key the whole login works.
  login(balancer, kAlice, "auth-code-1", {{"x-api-key", "admin-key"}});

  const std::vector<std::tuple<std::string, std::string, int>> methods = {
      {"POST", "/oauth/status", 405},
      {"GET", "/oauth/exchange-code", 405},
      {"GET", "/oauth/tokens", 405},
      {"GET", "/oauth/refresh/alice%40example.com", 405},
      {"PUT", "/oauth/tokens/alice%40example.com", 405},
      {"GET", "/oauth/nope", 404},
      {"POST", "/oauth/refresh/", 404},
  };
  for (const auto& [method, path, expected] : methods) {
    INFO(method << " " << path);
    const ClientResponse response =
        perform(make_request(method, balancer.url(path), method == "GET" ? "" : "{}", {{"x-api-key", "admin-key"}}));
    CHECK(response.status == expected);
    CHECK_FALSE(anthropic_error_type(response.body).empty());
  }
}

TEST_CASE("oauth: stored accounts survive a restart, and a reload applies new oauth settings", "[oauth]") {
  TempDir dir;
  FakeTokenEndpoint tokens;
  FakeTokenEndpoint other_tokens;
  FakeUpstream api([&](const RecordedRequest& r) { return subscription_api(tokens, r); });
  const Setup setup{.api_url = api.url(), .token_url = tokens.token_url(), .dir = dir.path()};
  {
    TestBalancer first(oauth_config(setup));
    login(first, kAlice, "auth-code-1");
  }
  TestBalancer second(oauth_config(setup));
  const json status = parse(get(second.url("/oauth/status")));
  REQUIRE(find_account(status, kAlice) != nullptr);
  CHECK(post(second.url("/v1/messages"), message_body(), json_headers()).status == 200);
  CHECK(tokens.grants("refresh_token") == 0);

  // Reload with another token endpoint: the next refresh goes there (and fails: that endpoint
  // never issued this refresh token), the first endpoint sees nothing.
  Setup moved = setup;
  moved.token_url = other_tokens.token_url();
  second.rewrite_config(oauth_config(moved));
  REQUIRE(post(second.url("/providers/reload"), "", json_headers()).status == 200);
  const ClientResponse refreshed = post(second.url("/oauth/refresh/alice%40example.com"), "", json_headers());
  CHECK(refreshed.status == 409);
  CHECK(other_tokens.grants("refresh_token") == 1);
  CHECK(tokens.grants("refresh_token") == 0);
}

}  // namespace balancer::test

namespace balancer::test {

TEST_CASE("oauth: the token store defaults to the state directory from the environment", "[oauth]") {
  OAuthSettings settings;
  const auto env_of = [](std::map<std::string, std::string> values) {
    return EnvLookup([values = std::move(values)](const std::string& name) -> std::optional<std::string> {
      auto it = values.find(name);
      return it == values.end() ? std::nullopt : std::optional<std::string>(it->second);
    });
  };
  CHECK(resolve_token_store_path(settings, env_of({{"XDG_STATE_HOME", "/xdg"}, {"HOME", "/home/u"}})) ==
        "/xdg/balancer/oauth_tokens.json");
  CHECK(resolve_token_store_path(settings, env_of({{"HOME", "/home/u"}})) ==
        "/home/u/.local/state/balancer/oauth_tokens.json");
  CHECK(resolve_token_store_path(settings, env_of({{"XDG_STATE_HOME", "relative"}, {"HOME", "/home/u"}})) ==
        "/home/u/.local/state/balancer/oauth_tokens.json");  // XDG: relative paths are ignored
  CHECK(resolve_token_store_path(settings, env_of({})) == "./oauth_tokens.json");
  CHECK(resolve_token_store_path(settings, EnvLookup()) == "./oauth_tokens.json");
  settings.token_store_path = "~/tokens.json";
  CHECK(resolve_token_store_path(settings, env_of({{"HOME", "/home/u"}})) == "/home/u/tokens.json");
  CHECK(resolve_token_store_path(settings, env_of({})) == "~/tokens.json");
  settings.token_store_path = "/etc/balancer/tokens.json";
  CHECK(resolve_token_store_path(settings, env_of({{"XDG_STATE_HOME", "/xdg"}})) == "/etc/balancer/tokens.json");

  // The server resolves it through the environment it was given (never the real one).
  TempDir dir;
  FakeTokenEndpoint tokens;
  FakeUpstream api;
  const std::string yaml =
      fmt::format("providers:\n{}model_routes:\n  \"*\": [{{provider: \"A\"}}]\n{}oauth:\n  token_url: \"{}\"\n",
                  provider_yaml("A", api.url()), test_settings_yaml(), tokens.token_url());
  TestBalancer balancer(yaml, {{"XDG_STATE_HOME", dir.path()}});
  const std::string expected = dir.path() + "/balancer/oauth_tokens.json";
  CHECK(balancer.app().token_store_path() == expected);
  CHECK(parse(get(balancer.url("/oauth/status")))["token_store"] == expected);
  login(balancer, kAlice, "auth-code-1");
  struct stat st {};
  REQUIRE(::stat(expected.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("oauth: an unreadable token store is logged, naming the file, and the server starts", "[oauth]") {
  TempDir dir;
  FakeTokenEndpoint tokens;
  FakeUpstream api([&](const RecordedRequest& r) { return subscription_api(tokens, r); });
  std::filesystem::create_directories(dir.path() + "/state");
  {
    std::ofstream out(store_path(dir.path()));
    out << R"({"accounts": [{"account_email": "x@example.com", "access_token": "sk-ant-oat01-CORRUPTSECRET)";
  }
  TestBalancer balancer(oauth_config({.api_url = api.url(), .token_url = tokens.token_url(), .dir = dir.path()}));
  const ClientResponse status = get(balancer.url("/oauth/status"));
  REQUIRE(status.status == 200);
  CHECK(parse(status)["accounts"].empty());
  const std::string log = read_file(log_path(dir.path()));
  CHECK_THAT(log, Catch::Contains("oauth token store not loaded"));
  CHECK_THAT(log, Catch::Contains(store_path(dir.path())));
  CHECK(log.find("CORRUPTSECRET") == std::string::npos);

  // A login still works, and the requests with it.
  login(balancer, kAlice, "auth-code-1");
  CHECK(post(balancer.url("/v1/messages"), message_body(), json_headers()).status == 200);
}

}  // namespace balancer::test
