// curl_transport.cpp — the production HttpTransport on libcurl's multi interface, driven in pull
// style by the thread that reads the response (no background threads).
#include <balancer/curl_transport.h>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <array>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/text.h"
#include "transport/curl_handle.h"

namespace balancer {
namespace {

using SteadyClock = std::chrono::steady_clock;
using detail::CurlEasyPtr;
using detail::CurlMultiPtr;
using detail::CurlSharePtr;
using detail::CurlSlist;
using detail::trim;
using std::chrono::milliseconds;

// Above this many buffered-but-unread body bytes the write callback pauses the transfer.
constexpr std::size_t kMaxBufferedBody = 256 * 1024;
// Longest single wait in curl_multi_poll, the time within which a client that went away is
// noticed while the upstream is silent (deadlines are waited for exactly). Before the response
// head (nothing sent to the client yet; a hang-up should free the upstream at once) 250 ms;
// during a body, where a long stream mostly waits, 1 s: every waiting transfer wakes this often,
// and at 5,000 quiet streams 250 ms cost 38 % more CPU (bench/README.md).
constexpr milliseconds kMaxHeadPollWait{250};
constexpr milliseconds kMaxBodyPollWait{1000};
constexpr long kReceiveBufferSize = 64 * 1024;

// The only global mutable state: libcurl's process-wide initialisation, done once.
std::once_flag g_curl_global_once;

void ensure_curl_global_init() {
  std::call_once(g_curl_global_once, [] { (void)curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// "HTTP/1.1 200 OK", "HTTP/2 200", "HTTP/1.0 404" → the status code; 0 when malformed.
int parse_status_line(std::string_view line) {
  if (line.substr(0, 5) != "HTTP/") {
    return 0;
  }
  const auto space = line.find(' ');
  if (space == std::string_view::npos) {
    return 0;
  }
  std::string_view rest = line.substr(space + 1);
  if (rest.size() < 3 || (rest.size() > 3 && rest[3] != ' ')) {
    return 0;
  }
  int status = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    if (rest[i] < '0' || rest[i] > '9') {
      return 0;
    }
    status = status * 10 + (rest[i] - '0');
  }
  return status;
}

bool is_tls_error(CURLcode code) {
  switch (code) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_PEER_FAILED_VERIFICATION:  // also CURLE_SSL_CACERT
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED: return true;
    default: return false;
  }
}

ErrorCode classify(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    // The HTTP/2 form of a connection dropped mid-body ("stream was not closed cleanly").
    case CURLE_HTTP2_STREAM: return ErrorCode::UpstreamConnect;
    case CURLE_OPERATION_TIMEDOUT: return ErrorCode::UpstreamTimeout;
    default: return is_tls_error(code) ? ErrorCode::UpstreamTls : ErrorCode::UpstreamProtocol;
  }
}

// A header line must not smuggle in a second line; the name must be a plain token.
bool header_is_safe(const std::string& name, const std::string& value) {
  if (name.empty()) {
    return false;
  }
  for (const char c : name) {
    if (c == ':' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\0') {
      return false;
    }
  }
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos;
}

// One reusable libcurl session: a multi handle, which owns the connection cache (so warm
// keep-alive connections stay here between requests), and the one easy handle it drives.
// Belongs to one owner at a time — the idle pool, or the CurlCall using it — and is only
// touched by the thread of that owner.
struct CurlSession {
  CurlMultiPtr multi;  // destroyed last: closes the cached connections
  CurlEasyPtr easy;
};

// State shared by the transport and every call it started: options, the CURLSH share handle
// (DNS cache and TLS session IDs, so even a new connection resumes TLS) and the LIFO pool of
// idle sessions. Held through shared_ptr so a call may outlive the transport. Thread-safe:
// acquire()/release() may be called from any thread; the share handle serialises itself
// through lock callbacks.
class CurlShared {
 public:
  explicit CurlShared(const CurlTransportOptions& options) : options_(options) {
    ensure_curl_global_init();
    share_.reset(curl_share_init());
    if (share_) {
      CURLSH* sh = share_.get();
      bool ok = curl_share_setopt(sh, CURLSHOPT_LOCKFUNC, &CurlShared::lock) == CURLSHE_OK &&
                curl_share_setopt(sh, CURLSHOPT_UNLOCKFUNC, &CurlShared::unlock) == CURLSHE_OK &&
                curl_share_setopt(sh, CURLSHOPT_USERDATA, this) == CURLSHE_OK &&
                curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) == CURLSHE_OK;
      // Not CURL_LOCK_DATA_CONNECT: libcurl 7.88 documents sharing connections across threads
      // as unsafe. TLS session sharing is optional (the TLS backend may not support it).
      (void)curl_share_setopt(sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
      if (!ok) {
        share_.reset();  // run without a share handle rather than with a half-configured one
      }
    }
  }

