// oauth_client.h — Claude subscription accounts (spec §9): PKCE login flows, code exchange,
// refresh with rotated refresh tokens (one refresh in flight per account), backoff when the
// token endpoint refuses or fails, and the persistent token store.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <balancer/clock.h>
#include <balancer/config.h>
#include <balancer/error.h>
#include <balancer/http.h>

namespace balancer {

// base64url (RFC 4648 §5) without padding.
std::string base64url(std::string_view bytes);
// The PKCE S256 code challenge of `verifier`: base64url(SHA-256(verifier)) without padding
// (RFC 7636 §4.2); empty when SHA-256 failed (OpenSSL had no memory).
std::string pkce_challenge_s256(std::string_view verifier);
// `bytes` random bytes from OpenSSL's CSPRNG, base64url-encoded (32 bytes → 43 characters).
// Never throws. Errors: Internal (more than kMaxRandomUrlTokenBytes, the CSPRNG failed, no
// memory).
inline constexpr std::size_t kMaxRandomUrlTokenBytes = 1u << 16;
Result<std::string> random_url_token(std::size_t bytes = 32) noexcept;

// The anthropic-beta value a request made with an OAuth access token must carry.
inline constexpr std::string_view kOAuthBeta = "oauth-2025-04-20";

// One stored account. Value type. Holds secrets: never log, print or serialise it anywhere but
// the token store.
struct OAuthToken {
  std::string account_email;  // the account's identity (lower-cased)
  std::string access_token;
  std::string refresh_token;  // empty when the endpoint gave none
  WallTime expires_at{};
  std::vector<std::string> scopes;
  WallTime created_at{};
  std::optional<WallTime> last_refresh;
  bool needs_login = false;  // the refresh token was refused (invalid_grant): log in again
};

// Where tokens persist. Implementations are called by OAuthClient with its store mutex held,
// so one call at a time.
class TokenStore {
 public:
  virtual ~TokenStore() = default;
  // Every stored account; an absent store is empty, not an error.
  virtual Result<std::vector<OAuthToken>> load() = 0;
  // Replaces the whole store.
  virtual Result<void> save(const std::vector<OAuthToken>& tokens) = 0;
};

// A JSON file written atomically (temporary file in the same directory with mode 0600, fsync,
// rename, fsync of the directory); missing parent directories are created with mode 0700.
std::unique_ptr<TokenStore> make_file_token_store(std::string path);

// Kept in memory only, for embedders and tests that must not touch the disk (tokens are lost
// with the store). Starts empty.
std::unique_ptr<TokenStore> make_memory_token_store();

// One login in progress, as handed to the user. `state` identifies the flow.
struct LoginFlow {
  std::string url;  // the authorize URL to open in a browser
  std::string state;
  WallTime expires_at{};
  std::string account_email;  // when the flow was started for a named account
};

// What /oauth/status shows of one account. Contains no token material.
struct OAuthAccountStatus {
  std::string account_email;
  WallTime expires_at{};
  double expires_in_s = 0;  // negative once expired
  std::string state;        // "valid" | "expiring" (within the refresh skew) | "expired" | "needs_login"
  bool has_refresh_token = false;
  bool refresh_in_flight = false;
  double backoff_remaining_s = 0;  // > 0 while the token endpoint is being left alone
  std::string last_error;          // of the last refresh; never contains token characters
  std::optional<WallTime> last_refresh;
  std::uint64_t requests = 0;  // access tokens handed out since start
  std::optional<WallTime> last_used;
  std::vector<std::string> scopes;
};

// OAuth flows and tokens of every account. Thread-safe: any number of threads may call any
// method. Requests that need an account's token while its refresh is in flight wait for that
// refresh and use its result; they never start a second one (refresh tokens are single-use).
// The store is written only after an exchange, a refresh or a removal, never on the request
// path otherwise. `transport` and `clock` must outlive the client.
class OAuthClient {
 public:
  // Login flows stay valid this long.
  static constexpr std::chrono::minutes kFlowLifetime{10};
  // First backoff after a failed refresh (doubled per consecutive failure, at most kMaxBackoff),
  // unless the endpoint sent Retry-After.
  static constexpr std::chrono::seconds kFirstBackoff{30};
  static constexpr std::chrono::seconds kMaxBackoff{900};

