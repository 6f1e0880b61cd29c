#include "descriptor_budget.h"

#include <sys/resource.h>

#include <algorithm>

namespace balancer::server {

std::size_t open_file_limit() {
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0 || files.rlim_cur == RLIM_INFINITY) {
    return 0;
  }
  return static_cast<std::size_t>(files.rlim_cur);
}

std::size_t busy_limit(std::size_t max_connections, std::size_t files) {
  if (files == 0) {
    return max_connections;
  }
  const std::size_t usable = files > kSpareDescriptors ? files - kSpareDescriptors : 0;
  return std::clamp<std::size_t>(usable / kDescriptorsPerRequest, 1, std::max<std::size_t>(max_connections, 1));
}

std::size_t pending_limit(std::size_t max_connections, std::size_t files) {
  std::size_t wanted = std::max<std::size_t>(4096, 4 * max_connections);
  if (files != 0) {
    const std::size_t reserve = (kDescriptorsPerRequest - 1) * busy_limit(max_connections, files) + kSpareDescriptors;
    const std::size_t available = files > reserve ? files - reserve : 0;
    wanted = std::min(wanted, std::max<std::size_t>(available, 64));
  }
  return wanted;
}

}  // namespace balancer::server
