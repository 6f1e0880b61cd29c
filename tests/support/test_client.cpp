#include "test_client.h"

#include <curl/curl.h>

#include <memory>
#include <mutex>
#include <stdexcept>

namespace balancer::test {
namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return std::string(s);
}

// One transfer: the easy handle, its header list and the response being filled in.
class Transfer {
 public:
  explicit Transfer(const ClientRequest& request) : request_(request), easy_(curl_easy_init()) {
    if (easy_ == nullptr) {
      throw std::runtime_error("curl_easy_init failed");
    }
    for (const auto& [name, value] : request.headers) {
      const std::string line = value.empty() ? name + ":" : name + ": " + value;
      header_list_ = curl_slist_append(header_list_, line.c_str());
    }
    curl_easy_setopt(easy_, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy_, CURLOPT_HTTPHEADER, header_list_);
    curl_easy_setopt(easy_, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
    curl_easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT_MS, 10'000L);
    curl_easy_setopt(easy_, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, error_);
    if (request.method == "GET") {
      curl_easy_setopt(easy_, CURLOPT_HTTPGET, 1L);
    } else {
      if (request.method != "POST") {
        curl_easy_setopt(easy_, CURLOPT_CUSTOMREQUEST, request.method.c_str());
      }
      if (request.method == "POST" || !request.body.empty()) {
        curl_easy_setopt(easy_, CURLOPT_POST, 1L);
        curl_easy_setopt(easy_, CURLOPT_POSTFIELDS, request.body.data());
        curl_easy_setopt(easy_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
      }
    }
    curl_easy_setopt(easy_, CURLOPT_HEADERFUNCTION, &Transfer::on_header);
    curl_easy_setopt(easy_, CURLOPT_HEADERDATA, this);
    curl_easy_setopt(easy_, CURLOPT_WRITEFUNCTION, &Transfer::on_body);
    curl_easy_setopt(easy_, CURLOPT_WRITEDATA, this);
  }
  ~Transfer() {
    curl_easy_cleanup(easy_);
    curl_slist_free_all(header_list_);
  }
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;

  CURL* easy() { return easy_; }
  void start() { response_.started = SteadyClock::now(); }
  ClientResponse finish(CURLcode code) {
    response_.finished = SteadyClock::now();
    response_.curl_code = static_cast<int>(code);
    curl_off_t uploaded = 0;
    curl_easy_getinfo(easy_, CURLINFO_SIZE_UPLOAD_T, &uploaded);
    response_.uploaded_bytes = static_cast<std::size_t>(uploaded);
    if (code != CURLE_OK) {
      response_.error = error_[0] != '\0' ? std::string(error_) : curl_easy_strerror(code);
    }
    return std::move(response_);
  }

 private:
  static std::size_t on_header(char* data, std::size_t size, std::size_t count, void* self_ptr) {
    auto* self = static_cast<Transfer*>(self_ptr);
    const std::string_view line(data, size * count);
    if (line.rfind("HTTP/", 0) == 0) {
      // A new status line (after a 100 Continue, say): start over.
      self->response_.headers.clear();
      const auto space = line.find(' ');
      self->response_.status = space == std::string_view::npos ? 0 : std::strtol(line.data() + space + 1, nullptr, 10);
    } else if (const auto colon = line.find(':'); colon != std::string_view::npos) {
      self->response_.headers.emplace_back(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
    }
    return size * count;
  }

  static std::size_t on_body(char* data, std::size_t size, std::size_t count, void* self_ptr) {
    auto* self = static_cast<Transfer*>(self_ptr);
    const std::size_t n = size * count;
    self->response_.body.append(data, n);
    self->response_.chunks.push_back({std::string(data, n), SteadyClock::now()});
    if (self->request_.abort_after_bytes && self->response_.body.size() >= *self->request_.abort_after_bytes) {
      return 0;  // CURLE_WRITE_ERROR: the client hangs up
    }
    return n;
  }

  const ClientRequest& request_;
  CURL* easy_;
  curl_slist* header_list_ = nullptr;
  char error_[CURL_ERROR_SIZE] = {};
  ClientResponse response_;
};

}  // namespace

ClientResponse perform(const ClientRequest& request) {
  global_init();
  Transfer transfer(request);
  transfer.start();
  const CURLcode code = curl_easy_perform(transfer.easy());
  return transfer.finish(code);
}

std::vector<ClientResponse> perform_all(const std::vector<ClientRequest>& requests) {
  global_init();
  CURLM* multi = curl_multi_init();
  std::vector<std::unique_ptr<Transfer>> transfers;
  transfers.reserve(requests.size());
  std::vector<ClientResponse> responses(requests.size());
  for (const ClientRequest& request : requests) {
    transfers.push_back(std::make_unique<Transfer>(request));
    curl_easy_setopt(transfers.back()->easy(), CURLOPT_PRIVATE, reinterpret_cast<char*>(transfers.size() - 1));
    transfers.back()->start();
    curl_multi_add_handle(multi, transfers.back()->easy());
  }
  int running = static_cast<int>(requests.size());
  while (running > 0) {
    if (curl_multi_perform(multi, &running) != CURLM_OK) {
      break;
    }
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg != CURLMSG_DONE) {
        continue;
      }
      char* index_ptr = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &index_ptr);
      const auto index = reinterpret_cast<std::size_t>(index_ptr);
      responses[index] = transfers[index]->finish(msg->data.result);
      curl_multi_remove_handle(multi, msg->easy_handle);
    }
    if (running > 0) {
      curl_multi_poll(multi, nullptr, 0, 100, nullptr);
    }
  }
  int queued = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
    if (msg->msg == CURLMSG_DONE) {
      char* index_ptr = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &index_ptr);
      const auto index = reinterpret_cast<std::size_t>(index_ptr);
      responses[index] = transfers[index]->finish(msg->data.result);
      curl_multi_remove_handle(multi, msg->easy_handle);
    }
  }
  transfers.clear();
  curl_multi_cleanup(multi);
  return responses;
}

ClientResponse post(const std::string& url, std::string body, HeaderList headers) {
  ClientRequest request;
  request.url = url;
  request.body = std::move(body);
  request.headers = std::move(headers);
  return perform(request);
}

ClientResponse get(const std::string& url, HeaderList headers) {
  ClientRequest request;
  request.method = "GET";
  request.url = url;
  request.headers = std::move(headers);
  return perform(request);
}

}  // namespace balancer::test
