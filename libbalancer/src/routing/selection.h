// selection.h — the pure picking rules behind the selection strategies (spec §5). No state of
// their own, no randomness of their own: callers pass the draw and the mutable strategy state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace balancer::detail {

// Index in [0, weights.size()) chosen with probability weight / sum, from one uniform 64-bit
// draw. Every weight must be >= 1 and the span non-empty. Exhaustive over draws: the share of
// draws mapping to each index equals its weight share (up to one unit in 2^64/sum).
std::size_t weighted_pick(std::span<const int> weights, std::uint64_t draw);

// nginx's smooth weighted round robin: `current` (same size as weights, zero-initialised, kept
// between calls) is updated in place; over sum(weights) consecutive picks each index is chosen
// exactly weight times, interleaved as evenly as possible.
std::size_t smooth_wrr_pick(std::span<const int> weights, std::vector<long long>& current);

}  // namespace balancer::detail
