// token_text.h — a fast estimate of how many BPE tokens a UTF-8 text costs, for the local
// count_tokens estimate (token_estimator.cpp). No tokenizer vocabulary: the text is split the way
// cl100k_base's pre-tokenizer splits it (words with their leading space, digit groups of <= 3,
// punctuation runs, whitespace runs) and each piece is priced by its character classes, with
// constants fitted against cl100k_base on English, code, JSON and CJK/Cyrillic text.
#pragma once

#include <string_view>

namespace balancer::detail {

// Estimated tokens of `text`, a little above what cl100k_base would count (undercounting is the
// dangerous direction for auto-compaction). Invalid UTF-8 is priced per byte. Pure; never throws.
double estimate_text_tokens(std::string_view text) noexcept;

}  // namespace balancer::detail
