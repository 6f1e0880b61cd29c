// request_counters.h — counts the answers balancer-server gave to /v1/messages and
// count_tokens requests, by status class and by how a stream ended, for GET /metrics.
// Thread-safe: request threads record, the /metrics handler reads; lock-free atomics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>
#include <vector>

#include "report/metrics_report.h"

namespace balancer::detail {

class RequestCounters {
 public:
  // `outcome`: "complete", "client_disconnected" or "stream_error" (see log_request).
  void record(int status, std::string_view outcome) {
    const int cls = status / 100;
    by_class_[cls >= 1 && cls <= 5 ? cls : 0].fetch_add(1, std::memory_order_relaxed);
    if (outcome == "client_disconnected") {
      client_disconnected_.fetch_add(1, std::memory_order_relaxed);
    } else if (outcome == "stream_error") {
      stream_errors_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  std::vector<MetricSample> samples() const {
    static constexpr std::array<std::string_view, 6> kClass = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
    std::vector<MetricSample> out;
    for (std::size_t i = 1; i <= kClass.size(); ++i) {
      const std::size_t c = i % kClass.size();  // 1xx..5xx, then other
      out.push_back({"responses_total", "Answers to /v1/messages and count_tokens by status class.",
                     static_cast<double>(by_class_[c].load(std::memory_order_relaxed)), true, "code",
                     std::string(kClass[c])});
    }
    out.push_back({"streams_client_disconnected_total", "Streams the client left before the end.",
                   static_cast<double>(client_disconnected_.load(std::memory_order_relaxed)), true, "", ""});
    out.push_back({"streams_failed_total",
                   "Streams the balancer had to end with an error event (upstream dropped or stalled).",
                   static_cast<double>(stream_errors_.load(std::memory_order_relaxed)), true, "", ""});
    return out;
  }

 private:
  std::array<std::atomic<std::uint64_t>, 6> by_class_{};
  std::atomic<std::uint64_t> client_disconnected_{0};
  std::atomic<std::uint64_t> stream_errors_{0};
};

}  // namespace balancer::detail
