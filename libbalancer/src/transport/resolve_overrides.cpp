// resolve_overrides.cpp — ResolveOverrides: the fixed host resolutions CurlTransport passes to
// libcurl as CURLOPT_RESOLVE lines.
#include <balancer/curl_transport.h>

#include <string>

namespace balancer {
namespace {

std::string host_port(const std::string& host, int port) { return host + ":" + std::to_string(port); }

}  // namespace

void ResolveOverrides::set(const std::string& host, int port, const std::string& address) {
  const std::string key = host_port(host, port);
  std::lock_guard lock(mutex_);
  entries_[key] = address;
  erased_.erase(key);
}

void ResolveOverrides::erase(const std::string& host, int port) {
  const std::string key = host_port(host, port);
  std::lock_guard lock(mutex_);
  if (entries_.erase(key) > 0) {
    erased_.insert(key);
  }
}

std::vector<std::string> ResolveOverrides::curl_resolve_lines() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> lines;
  lines.reserve(entries_.size() + erased_.size());
  for (const auto& key : erased_) {
    lines.push_back("-" + key);
  }
  for (const auto& [key, address] : entries_) {
    lines.push_back(key + ":" + address);
  }
  return lines;
}

}  // namespace balancer