  CurlShared(const CurlShared&) = delete;
  CurlShared& operator=(const CurlShared&) = delete;

  ~CurlShared() {
    // Sessions (easy handles attached to the share) must go before the share handle.
    idle_.clear();
  }

  const CurlTransportOptions& options() const { return options_; }
  CURLSH* share() const { return share_.get(); }

  // The most recently released session (the warmest connections), or a new one; null only
  // when libcurl cannot allocate handles. `reused` tells which.
  std::unique_ptr<CurlSession> acquire(bool& reused) {
    {
      std::lock_guard lock(pool_mutex_);
      if (!idle_.empty()) {
        auto session = std::move(idle_.back());
        idle_.pop_back();
        reused = true;
        return session;
      }
    }
    reused = false;
    auto session = std::make_unique<CurlSession>();
    session->multi.reset(curl_multi_init());
    session->easy.reset(curl_easy_init());
    if (!session->multi || !session->easy) {
      return nullptr;
    }
    return session;
  }

  // Takes back a session whose easy handle is detached from its multi and either reset after a
  // clean transfer or brand new. Beyond max_idle_sessions the session (and its connections) is
  // destroyed, outside the lock.
  void release(std::unique_ptr<CurlSession> session) {
    {
      std::lock_guard lock(pool_mutex_);
      if (idle_.size() < options_.max_idle_sessions) {
        idle_.push_back(std::move(session));
        return;
      }
    }
    session.reset();
  }

 private:
  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* user) {
    auto* self = static_cast<CurlShared*>(user);
    const auto index = static_cast<std::size_t>(data);
    if (index < self->share_locks_.size()) {
      self->share_locks_[index].lock();
    }
  }
  static void unlock(CURL*, curl_lock_data data, void* user) {
    auto* self = static_cast<CurlShared*>(user);
    const auto index = static_cast<std::size_t>(data);
    if (index < self->share_locks_.size()) {
      self->share_locks_[index].unlock();
    }
  }

  const CurlTransportOptions options_;
  std::array<std::mutex, CURL_LOCK_DATA_LAST> share_locks_;  // one per lock_data; outlives share_
  CurlSharePtr share_;
  std::mutex pool_mutex_;
  std::vector<std::unique_ptr<CurlSession>> idle_;  // LIFO; back() is the warmest
};

// One upstream request in flight on a borrowed session. Not thread-safe: one thread at a time
// drives it through head()/read() (the libcurl callbacks run on that thread, inside
// curl_multi_perform or curl_easy_pause). Destruction cancels an unfinished transfer and
// returns the session to the pool.
class CurlCall final : public UpstreamCall {
 public:
  CurlCall(std::shared_ptr<CurlShared> shared, HttpRequest request)
      : shared_(std::move(shared)), request_(std::move(request)), started_(SteadyClock::now()) {
    error_buffer_[0] = '\0';
    bool reused = false;
    session_ = shared_->acquire(reused);
    if (!session_) {
      fail_setup(ErrorCode::Internal, "cannot allocate a libcurl handle");
      return;
    }
    configure();
    if (setup_error_ && setup_error_->code == ErrorCode::Internal && reused) {
      // A pooled easy handle refused an option: whatever state it kept, a new handle on the
      // same connection cache does not have it.
      setup_error_.reset();
      header_list_ = CurlSlist{};
      resolve_list_ = CurlSlist{};
      if (!renew_easy_handle()) {
        fail_setup(ErrorCode::Internal, "cannot allocate a libcurl handle");
        return;
      }
      configure();
    }
    if (setup_error_) {
      return;
    }
    const CURLMcode mc = curl_multi_add_handle(session_->multi.get(), session_->easy.get());
    if (mc != CURLM_OK) {
      fail_setup(ErrorCode::Internal, std::string("cannot start the upstream transfer: ") + curl_multi_strerror(mc));
      return;
    }
    attached_ = true;
  }

