// The file TokenStore and OAuthClient over it (spec §9): round trip, atomic 0600 writes with 0700
// parent directories and no temporary files left, tolerant loading, errors naming the file and
// not its content, a restart serving the stored token without any call, and a failing store not
// losing in-memory tokens. Each test works in its own temporary directory and removes it.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include "oauth_test_support.h"

using namespace balancer;
using namespace oauth_test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the system temp directory, removed with everything in it at the end.
struct TempDir {
  TempDir()
      : path(fs::temp_directory_path() /
             ("balancer_oauth_test_" + std::to_string(::getpid()) + "_" + random_url_token(6).value())) {
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  fs::path path;
};

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 0777u;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    out.push_back(entry.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

WallTime at(long long unix_seconds) { return WallTime(std::chrono::seconds(unix_seconds)); }

OAuthToken sample(const std::string& email) {
  OAuthToken t;
  t.account_email = email;
  t.access_token = "access-" + email;
  t.refresh_token = "refresh-" + email;
  t.expires_at = at(1'800'000'000);
  t.created_at = at(1'700'000'000);
  t.scopes = {"user:profile", "user:inference"};
  return t;
}

// A TokenStore whose saves always fail.
class BrokenStore final : public TokenStore {
 public:
  Result<std::vector<OAuthToken>> load() override { return std::vector<OAuthToken>{}; }
  Result<void> save(const std::vector<OAuthToken>&) override {
    ++saves;
    return make_error(ErrorCode::Internal, "token store /nowhere: cannot write: No space left on device");
  }
  int saves = 0;
};

}  // namespace

TEST_CASE("the file store round-trips every field", "[unit][oauth]") {
  TempDir dir;
  const std::string path = (dir.path / "tokens.json").string();
  auto store = make_file_token_store(path);
  auto empty = store->load();
  REQUIRE(empty.has_value());
  CHECK(empty->empty());
  CHECK_FALSE(fs::exists(path));

  OAuthToken a = sample("a@example.com");
  a.last_refresh = at(1'750'000'000);
  OAuthToken b = sample("b@example.com");
  b.refresh_token.clear();
  b.needs_login = true;
  b.scopes.clear();
  REQUIRE(store->save({a, b}).has_value());

  const auto loaded = make_file_token_store(path)->load();
  REQUIRE(loaded.has_value());
  REQUIRE(loaded->size() == 2);
  const OAuthToken& la = loaded->at(0);
  CHECK(la.account_email == "a@example.com");
  CHECK(la.access_token == a.access_token);
  CHECK(la.refresh_token == a.refresh_token);
  CHECK(la.expires_at == a.expires_at);
  CHECK(la.created_at == a.created_at);
  CHECK(la.last_refresh == a.last_refresh);
  CHECK(la.scopes == a.scopes);
  CHECK_FALSE(la.needs_login);
  const OAuthToken& lb = loaded->at(1);
  CHECK(lb.refresh_token.empty());
  CHECK(lb.needs_login);
  CHECK_FALSE(lb.last_refresh.has_value());
  CHECK(lb.scopes.empty());

  const auto doc = nlohmann::json::parse(read_file(path));
  CHECK(doc.at("version") == 1);
  CHECK(doc.at("tokens").at(0).at("expires_at") == 1'800'000'000);
}

TEST_CASE("the file store writes 0600 files atomically, creating parents 0700", "[unit][oauth]") {
  TempDir dir;
  const fs::path nested = dir.path / "state" / "balancer";
  const fs::path path = nested / "oauth.json";
  auto store = make_file_token_store(path.string());
  REQUIRE(store->save({sample("a@example.com")}).has_value());
  CHECK(mode_of(path) == 0600u);
  CHECK(mode_of(nested) == 0700u);
  CHECK(mode_of(dir.path / "state") == 0700u);
  CHECK(names_in(nested) == std::vector<std::string>{"oauth.json"});

  // An existing, wider file is replaced by a 0600 one.
  ::chmod(path.c_str(), 0644);
  REQUIRE(store->save({sample("a@example.com"), sample("b@example.com")}).has_value());
  CHECK(mode_of(path) == 0600u);
  CHECK(names_in(nested) == std::vector<std::string>{"oauth.json"});
  CHECK(make_file_token_store(path.string())->load()->size() == 2);
}

TEST_CASE("a save that cannot complete reports the file and leaves no temporary file", "[unit][oauth]") {
  TempDir dir;
  SECTION("the target is a directory: the rename fails") {
    const fs::path path = dir.path / "tokens.json";
    fs::create_directories(path / "occupied");
    const auto r = make_file_token_store(path.string())->save({sample("a@example.com")});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::Internal);
    CHECK_THAT(r.error().message, Catch::Contains(path.string()));
    CHECK_THAT(r.error().message, Catch::Contains("rename"));
    CHECK_THAT(r.error().message, !Catch::Contains("access-a@example.com"));
    CHECK(names_in(dir.path) == std::vector<std::string>{"tokens.json"});
    CHECK(fs::is_directory(path));
  }
  SECTION("a parent is a regular file") {
    std::ofstream(dir.path / "plain") << "x";
    const fs::path path = dir.path / "plain" / "tokens.json";
    const auto r = make_file_token_store(path.string())->save({sample("a@example.com")});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == ErrorCode::Internal);
    CHECK_THAT(r.error().message, Catch::Contains(path.string()));
    const auto loaded = make_file_token_store(path.string())->load();
    REQUIRE_FALSE(loaded.has_value());  // ENOTDIR is not "absent"
    CHECK_THAT(loaded.error().message, Catch::Contains(path.string()));
  }
}

TEST_CASE("a malformed store is an error naming the file, never quoting it", "[unit][oauth]") {
  TempDir dir;
  const fs::path path = dir.path / "tokens.json";
  const std::string content = GENERATE(std::string("{\"tokens\": [sk-ant-SECRET"), std::string("[\"sk-ant-SECRET\"]"),
                                       std::string("{\"version\":2,\"tokens\":[],\"x\":\"sk-ant-SECRET\"}"),
                                       std::string("{\"version\":1,\"tokens\":\"sk-ant-SECRET\"}"));
  CAPTURE(content);
  std::ofstream(path) << content;
  const auto r = make_file_token_store(path.string())->load();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == ErrorCode::Internal);
  CHECK_THAT(r.error().message, Catch::Contains(path.string()));
  CHECK_THAT(r.error().message, !Catch::Contains("SECRET"));

  // Through the client: load() fails and the client starts empty.
  Fixture f;
  OAuthClient client(Fixture::settings(), f.transport, f.clock, make_file_token_store(path.string()));
  const auto loaded = client.load();
  REQUIRE_FALSE(loaded.has_value());
  CHECK_THAT(loaded.error().message, Catch::Contains(path.string()));
  CHECK(client.usable_accounts().empty());
  CHECK(client.status().empty());

  // A login afterwards works in memory but never overwrites the unreadable store: it may hold
  // the only valid refresh tokens.
  const auto flow = client.begin_login();
  f.set_respond([](const HttpRequest&) { return grant("ACCESS-NEW", "REFRESH-NEW"); });
  REQUIRE(client.exchange_code("c#" + flow.state, "a@example.com").has_value());
  CHECK(client.usable_accounts() == std::vector<std::string>{"a@example.com"});
  CHECK(read_file(path) == content);
  CHECK(names_in(dir.path) == std::vector<std::string>{"tokens.json"});
}

TEST_CASE("stored entries with unusable fields are skipped, the rest load", "[unit][oauth]") {
  TempDir dir;
  const fs::path path = dir.path / "tokens.json";
  std::ofstream(path) << R"({"version":1,"tokens":[
    {"account_email":"Good@Example.com","access_token":"a","refresh_token":"r","expires_at":1800000000,
     "created_at":1700000000,"scopes":["s",5],"needs_login":false,"future_field":true},
    {"account_email":"no-expiry@example.com","access_token":"a","refresh_token":"r"},
    {"account_email":"bad-expiry@example.com","access_token":"a","refresh_token":"r","expires_at":"soon"},
    {"account_email":"negative@example.com","access_token":"a","refresh_token":"r","expires_at":-1},
    {"account_email":"huge@example.com","access_token":"a","refresh_token":"r","expires_at":1e30},
    {"access_token":"a","refresh_token":"r","expires_at":1800000000},
    {"account_email":"  ","access_token":"a","expires_at":1800000000},
    {"account_email":"no-access@example.com","refresh_token":"r","expires_at":1800000000},
    {"account_email":"empty@example.com","access_token":"","refresh_token":"","expires_at":1800000000},
    "junk", 7, null
  ]})";
  const auto r = make_file_token_store(path.string())->load();
  REQUIRE(r.has_value());
  REQUIRE(r->size() == 2);
  CHECK(r->at(0).account_email == "good@example.com");
  CHECK(r->at(0).scopes == std::vector<std::string>{"s"});
  CHECK_FALSE(r->at(0).needs_login);
  CHECK(r->at(1).account_email == "empty@example.com");
  CHECK(r->at(1).needs_login);  // nothing to use or refresh
}

