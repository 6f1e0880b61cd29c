#include "routing/selection.h"

#include <balancer/random.h>

namespace balancer::detail {

std::size_t weighted_pick(std::span<const int> weights, std::uint64_t draw) {
  std::uint64_t total = 0;
  for (int w : weights) {
    total += static_cast<std::uint64_t>(w);
  }
  std::uint64_t point = uniform_below(draw, total);
  for (std::size_t i = 0; i < weights.size(); ++i) {
    const auto w = static_cast<std::uint64_t>(weights[i]);
    if (point < w) {
      return i;
    }
    point -= w;
  }
  return weights.size() - 1;
}

std::size_t smooth_wrr_pick(std::span<const int> weights, std::vector<long long>& current) {
  current.resize(weights.size(), 0);
  long long total = 0;
  std::size_t best = 0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    current[i] += weights[i];
    total += weights[i];
    if (current[i] > current[best]) {
      best = i;
    }
  }
  current[best] -= total;
  return best;
}

}  // namespace balancer::detail