  CurlCall(const CurlCall&) = delete;
  CurlCall& operator=(const CurlCall&) = delete;

  ~CurlCall() override {
    if (!session_) {
      return;
    }
    CURL* easy = session_->easy.get();
    if (attached_) {
      // An unfinished HTTP/1 transfer gets its connection closed by libcurl here ("Removed
      // with partial response"); a finished one leaves it in the multi's cache for reuse.
      (void)curl_multi_remove_handle(session_->multi.get(), easy);
    }
    if (attached_ && finished_ && result_ == CURLE_OK && !local_error_) {
      // Forget every option (headers, callbacks, pointers into this object) before pooling.
      curl_easy_reset(easy);
    } else if (!renew_easy_handle()) {
      // After a failed, refused or cancelled transfer the easy handle may keep state that
      // curl_easy_reset does not clear (libcurl 7.88 keeps the receive buffer of a transfer
      // whose name lookup failed, and then refuses CURLOPT_BUFFERSIZE for good). Only the
      // multi handle, with its warm connections, goes back to the pool.
      return;
    }
    shared_->release(std::move(session_));
  }

  Result<HttpResponseHead> head() override {
    if (setup_error_) {
      return tl::unexpected(*setup_error_);
    }
    if (!head_done_) {
      const auto deadline = started_ + request_.header_timeout;
      switch (drive_until([this] { return head_done_; }, deadline, kMaxHeadPollWait)) {
        case Drive::Ready: break;
        case Drive::Finished:
          if (result_ != CURLE_OK) {
            return transfer_error();
          }
          if (!head_done_) {
            return make_error(ErrorCode::UpstreamProtocol, "upstream transfer ended without a response head");
          }
          break;
        case Drive::TimedOut:
          return make_error(ErrorCode::UpstreamTimeout, "no response headers from upstream within " +
                                                            std::to_string(request_.header_timeout.count()) + " ms");
        case Drive::Failed: return tl::unexpected(*local_error_);
      }
    }
    return HttpResponseHead{status_, headers_};
  }

  Result<bool> read(std::string& chunk) override { return read_for(chunk, request_.idle_timeout); }

  Result<bool> read_for(std::string& chunk, milliseconds longest) override {
    const milliseconds wait = std::min(longest, request_.idle_timeout);
    chunk.clear();
    if (setup_error_) {
      return tl::unexpected(*setup_error_);
    }
    if (!body_.empty()) {
      hand_out(chunk);
      return true;
    }
    if (local_error_) {
      return tl::unexpected(*local_error_);
    }
    const auto deadline = SteadyClock::now() + wait;
    switch (drive_until([this] { return !body_.empty(); }, deadline, kMaxBodyPollWait)) {
      case Drive::Ready: hand_out(chunk); return true;
      case Drive::Finished:
        if (result_ != CURLE_OK) {
          return transfer_error();
        }
        return false;
      case Drive::TimedOut:
        return make_error(ErrorCode::UpstreamTimeout,
                          "no response body bytes from upstream for " + std::to_string(wait.count()) + " ms");
      case Drive::Failed: break;
    }
    return tl::unexpected(*local_error_);
  }

 private:
  enum class Drive { Ready, Finished, TimedOut, Failed };

  // Replaces the session's easy handle with a new one (the multi handle and its connection
  // cache stay). False when libcurl cannot allocate one.
  bool renew_easy_handle() {
    session_->easy.reset(curl_easy_init());
    return session_->easy != nullptr;
  }

