// oauth_token_store.cpp — the file TokenStore (spec §9): every OAuth account as one JSON document,
// {"version": 1, "tokens": [{account_email, access_token, refresh_token, expires_at, created_at,
// last_refresh?, scopes, needs_login}]} with times in unix seconds. Written atomically (a 0600
// temporary file beside it, fsync, rename, fsync of the directory); missing parent directories
// are created 0700. Not thread-safe by itself: OAuthClient calls it under its store mutex, one
// call at a time. Error messages name the file, never its content.
#include <balancer/oauth_client.h>

#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

namespace balancer {
namespace {

using nlohmann::json;

constexpr int kVersion = 1;
constexpr std::size_t kMaxFileSize = 16u << 20;
// Unix seconds accepted on load: 1970 up to 2255 (inside system_clock's nanosecond range).
constexpr std::int64_t kMaxUnixSeconds = 9'000'000'000;

std::string errno_text(int err) { return std::generic_category().message(err); }

tl::unexpected<Error> store_error(const std::string& path, std::string_view what) {
  return make_error(ErrorCode::Internal, "token store " + path + ": " + std::string(what));
}

std::int64_t to_unix(WallTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::optional<WallTime> from_unix(const json& value) {
  if (!value.is_number_integer()) {
    return std::nullopt;
  }
  const auto n = value.get<std::int64_t>();
  if (n < 0 || n > kMaxUnixSeconds) {
    return std::nullopt;
  }
  return WallTime(std::chrono::duration_cast<WallTime::duration>(std::chrono::seconds(n)));
}

json to_json(const OAuthToken& t) {
  json entry = {
      {"account_email", t.account_email},    {"access_token", t.access_token},      {"refresh_token", t.refresh_token},
      {"expires_at", to_unix(t.expires_at)}, {"created_at", to_unix(t.created_at)}, {"scopes", t.scopes},
      {"needs_login", t.needs_login},
  };
  if (t.last_refresh) {
    entry["last_refresh"] = to_unix(*t.last_refresh);
  }
  return entry;
}

// One stored entry; nullopt when a field it cannot do without is missing or mistyped.
std::optional<OAuthToken> from_json(const json& entry) {
  if (!entry.is_object()) {
    return std::nullopt;
  }
  const auto string_field = [&](const char* key) -> std::optional<std::string> {
    const auto it = entry.find(key);
    if (it == entry.end() || !it->is_string()) {
      return std::nullopt;
    }
    return it->get<std::string>();
  };
  OAuthToken t;
  auto email = string_field("account_email");
  auto access = string_field("access_token");
  if (!email || !access) {
    return std::nullopt;
  }
  t.account_email = normalize_account_email(*email);
  if (t.account_email.empty()) {
    return std::nullopt;
  }
  t.access_token = std::move(*access);
  t.refresh_token = string_field("refresh_token").value_or("");
  const auto expires = entry.find("expires_at");
  if (expires == entry.end()) {
    return std::nullopt;
  }
  auto expires_at = from_unix(*expires);
  if (!expires_at) {
    return std::nullopt;
  }
  t.expires_at = *expires_at;
  if (const auto it = entry.find("created_at"); it != entry.end()) {
    t.created_at = from_unix(*it).value_or(WallTime{});
  }
  if (const auto it = entry.find("last_refresh"); it != entry.end()) {
    t.last_refresh = from_unix(*it);
  }
  if (const auto it = entry.find("scopes"); it != entry.end() && it->is_array()) {
    for (const auto& scope : *it) {
      if (scope.is_string()) {
        t.scopes.push_back(scope.get<std::string>());
      }
    }
  }
  if (const auto it = entry.find("needs_login"); it != entry.end() && it->is_boolean()) {
    t.needs_login = it->get<bool>();
  }
  // A token nobody can use or refresh is a login that has to be redone.
  if (t.access_token.empty() && t.refresh_token.empty()) {
    t.needs_login = true;
  }
  return t;
}

// Creates every missing directory of `dir` with mode 0700 (existing ones are left alone).
Result<void> make_parents(const std::filesystem::path& dir, const std::string& path) {
  if (dir.empty()) {
    return {};
  }
  std::filesystem::path partial;
  for (const auto& part : dir) {
    partial /= part;
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      return store_error(path, "cannot create directory " + partial.string() + ": " + errno_text(errno));
    }
  }
  return {};
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

class FileTokenStore final : public TokenStore {
 public:
  explicit FileTokenStore(std::string path) : path_(std::move(path)) {}

  Result<std::vector<OAuthToken>> load() override {
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) {
        return std::vector<OAuthToken>{};
      }
      return store_error(path_, "cannot open: " + errno_text(errno));
    }
    std::string text;
    char buffer[16384];
    for (;;) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        const int err = errno;
        ::close(fd);
        return store_error(path_, "cannot read: " + errno_text(err));
      }
      if (n == 0) {
        break;
      }
      text.append(buffer, static_cast<std::size_t>(n));
      if (text.size() > kMaxFileSize) {
        ::close(fd);
        return store_error(path_, "larger than 16 MiB");
      }
    }
    ::close(fd);
    return parse(text);
  }

  Result<void> save(const std::vector<OAuthToken>& tokens) override {
    json list = json::array();
    for (const auto& t : tokens) {
      list.push_back(to_json(t));
    }
    const json doc = {{"version", kVersion}, {"tokens", std::move(list)}};
    const std::string text = doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n";

    const std::filesystem::path target(path_);
    const std::filesystem::path dir = target.parent_path();
    if (auto made = make_parents(dir, path_); !made) {
      return made;
    }
    auto suffix = random_url_token(9);
    if (!suffix) {
      return store_error(path_, "cannot name a temporary file: " + suffix.error().message);
    }
    const std::string temp = path_ + ".tmp." + *suffix;
    const int fd = ::open(temp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) {
      return store_error(path_, "cannot create a temporary file: " + errno_text(errno));
    }
    const auto fail = [&](std::string_view step, int err, bool close_fd) {
      if (close_fd) {
        ::close(fd);
      }
      ::unlink(temp.c_str());
      return store_error(path_, std::string(step) + ": " + errno_text(err));
    };
    if (::fchmod(fd, 0600) != 0) {
      return fail("cannot set mode 0600", errno, true);
    }
    if (!write_all(fd, text)) {
      return fail("cannot write", errno, true);
    }
    if (::fsync(fd) != 0) {
      return fail("cannot fsync", errno, true);
    }
    if (::close(fd) != 0) {
      return fail("cannot close", errno, false);
    }
    if (::rename(temp.c_str(), path_.c_str()) != 0) {
      return fail("cannot rename the temporary file over it", errno, false);
    }
    const std::string dir_name = dir.empty() ? std::string(".") : dir.string();
    const int dir_fd = ::open(dir_name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) {
      return store_error(path_, "cannot open its directory to fsync: " + errno_text(errno));
    }
    const int synced = ::fsync(dir_fd);
    const int err = errno;
    ::close(dir_fd);
    if (synced != 0) {
      return store_error(path_, "cannot fsync its directory: " + errno_text(err));
    }
    return {};
  }

 private:
  Result<std::vector<OAuthToken>> parse(std::string_view text) const {
    const json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object()) {
      return store_error(path_, "malformed (not a JSON object)");
    }
    const auto version = doc.find("version");
    if (version == doc.end() || !version->is_number_integer() || version->get<std::int64_t>() != kVersion) {
      return store_error(path_, "malformed (version is not 1)");
    }
    const auto tokens = doc.find("tokens");
    if (tokens == doc.end() || !tokens->is_array()) {
      return store_error(path_, "malformed (no tokens list)");
    }
    std::vector<OAuthToken> out;
    for (const auto& entry : *tokens) {
      if (auto token = from_json(entry)) {
        out.push_back(std::move(*token));
      }
    }
    return out;
  }

  std::string path_;
};

}  // namespace

std::unique_ptr<TokenStore> make_file_token_store(std::string path) {
  return std::make_unique<FileTokenStore>(std::move(path));
}

namespace {

class MemoryTokenStore final : public TokenStore {
 public:
  Result<std::vector<OAuthToken>> load() override { return tokens_; }
  Result<void> save(const std::vector<OAuthToken>& tokens) override {
    tokens_ = tokens;
    return {};
  }

 private:
  std::vector<OAuthToken> tokens_;  // OAuthClient calls one at a time (its store mutex)
};

}  // namespace

std::unique_ptr<TokenStore> make_memory_token_store() { return std::make_unique<MemoryTokenStore>(); }

}  // namespace balancer
