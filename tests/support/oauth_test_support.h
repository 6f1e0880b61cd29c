// oauth_test_support.h — shared pieces of the OAuthClient unit tests: a fake token endpoint on
// FakeTransport, an in-memory TokenStore, and helpers to log an account in and to read URLs and
// request bodies. Test-only; each object is used by one test (the fakes are thread-safe).
#pragma once

#include <catch2/catch.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <balancer/oauth_client.h>
#include <balancer/testing/fake_transport.h>
#include <balancer/testing/manual_clock.h>

#include "watched_clock.h"

namespace oauth_test {

using balancer::ErrorCode;
using balancer::HttpRequest;
using balancer::OAuthToken;
using balancer::Result;
using balancer::testing::FakeResponse;
using nlohmann::json;

// A TokenStore in memory: counts saves, keeps the last one, can be told to fail.
class MemoryStore final : public balancer::TokenStore {
 public:
  Result<std::vector<OAuthToken>> load() override {
    std::lock_guard lock(mutex_);
    return saved_;
  }
  Result<void> save(const std::vector<OAuthToken>& tokens) override {
    std::lock_guard lock(mutex_);
    ++saves_;
    if (fail_) {
      return balancer::make_error(ErrorCode::Internal, "token store memory: disk full");
    }
    saved_ = tokens;
    return {};
  }
  void set_fail(bool fail) {
    std::lock_guard lock(mutex_);
    fail_ = fail;
  }
  int saves() const {
    std::lock_guard lock(mutex_);
    return saves_;
  }
  std::vector<OAuthToken> saved() const {
    std::lock_guard lock(mutex_);
    return saved_;
  }
  // The saved entry of `email`, if any.
  std::optional<OAuthToken> saved_for(const std::string& email) const {
    std::lock_guard lock(mutex_);
    for (const auto& t : saved_) {
      if (t.account_email == email) {
        return t;
      }
    }
    return std::nullopt;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<OAuthToken> saved_;
  int saves_ = 0;
  bool fail_ = false;
};

// A 2xx token response body.
inline std::string grant_body(const std::string& access, const std::string& refresh = {}, long long expires_in = 3600,
                              const std::string& scope = {}, const std::string& email = {}) {
  json body = {{"token_type", "Bearer"}, {"access_token", access}, {"expires_in", expires_in}};
  if (!refresh.empty()) {
    body["refresh_token"] = refresh;
  }
  if (!scope.empty()) {
    body["scope"] = scope;
  }
  if (!email.empty()) {
    body["account"] = {{"uuid", "u-1"}, {"email_address", email}};
  }
  return body.dump();
}

inline FakeResponse grant(const std::string& access, const std::string& refresh = {}, long long expires_in = 3600) {
  return FakeResponse::json(200, grant_body(access, refresh, expires_in));
}

inline FakeResponse oauth_error(int status, const std::string& error, const std::string& description = "nope") {
  return FakeResponse::json(status, json{{"error", error}, {"error_description", description}}.dump());
}

// A token result as text: the value, or "<error Code: message>".
inline std::string str(const Result<std::string>& r) {
  if (r) {
    return *r;
  }
  return "<error " + std::string(balancer::to_string(r.error().code)) + ": " + r.error().message + ">";
}

// The parsed JSON body of a request (null when it is not JSON).
inline json body_of(const HttpRequest& request) { return json::parse(request.body, nullptr, false); }

inline std::string grant_type(const HttpRequest& request) {
  const json body = body_of(request);
  return body.is_object() && body.contains("grant_type") && body["grant_type"].is_string()
             ? body["grant_type"].get<std::string>()
             : std::string();
}

inline std::string percent_decode(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

// The query of `url` as ordered (name, raw value) pairs.
inline std::vector<std::pair<std::string, std::string>> query_of(const std::string& url) {
  std::vector<std::pair<std::string, std::string>> out;
  const auto q = url.find('?');
  if (q == std::string::npos) {
    return out;
  }
  std::string_view rest = std::string_view(url).substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view item = rest.substr(0, amp);
    const auto eq = item.find('=');
    out.emplace_back(std::string(item.substr(0, eq)),
                     eq == std::string_view::npos ? std::string() : std::string(item.substr(eq + 1)));
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
  }
  return out;
}

inline std::string query_value(const std::string& url, const std::string& name) {
  for (const auto& [key, value] : query_of(url)) {
    if (key == name) {
      return percent_decode(value);
    }
  }
  return {};
}

// A client wired to a fake token endpoint (`respond`, replaceable between calls), a ManualClock
// (watched: tests can wait for the threads that read it) and a MemoryStore.
struct Fixture {
  explicit Fixture(balancer::OAuthSettings s = settings()) {
    auto owned = std::make_unique<MemoryStore>();
    store = owned.get();
    client = std::make_unique<balancer::OAuthClient>(std::move(s), transport, clock, std::move(owned));
  }

  static balancer::OAuthSettings settings() {
    balancer::OAuthSettings s;
    s.authorize_url = "https://auth.example/oauth/authorize";
    s.token_url = "https://token.example/v1/oauth/token";
    s.client_id = "client-123";
    s.redirect_uri = "https://auth.example/oauth/code/callback";
    s.scopes = {"user:profile", "user:inference"};
    s.refresh_skew = std::chrono::seconds(300);
    s.proxy = "socks5://127.0.0.1:1080";
    return s;
  }

  // Logs `email` in with the given tokens (expires_in 3600) and checks it worked.
  void login(const std::string& email, const std::string& access, const std::string& refresh) {
    const auto flow = client->begin_login();
    set_respond([access, refresh](const HttpRequest&) { return grant(access, refresh); });
    const auto done = client->exchange_code("the-code#" + flow.state, email);
    REQUIRE(done.has_value());
    REQUIRE(*done == balancer::normalize_account_email(email));
  }

  // Token-endpoint requests of one grant type.
  std::vector<HttpRequest> requests_of(const std::string& type) const {
    std::vector<HttpRequest> out;
    for (const auto& r : transport.requests()) {
      if (grant_type(r) == type) {
        out.push_back(r);
      }
    }
    return out;
  }
  std::size_t refresh_calls() const { return requests_of("refresh_token").size(); }

  void set_respond(std::function<FakeResponse(const HttpRequest&)> fn) {
    std::lock_guard lock(respond_mutex);
    respond = std::move(fn);
  }

  balancer::test::WatchedClock clock;
  std::mutex respond_mutex;
  std::function<FakeResponse(const HttpRequest&)> respond = [](const HttpRequest&) {
    return FakeResponse::failure(ErrorCode::UpstreamConnect, "no response scripted");
  };
  balancer::testing::FakeTransport transport{[this](const HttpRequest& r) {
    std::function<FakeResponse(const HttpRequest&)> fn;
    {
      std::lock_guard lock(respond_mutex);
      fn = respond;
    }
    return fn(r);
  }};
  MemoryStore* store = nullptr;  // owned by client
  std::unique_ptr<balancer::OAuthClient> client;
};

}  // namespace oauth_test
