// json_dump.h — nlohmann's compact dump, byte for byte, at memory speed on long strings.
//
// The OpenAI path serialises the converted request (as large as the client's, 50–300 KB for
// Claude Code). nlohmann's serializer decodes every string byte by byte through a UTF-8 state
// machine (a quarter of the CPU of that path); this one checks a string's UTF-8 with simdjson
// and copies the runs that need no escape. Output is exactly
// `value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)`: a string that is not
// valid UTF-8, a floating-point number and anything unusual are left to nlohmann itself.
//
// Pure function; any thread.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace balancer::detail {

std::string dump_json(const nlohmann::json& value);

}  // namespace balancer::detail