TEST_CASE("a restarted client serves the stored token without calling the endpoint", "[unit][oauth]") {
  TempDir dir;
  const fs::path path = dir.path / "sub" / "tokens.json";
  Fixture f;
  {
    OAuthClient first(Fixture::settings(), f.transport, f.clock, make_file_token_store(path.string()));
    REQUIRE(first.load().has_value());
    const auto flow = first.begin_login();
    f.set_respond([](const HttpRequest&) { return grant("ACCESS-1", "REFRESH-1"); });
    REQUIRE(first.exchange_code("c#" + flow.state, "a@example.com").has_value());
    CHECK(mode_of(path) == 0600u);
    CHECK(mode_of(path.parent_path()) == 0700u);
    CHECK(names_in(path.parent_path()) == std::vector<std::string>{"tokens.json"});
  }
  const std::size_t calls = f.transport.call_count();
  f.clock.advance(1000s);

  OAuthClient second(Fixture::settings(), f.transport, f.clock, make_file_token_store(path.string()));
  REQUIRE(second.load().has_value());
  CHECK(second.usable_accounts() == std::vector<std::string>{"a@example.com"});
  CHECK(str(second.access_token("a@example.com")) == "ACCESS-1");
  CHECK(f.transport.call_count() == calls);

  // The rotated refresh token survives the next restart too.
  f.set_respond([](const HttpRequest&) { return grant("ACCESS-2", "REFRESH-2"); });
  f.clock.advance(3000s);
  CHECK(str(second.access_token("a@example.com")) == "ACCESS-2");
  OAuthClient third(Fixture::settings(), f.transport, f.clock, make_file_token_store(path.string()));
  REQUIRE(third.load().has_value());
  f.clock.advance(3600s);
  f.set_respond([](const HttpRequest&) { return grant("ACCESS-3", "REFRESH-3"); });
  CHECK(str(third.access_token("a@example.com")) == "ACCESS-3");
  CHECK(body_of(f.transport.requests().back()).at("refresh_token") == "REFRESH-2");
  CHECK(names_in(path.parent_path()) == std::vector<std::string>{"tokens.json"});
}

TEST_CASE("a store that cannot save does not lose the tokens in memory", "[unit][oauth]") {
  Fixture f;
  auto broken = std::make_unique<BrokenStore>();
  BrokenStore* store = broken.get();
  OAuthClient client(Fixture::settings(), f.transport, f.clock, std::move(broken));
  const auto flow = client.begin_login();
  f.set_respond([](const HttpRequest&) { return grant("A1", "R1"); });
  REQUIRE(str(client.exchange_code("c#" + flow.state, "a@example.com")) == "a@example.com");
  CHECK(store->saves == 1);
  CHECK(str(client.access_token("a@example.com")) == "A1");
  CHECK_THAT(client.status().at(0).last_error, Catch::Contains("tokens not saved"));

  f.set_respond([](const HttpRequest&) { return grant("A2", "R2"); });
  f.clock.advance(3600s);
  CHECK(str(client.access_token("a@example.com")) == "A2");
  CHECK(store->saves == 2);
  f.clock.advance(3600s);
  f.set_respond([](const HttpRequest&) { return grant("A3", "R3"); });
  CHECK(str(client.access_token("a@example.com")) == "A3");
  CHECK(body_of(f.transport.requests().back()).at("refresh_token") == "R2");
}