  OAuthClient(OAuthSettings settings, HttpTransport& transport, const Clock& clock, std::unique_ptr<TokenStore> store);
  ~OAuthClient();
  OAuthClient(const OAuthClient&) = delete;
  OAuthClient& operator=(const OAuthClient&) = delete;

  // Reads the store (at start). Errors: Internal naming the file when it is unreadable or
  // malformed (the client then starts empty).
  Result<void> load();
  // A config reload: endpoints, client id, scopes, skew and proxy apply from now on.
  void set_settings(OAuthSettings settings);

  // Starts a login: a fresh PKCE verifier and state, kept for kFlowLifetime. Any number of
  // flows may be pending at once. `account_email` (optional) names the account the resulting
  // tokens belong to. Throws std::runtime_error when no random bytes could be had for the
  // verifier and state (the CSPRNG failed, see random_url_token) or the challenge failed.
  LoginFlow begin_login(std::string account_email = {});

  // Exchanges an authorization code for tokens and stores them under the account's email,
  // replacing an earlier entry of that account. `code` may be pasted as "code#state"; `state`
  // may also come separately (the callback). Without any state the only pending flow is used.
  // The email is `account_email`, else the flow's, else the one the token endpoint reports.
  // Returns the account email. Errors: InvalidRequest (unknown or expired state, several
  // pending flows and no state, no email, the endpoint refused the code), UpstreamConnect /
  // UpstreamTimeout / UpstreamProtocol (the token endpoint failed).
  Result<std::string> exchange_code(std::string_view code, std::string_view account_email, std::string_view state = {});

  // The account's access token, refreshed first when the token is within the refresh skew of
  // its expiry (at exactly expires_at - skew it refreshes). If the refresh fails while the old
  // token has not expired yet, the old token is returned. Errors: NotFound (no such account),
  // Unauthorized (the account needs a login), UpstreamTimeout / UpstreamConnect /
  // UpstreamProtocol (expired and the refresh failed or is backing off).
  Result<std::string> access_token(std::string_view account_email);

  // After the upstream refused `rejected` with 401: refreshes the account once — unless its
  // token is no longer `rejected` (another request already refreshed it) — and returns the
  // current token. Same errors as access_token().
  Result<std::string> refresh_after_rejection(std::string_view account_email, std::string_view rejected);

  // Refreshes now (POST /oauth/refresh/{email}), joining a refresh already in flight.
  Result<void> refresh(std::string_view account_email);

  // Refreshes, one after the other on the calling thread, every account whose token is within
  // the refresh skew of its expiry (or expired) and that has a refresh token, needs no login, is
  // not backing off and has no refresh in flight — so idle accounts stay fresh and requests
  // rarely wait for a refresh. Returns each account it tried with the outcome. For a periodic
  // background caller; safe beside requests (the same single flight per account).
  std::vector<std::pair<std::string, Result<void>>> refresh_due();

  // Removes one account (false when unknown) or all; persisted at once.
  bool remove(std::string_view account_email);
  void remove_all();

  // Emails of accounts that can serve requests (stored and not needing a login), sorted.
  std::vector<std::string> usable_accounts() const;
  std::vector<OAuthAccountStatus> status() const;
  std::size_t pending_flows() const;

 private:
  struct Account;
  struct Flow;
  struct RefreshFlight;
  enum class Trigger { Skew, Rejected, Manual, Ahead };
  Result<std::string> obtain(std::string_view account_email, Trigger trigger, std::string_view rejected);
  Result<void> persist();

  const Clock& clock_;
  HttpTransport& transport_;
  std::unique_ptr<TokenStore> store_;

  mutable std::mutex mutex_;
  std::condition_variable refreshed_;                                      // a refresh flight ended
  OAuthSettings settings_;                                                 // guarded by mutex_
  std::map<std::string, std::unique_ptr<Account>, std::less<>> accounts_;  // by email; mutex_
  std::map<std::string, std::unique_ptr<Flow>, std::less<>> flows_;        // by state; mutex_
  std::mutex store_mutex_;  // one store write at a time; taken before mutex_, never after
  // Why the store must not be written (it failed to load); guarded by store_mutex_.
  std::string store_refused_;
};

}  // namespace balancer
