// curl_handle.h — RAII owners for raw libcurl handles (private to curl_transport.cpp, the only
// translation unit that includes <curl/curl.h>).
#pragma once

#include <curl/curl.h>

#include <memory>

namespace balancer::detail {

struct CurlEasyDeleter {
  void operator()(CURL* easy) const noexcept { curl_easy_cleanup(easy); }
};
struct CurlMultiDeleter {
  void operator()(CURLM* multi) const noexcept { curl_multi_cleanup(multi); }
};
struct CurlShareDeleter {
  void operator()(CURLSH* share) const noexcept { curl_share_cleanup(share); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* list) const noexcept { curl_slist_free_all(list); }
};

// Owning pointers. Each is a plain value owned by one object; they add no thread-safety of
// their own (libcurl handles must not be used from two threads at once).
using CurlEasyPtr = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlMultiPtr = std::unique_ptr<CURLM, CurlMultiDeleter>;
using CurlSharePtr = std::unique_ptr<CURLSH, CurlShareDeleter>;

// A header list for CURLOPT_HTTPHEADER. append() returns false when libcurl ran out of memory
// (the list built so far stays valid and owned).
class CurlSlist {
 public:
  CurlSlist() = default;

  bool append(const char* line) {
    curl_slist* grown = curl_slist_append(list_.get(), line);
    if (grown == nullptr) {
      return false;
    }
    (void)list_.release();  // `grown` is the same list with one more node
    list_.reset(grown);
    return true;
  }

  curl_slist* get() const noexcept { return list_.get(); }

 private:
  std::unique_ptr<curl_slist, CurlSlistDeleter> list_;
};

}  // namespace balancer::detail