  void fail_setup(ErrorCode code, std::string message) {
    if (!setup_error_) {
      setup_error_ = Error{code, std::move(message)};
    }
  }

  template <class T>
  void set(CURLoption option, T value) {
    if (setup_error_) {
      return;
    }
    const CURLcode rc = curl_easy_setopt(session_->easy.get(), option, value);
    if (rc != CURLE_OK) {
      fail_setup(ErrorCode::Internal, std::string("cannot configure the upstream request: ") + curl_easy_strerror(rc));
    }
  }

  void configure() {
    const CurlTransportOptions& options = shared_->options();

    if (shared_->share() != nullptr) {
      set(CURLOPT_SHARE, shared_->share());
    }
    set(CURLOPT_URL, request_.url.c_str());
    if (options.resolve) {
      for (const std::string& line : options.resolve->curl_resolve_lines()) {
        if (!resolve_list_.append(line.c_str())) {
          fail_setup(ErrorCode::Internal, "out of memory building the upstream resolve list");
          return;
        }
      }
      set(CURLOPT_RESOLVE, resolve_list_.get());
    }
    set(CURLOPT_PROTOCOLS_STR, "http,https");
    set(CURLOPT_NOSIGNAL, 1L);
    set(CURLOPT_TCP_NODELAY, 1L);
    set(CURLOPT_TCP_KEEPALIVE, 1L);
    set(CURLOPT_FOLLOWLOCATION, 0L);
    set(CURLOPT_TIMEOUT_MS, 0L);  // no total timeout: streams may run for many minutes
    set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(request_.connect_timeout.count()));
    set(CURLOPT_BUFFERSIZE, kReceiveBufferSize);
    set(CURLOPT_SSL_VERIFYPEER, options.verify_tls ? 1L : 0L);
    set(CURLOPT_SSL_VERIFYHOST, options.verify_tls ? 2L : 0L);
    // "" disables proxies from the environment (http_proxy etc.): empty means direct.
    set(CURLOPT_PROXY, request_.proxy.c_str());
    if (!request_.proxy.empty()) {
      set(CURLOPT_PROXY_SSL_VERIFYPEER, options.verify_tls ? 1L : 0L);
      set(CURLOPT_PROXY_SSL_VERIFYHOST, options.verify_tls ? 2L : 0L);
      // Keep a CONNECT tunnel's "200 Connection established" away from the header callback.
      set(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    }
    // CURLOPT_ACCEPT_ENCODING stays unset: no Accept-Encoding of our own and no decoding, so
    // body bytes are relayed exactly as the upstream sent them.

    set(CURLOPT_ERRORBUFFER, error_buffer_.data());
    // Our own socket(): libcurl reports one that failed with EMFILE as "Couldn't connect to
    // server", which must not pass for the provider refusing the connection.
    set(CURLOPT_OPENSOCKETFUNCTION, &CurlCall::open_socket);
    set(CURLOPT_OPENSOCKETDATA, this);
    set(CURLOPT_HEADERFUNCTION, &CurlCall::on_header);
    set(CURLOPT_HEADERDATA, this);
    set(CURLOPT_WRITEFUNCTION, &CurlCall::on_write);
    set(CURLOPT_WRITEDATA, this);

    if (request_.method == "GET" && request_.body.empty()) {
      set(CURLOPT_HTTPGET, 1L);
    } else if (request_.method == "HEAD" && request_.body.empty()) {
      set(CURLOPT_NOBODY, 1L);
    } else {
      if (request_.method != "POST") {
        set(CURLOPT_CUSTOMREQUEST, request_.method.c_str());
      }
      if (request_.method == "POST" || !request_.body.empty()) {
        // POSTFIELDS makes curl send this buffer (kept alive by this object) as the body.
        set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request_.body.size()));
        set(CURLOPT_POSTFIELDS, request_.body.data());
      }
    }

