// fake_transport.h — an in-memory HttpTransport whose answers a test scripts.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <balancer/http.h>

namespace balancer::testing {

// What the fake upstream does for one request.
struct FakeResponse {
  int status = 200;
  Headers headers;
  std::vector<std::string> chunks;        // body, delivered one chunk per read()
  std::optional<Error> head_error;        // fail in head() (connection refused, timeout, ...)
  std::optional<Error> error_after_body;  // fail in read() after the chunks (a drop)

  static FakeResponse json(int status, std::string body);
  static FakeResponse sse(std::vector<std::string> events);
  static FakeResponse failure(ErrorCode code, std::string message);
};

// Records every request and answers it with the handler's FakeResponse. Thread-safe; the
// handler may be called from several threads at once.
class FakeTransport final : public HttpTransport {
 public:
  using Handler = std::function<FakeResponse(const HttpRequest&)>;
  explicit FakeTransport(Handler handler);

  std::unique_ptr<UpstreamCall> start(HttpRequest request) override;

  std::vector<HttpRequest> requests() const;
  std::size_t call_count() const;

 private:
  Handler handler_;
  mutable std::mutex mutex_;
  std::vector<HttpRequest> requests_;
};

}  // namespace balancer::testing
