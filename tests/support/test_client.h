// test_client.h — a small libcurl HTTP client for the integration tests: one request per call
// (easy interface) or many at once (multi interface), recording the status, headers, body and,
// for streams, every received chunk with its arrival time.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fake_upstream.h"  // HeaderList, find_header_value, SteadyClock

namespace balancer::test {

struct ClientRequest {
  std::string method = "POST";
  std::string url;
  // Sent in order. A header with an empty value is sent as "Name:", which makes libcurl drop
  // its own header of that name (e.g. {"Expect", ""} turns off Expect: 100-continue).
  HeaderList headers;
  std::string body;
  // Simulates a client that hangs up: the transfer is aborted once this many body bytes came.
  std::optional<std::size_t> abort_after_bytes;
  // Failure guard for the whole transfer (never reached by a passing test).
  std::chrono::milliseconds timeout{30'000};
};

struct ReceivedChunk {
  std::string data;
  SteadyClock::time_point at;
};

struct ClientResponse {
  long status = 0;     // 0 when no response arrived
  int curl_code = 0;   // CURLcode of the transfer
  std::string error;   // libcurl's error text when curl_code != 0
  HeaderList headers;  // of the final response (interim 100 Continue dropped)
  std::string body;
  std::vector<ReceivedChunk> chunks;
  std::size_t uploaded_bytes = 0;  // request body bytes libcurl sent
  SteadyClock::time_point started;
  SteadyClock::time_point finished;

  std::optional<std::string> header(std::string_view name) const { return find_header_value(headers, name); }
};

// Runs one request to completion on the calling thread.
ClientResponse perform(const ClientRequest& request);
// Runs all requests concurrently (one libcurl multi handle, one connection each) and returns
// the responses in the same order.
std::vector<ClientResponse> perform_all(const std::vector<ClientRequest>& requests);

// Convenience wrappers.
ClientResponse post(const std::string& url, std::string body, HeaderList headers = {});
ClientResponse get(const std::string& url, HeaderList headers = {});

}  // namespace balancer::test