    bool has_content_type = false;
    bool has_accept = false;
    std::string line;
    for (const auto& [name, value] : request_.headers) {
      if (!header_is_safe(name, value)) {
        fail_setup(ErrorCode::InvalidRequest,
                   "an upstream request header has an invalid name or a line break in its value");
        return;
      }
      has_content_type = has_content_type || iequals(name, "Content-Type");
      has_accept = has_accept || iequals(name, "Accept");
      // "Name;" is curl's spelling of a header with an empty value ("Name:" would delete it).
      line.assign(name);
      if (value.empty()) {
        line += ';';
      } else {
        line += ": ";
        line += value;
      }
      if (!header_list_.append(line.c_str())) {
        fail_setup(ErrorCode::Internal, "out of memory building upstream request headers");
        return;
      }
    }
    // Suppress headers curl would otherwise invent: "Expect: 100-continue" for large bodies,
    // "Content-Type: application/x-www-form-urlencoded" for POSTFIELDS, "Accept: */*".
    bool ok = header_list_.append("Expect:");
    if (!has_content_type) {
      ok = ok && header_list_.append("Content-Type:");
    }
    if (!has_accept) {
      ok = ok && header_list_.append("Accept:");
    }
    if (!ok) {
      fail_setup(ErrorCode::Internal, "out of memory building upstream request headers");
      return;
    }
    set(CURLOPT_HTTPHEADER, header_list_.get());
  }

  // Runs libcurl until `ready()` holds, the transfer finished, `deadline` passed, or the multi
  // interface itself failed or the client went away (then local_error_ is set). Never blocks
  // longer than `max_wait` without re-checking.
  template <class Ready>
  Drive drive_until(Ready ready, SteadyClock::time_point deadline, milliseconds max_wait) {
    CURLM* multi = session_->multi.get();
    for (;;) {
      if (ready()) {
        return Drive::Ready;
      }
      if (finished_) {
        return Drive::Finished;
      }
      if (local_error_) {
        return Drive::Failed;
      }
      int running = 0;
      CURLMcode mc = curl_multi_perform(multi, &running);
      if (mc != CURLM_OK) {
        local_error_ =
            Error{ErrorCode::Internal, std::string("libcurl multi interface failed: ") + curl_multi_strerror(mc)};
        return Drive::Failed;
      }
      collect_completion();
      if (ready()) {
        return Drive::Ready;
      }
      if (finished_) {
        return Drive::Finished;
      }
      const auto now = SteadyClock::now();
      if (now >= deadline) {
        return Drive::TimedOut;
      }
      if (request_.cancelled && request_.cancelled()) {
        // Checked only when about to wait: never costs a ready transfer anything.
        local_error_ = Error{ErrorCode::Cancelled, "the client went away"};
        return Drive::Failed;
      }
      const auto left = std::chrono::ceil<milliseconds>(deadline - now);
      const auto wait = std::clamp(left, milliseconds(1), max_wait);
      mc = curl_multi_poll(multi, nullptr, 0, static_cast<int>(wait.count()), nullptr);
      if (mc != CURLM_OK) {
        local_error_ =
            Error{ErrorCode::Internal, std::string("libcurl multi interface failed: ") + curl_multi_strerror(mc)};
        return Drive::Failed;
      }
    }
  }

  void collect_completion() {
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(session_->multi.get(), &queued)) {
      if (msg->msg == CURLMSG_DONE && msg->easy_handle == session_->easy.get()) {
        finished_ = true;
        result_ = msg->data.result;
      }
    }
  }

  // Moves the buffered body into `chunk`, then lets a paused transfer continue. Unpausing may
  // synchronously re-deliver the data the write callback refused, into the now-empty buffer.
  void hand_out(std::string& chunk) {
    chunk.swap(body_);
    body_.clear();
    if (paused_) {
      paused_ = false;
      const CURLcode rc = curl_easy_pause(session_->easy.get(), CURLPAUSE_CONT);
      if (rc != CURLE_OK && !finished_) {
        local_error_ =
            Error{classify(rc), std::string("upstream transfer failed to resume: ") + curl_easy_strerror(rc)};
      }
    }
  }

  tl::unexpected<Error> transfer_error() const {
    std::string detail =
        error_buffer_[0] != '\0' ? std::string(error_buffer_.data()) : std::string(curl_easy_strerror(result_));
    if (out_of_descriptors_) {
      // The balancer's shortage, not the provider's failure: never a health penalty.
      return make_error(ErrorCode::Internal,
                        "upstream transfer failed: the balancer has no file descriptor left for the connection "
                        "(raise its open-file limit)");
    }
    return make_error(classify(result_), "upstream transfer failed: " + detail);
  }

  static curl_socket_t open_socket(void* user, curlsocktype /*purpose*/, curl_sockaddr* address) {
    auto* self = static_cast<CurlCall*>(user);
    const curl_socket_t fd = ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
    if (fd == CURL_SOCKET_BAD && (errno == EMFILE || errno == ENFILE)) {
      self->out_of_descriptors_ = true;
    }
    return fd;
  }

  static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
    auto* self = static_cast<CurlCall*>(user);
    const std::size_t length = size * count;
    self->take_header_line(std::string_view(data, length));
    return length;
  }

  void take_header_line(std::string_view raw) {
    if (head_done_) {
      return;  // trailers after a chunked body: not part of the head
    }
    if (raw.substr(0, 5) == "HTTP/") {
      // A new header block: an interim 1xx response is replaced by the next one.
      status_ = parse_status_line(trim(raw));
      headers_.clear();
      return;
    }
    const std::string_view line = trim(raw);
    if (line.empty()) {
      if (status_ == 0) {
        long code = 0;
        curl_easy_getinfo(session_->easy.get(), CURLINFO_RESPONSE_CODE, &code);
        status_ = static_cast<int>(code);
      }
      if (status_ >= 200) {
        head_done_ = true;
      }
      return;
    }
    if ((raw.front() == ' ' || raw.front() == '\t') && !headers_.empty()) {
      headers_.back().second += ' ';  // obsolete line folding
      headers_.back().second += line;
      return;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) {
      return;
    }
    headers_.emplace_back(std::string(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1))));
  }

  static std::size_t on_write(char* data, std::size_t size, std::size_t count, void* user) {
    auto* self = static_cast<CurlCall*>(user);
    const std::size_t length = size * count;
    if (!self->body_.empty() && self->body_.size() + length > kMaxBufferedBody) {
      // libcurl keeps these bytes and delivers them again after CURLPAUSE_CONT.
      self->paused_ = true;
      return CURL_WRITEFUNC_PAUSE;
    }
    self->body_.append(data, length);
    return length;
  }

  std::shared_ptr<CurlShared> shared_;  // declared first: outlives session_
  HttpRequest request_;                 // its body is the POSTFIELDS buffer
  SteadyClock::time_point started_;
  std::unique_ptr<CurlSession> session_;
  CurlSlist header_list_;
  CurlSlist resolve_list_;  // CURLOPT_RESOLVE lines from options().resolve
  std::array<char, CURL_ERROR_SIZE> error_buffer_{};
  bool out_of_descriptors_ = false;  // a socket() for this transfer failed with EMFILE/ENFILE
  std::optional<Error> setup_error_;
  std::optional<Error> local_error_;
  bool attached_ = false;

  // Filled by the callbacks.
  int status_ = 0;
  Headers headers_;
  bool head_done_ = false;
  std::string body_;
  bool paused_ = false;

  bool finished_ = false;
  CURLcode result_ = CURLE_OK;
};

// The HttpTransport handed out by make_curl_transport. Thread-safe: start() may be called from
// any number of threads at once.
class CurlTransport final : public HttpTransport {
 public:
  explicit CurlTransport(const CurlTransportOptions& options) : shared_(std::make_shared<CurlShared>(options)) {}

  std::unique_ptr<UpstreamCall> start(HttpRequest request) override {
    return std::make_unique<CurlCall>(shared_, std::move(request));
  }

 private:
  std::shared_ptr<CurlShared> shared_;
};

}  // namespace

std::unique_ptr<HttpTransport> make_curl_transport(const CurlTransportOptions& options) {
  return std::make_unique<CurlTransport>(options);
}

}  // namespace balancer
