#include <balancer/testing/fake_transport.h>

namespace balancer::testing {
namespace {

// Plays back one FakeResponse. Not thread-safe (like every UpstreamCall).
class FakeCall final : public UpstreamCall {
 public:
  explicit FakeCall(FakeResponse response) : response_(std::move(response)) {}

  Result<HttpResponseHead> head() override {
    if (response_.head_error) {
      return tl::unexpected(*response_.head_error);
    }
    return HttpResponseHead{response_.status, response_.headers};
  }

  Result<bool> read(std::string& chunk) override {
    if (next_ < response_.chunks.size()) {
      chunk = response_.chunks[next_++];
      return true;
    }
    if (response_.error_after_body) {
      return tl::unexpected(*response_.error_after_body);
    }
    return false;
  }

 private:
  FakeResponse response_;
  std::size_t next_ = 0;
};

}  // namespace

FakeResponse FakeResponse::json(int status, std::string body) {
  FakeResponse r;
  r.status = status;
  r.headers = {{"content-type", "application/json"}};
  r.chunks = {std::move(body)};
  return r;
}

FakeResponse FakeResponse::sse(std::vector<std::string> events) {
  FakeResponse r;
  r.headers = {{"content-type", "text/event-stream"}};
  r.chunks = std::move(events);
  return r;
}

FakeResponse FakeResponse::failure(ErrorCode code, std::string message) {
  FakeResponse r;
  r.head_error = Error{code, std::move(message)};
  return r;
}

FakeTransport::FakeTransport(Handler handler) : handler_(std::move(handler)) {}

std::unique_ptr<UpstreamCall> FakeTransport::start(HttpRequest request) {
  {
    std::lock_guard lock(mutex_);
    requests_.push_back(request);
  }
  return std::make_unique<FakeCall>(handler_(request));
}

std::vector<HttpRequest> FakeTransport::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

std::size_t FakeTransport::call_count() const {
  std::lock_guard lock(mutex_);
  return requests_.size();
}

}  // namespace balancer::testing
