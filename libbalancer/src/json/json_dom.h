// json_dom.h — the nlohmann DOM of a request body the validator has accepted, built fast.
//
// The OpenAI path needs the whole body as a DOM to convert it. nlohmann's own parser reads a
// 200 KB Claude Code body at 120–180 MB/s (1–2 ms); simdjson 3.0's parser validates it at
// 2–3 GB/s, and building the same nlohmann tree from simdjson's tape runs at 280–1,100 MB/s
// (bench/inspect_body.cpp). The tree is the one nlohmann::json::parse would build: the same
// number kinds (non-negative integers unsigned; the one exception is `-0`, which simdjson reads as
// 0 and so becomes unsigned 0 where nlohmann keeps a signed 0: equal, and dumped alike), the last
// of duplicate keys kept. Whatever
// simdjson 3.0 refuses that nlohmann accepts (integers beyond 64 bits, nesting deeper than
// 1024) falls back to nlohmann's parser.
//
// Pure functions; any thread.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

namespace balancer::detail {

// The DOM of `body`; a discarded value when `body` is not JSON.
nlohmann::json parse_json_dom(std::string_view body);

}  // namespace balancer::detail
