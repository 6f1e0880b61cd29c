// json_fuzz.cpp — differential fuzz target over the hand-written JSON code every request body
// passes through: the validator (detail::diagnose_json / find_json_error), the top-level member
// scanner (detail::scan_top_level_members) and inspect_request_body (model, stream, provider,
// metadata.user_id). Built as a libFuzzer binary with clang (-DBALANCER_FUZZ=ON: json_fuzz) and,
// always, as fuzz_replay_json, which runs tests/fuzz/json_corpus in ctest (replay_main.cpp).
//
// The input is the body itself. Oracles (any mismatch aborts):
// - accept/reject is that of nlohmann::json::parse (strict), except the one documented
//   deviation: nesting deeper than kMaxJsonDepth is rejected, with reason "nesting too deep".
//   (The other documented rules — BOM, a NUL byte ending the input — are nlohmann's own.)
// - find_json_error agrees with diagnose_json; an error offset is at most the size, and the
//   text up to it is a valid beginning of a JSON text (diagnosing that prefix gives no error or
//   an error exactly at its end);
// - for an accepted object, scan_top_level_members finds the same members as nlohmann's parse,
//   duplicates included, in order: same decoded keys, and each value span parses to the value
//   nlohmann saw; for any other text (not an object, invalid, too deep) the scan fails;
// - inspect_request_body agrees with nlohmann on the documented semantics: of duplicate
//   top-level keys the last string `model` / `provider` and the last boolean `stream` win, a
//   non-string non-null `provider` anywhere is an error, so is a `model` with no string value;
//   and on the whole outcome (user_id included) with the old one-pass nlohmann SAX reader
//   (tests/support/sax_request_oracle.h), plus the 256-byte name limit;
// - for an accepted text, detail::parse_json_dom (simdjson, with nlohmann as the fallback)
//   builds the DOM nlohmann::json::parse builds: equal, same dump; and detail::dump_json of it
//   writes nlohmann's compact dump byte for byte.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "json/client_request.h"
#include "json/json_dom.h"
#include "json/json_dump.h"
#include "json/json_splice.h"
#include "json/json_validate.h"
#include "sax_request_oracle.h"

namespace {

using balancer::detail::diagnose_json;
using balancer::detail::find_json_error;
using balancer::detail::kMaxJsonDepth;

// Deeper documents are not compared value by value (nlohmann's comparison recurses).
constexpr std::size_t kMaxComparedDepth = 500;

[[noreturn]] void oracle_failed(const char* what, const std::string& detail = "") {
  std::fprintf(stderr, "fuzz oracle failed: %s\n%s\n", what, detail.c_str());
  std::abort();
}

// What nlohmann's strict parse makes of the text: acceptance, the deepest nesting, and for an
// object the top-level members in document order, duplicates included.
struct Reference {
  bool accepted = false;
  bool is_object = false;
  std::size_t max_depth = 0;
  std::vector<std::pair<std::string, nlohmann::json>> members;
};

Reference reference_parse(std::string_view text) {
  Reference ref;
  bool root_is_object = false;
  const nlohmann::json::parser_callback_t callback = [&](int depth, nlohmann::json::parse_event_t event,
                                                         nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    const auto level = static_cast<std::size_t>(depth);
    switch (event) {
      case Event::object_start:
      case Event::array_start:
        if (level + 1 > ref.max_depth) {
          ref.max_depth = level + 1;
        }
        if (level == 0) {
          root_is_object = event == Event::object_start;
        }
        break;
      case Event::key:
        if (level == 1 && root_is_object) {
          ref.members.emplace_back(parsed.get<std::string>(), nlohmann::json());
        }
        break;
      case Event::value:
      case Event::object_end:
      case Event::array_end:
        if (level == 1 && root_is_object) {
          if (ref.members.empty()) {
            oracle_failed("reference: a top-level value without a key");
          }
          // Moved, not copied: copying (and comparing) nlohmann values recurses, and a member may
          // nest kMaxJsonDepth deep.
          ref.members.back().second = std::move(parsed);
        }
        break;
    }
    return true;
  };
  const auto dom = nlohmann::json::parse(text, callback, /*allow_exceptions=*/false);
  ref.accepted = !dom.is_discarded();
  ref.is_object = ref.accepted && dom.is_object();
  return ref;
}

std::string printable(std::string_view s, std::size_t limit = 300) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02X", c);
      out += hex;
    }
  }
  if (s.size() > limit) {
    out += "... (" + std::to_string(s.size()) + " bytes)";
  }
  return out;
}

void check_validator(std::string_view text, const Reference& ref) {
  const auto error = diagnose_json(text);
  const auto offset = find_json_error(text);
  if (error.has_value() != offset.has_value() || (error && error->offset != *offset)) {
    oracle_failed("find_json_error disagrees with diagnose_json", printable(text));
  }
  const bool too_deep = ref.accepted && ref.max_depth > kMaxJsonDepth;
  const bool expected_valid = ref.accepted && !too_deep;
  if (!error != expected_valid) {
    oracle_failed(
        expected_valid ? "validator rejects what nlohmann accepts" : "validator accepts what nlohmann rejects",
        (error ? std::string("error at ") + std::to_string(error->offset) + ": " + error->reason + "\n"
               : std::string()) +
            printable(text));
  }
  if (!error) {
    return;
  }
  if (too_deep && std::string_view(error->reason) != "nesting too deep") {
    oracle_failed("nesting beyond kMaxJsonDepth reported with another reason", error->reason);
  }
  if (error->offset > text.size()) {
    oracle_failed("error offset past the end", printable(text));
  }
  if (error->reason == nullptr || error->reason[0] == '\0') {
    oracle_failed("error without a reason", printable(text));
  }
  // The text before the offset is the beginning of a valid JSON text.
  const std::string_view prefix = text.substr(0, error->offset);
  const auto prefix_error = diagnose_json(prefix);
  if (prefix_error && prefix_error->offset != prefix.size()) {
    oracle_failed("the text before the error offset is not a valid beginning",
                  "offset " + std::to_string(error->offset) + " (" + error->reason + "), prefix error at " +
                      std::to_string(prefix_error->offset) + " (" + prefix_error->reason + ")\n" + printable(text));
  }
}

void check_scanner(std::string_view text, const Reference& ref) {
  const auto members = balancer::detail::scan_top_level_members(text);
  if (!ref.accepted || ref.max_depth > kMaxJsonDepth) {
    if (members) {  // the scan is the validating pass: what it refuses, it finds no members in
      oracle_failed("scan_top_level_members accepts a text the validator refuses", printable(text));
    }
    return;
  }
  if (!ref.is_object) {
    if (members) {
      oracle_failed("scan_top_level_members accepts a valid text that is not an object", printable(text));
    }
    return;
  }
  if (!members) {
    oracle_failed("scan_top_level_members fails on a valid object", members.error().message + "\n" + printable(text));
  }
  if (members->size() != ref.members.size()) {
    oracle_failed("scan_top_level_members finds another number of members",
                  std::to_string(members->size()) + " vs nlohmann " + std::to_string(ref.members.size()) + "\n" +
                      printable(text));
  }
  for (std::size_t i = 0; i < members->size(); ++i) {
    const auto& member = (*members)[i];
    if (member.key != ref.members[i].first) {
      oracle_failed("scan_top_level_members decodes a key differently",
                    printable(member.key) + " vs nlohmann " + printable(ref.members[i].first));
    }
    if (member.key_begin >= member.value_begin || member.value_begin >= member.value_end ||
        member.value_end > text.size() || text[member.key_begin] != '"' ||
        std::string_view(" \t\n\r").find(text[member.value_begin]) != std::string_view::npos ||
        std::string_view(" \t\n\r").find(text[member.value_end - 1]) != std::string_view::npos) {  // tight
      oracle_failed("scan_top_level_members: bad spans", printable(text));
    }
    const std::string_view span = text.substr(member.value_begin, member.value_end - member.value_begin);
    const auto value = nlohmann::json::parse(span, nullptr, false);
    // operator== recurses: deep documents only get the span checked for validity.
    const bool compare = ref.max_depth <= kMaxComparedDepth;
    if (value.is_discarded() || (compare && value != ref.members[i].second)) {
      oracle_failed("scan_top_level_members: a value span is not the member's value",
                    "key " + printable(member.key) + ": span " + printable(span) + "\n" + printable(text));
    }
  }
}

std::string describe(const balancer::Result<balancer::MessageRequestInfo>& r) {
  if (!r) {
    return "error: " + r.error().message;
  }
  return "model=" + printable(r->model) + " provider=" + (r->pinned_provider ? printable(*r->pinned_provider) : "-") +
         " stream=" + (r->stream ? "true" : "false") + " user_id=" + printable(r->user_id);
}

void check_inspect(std::string_view text, const Reference& ref) {
  const auto info = balancer::inspect_request_body(text);
  const bool valid = ref.accepted && ref.max_depth <= kMaxJsonDepth;
  if (!valid) {
    if (info || info.error().message.find("not valid JSON") == std::string::npos) {
      oracle_failed("inspect_request_body: invalid JSON not reported as such", describe(info));
    }
    return;
  }
  if (!ref.is_object) {
    if (info || info.error().message != "request body must be a JSON object") {
      oracle_failed("inspect_request_body: a non-object accepted", describe(info));
    }
    return;
  }
  // The documented semantics, from nlohmann's members in order.
  std::optional<std::string> model;
  std::optional<std::string> provider;
  bool model_seen = false;
  bool provider_bad = false;
  bool stream = false;
  for (const auto& [key, value] : ref.members) {
    if (key == "model") {
      model_seen = true;
      if (value.is_string()) {
        model = value.get<std::string>();
      }
    } else if (key == "provider") {
      if (value.is_string()) {
        provider = value.get<std::string>();
      } else if (!value.is_null()) {
        provider_bad = true;
      }
    } else if (key == "stream" && value.is_boolean()) {
      stream = value.get<bool>();
    }
  }
  std::string expected_error;
  if (!model) {
    expected_error = model_seen ? "model: must be a string" : "model: field required";
  } else if (provider_bad) {
    expected_error = "provider: must be a string";
  } else if (model->size() > 256) {
    expected_error = "model: longer than 256 bytes";
  } else if (provider && provider->size() > 256) {
    expected_error = "provider: longer than 256 bytes";
  }
  if (!expected_error.empty()) {
    if (info || info.error().message != expected_error) {
      oracle_failed("inspect_request_body: wrong outcome", "expected " + expected_error + ", got " + describe(info));
    }
  } else if (!info || info->model != *model || info->pinned_provider != provider || info->stream != stream) {
    oracle_failed("inspect_request_body: fields differ from nlohmann's",
                  "expected model=" + printable(*model) + " provider=" + (provider ? printable(*provider) : "-") +
                      " stream=" + (stream ? "true" : "false") + ", got " + describe(info) + "\n" + printable(text));
  }
  // metadata.user_id (last string user_id of any top-level metadata object): the old SAX reader.
  const auto old = balancer::test::old_inspect_request_body(text);
  if (info && (!old || old->user_id != info->user_id)) {
    oracle_failed("inspect_request_body: user_id differs from the SAX reader",
                  describe(info) + " vs " + describe(old) + "\n" + printable(text));
  }
  if (!info && old && expected_error.find("longer than") == std::string::npos) {
    oracle_failed("inspect_request_body: the SAX reader accepts", describe(old) + "\n" + printable(text));
  }
}

}  // namespace

void check_dom(std::string_view text, const Reference& ref) {
  if (!ref.accepted || ref.max_depth > 200) {
    return;  // nlohmann's == and dump recurse per level: deep inputs overflow a sanitizer's stack
  }
  const nlohmann::json expected = nlohmann::json::parse(text, nullptr, false);
  const nlohmann::json built = balancer::detail::parse_json_dom(text);
  if (built != expected || built.dump() != expected.dump() ||
      balancer::detail::dump_json(built) != built.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)) {
    std::fprintf(stderr, "parse_json_dom differs from nlohmann: %s vs %s\n", built.dump().c_str(),
                 expected.dump().c_str());
    std::abort();
  }
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const Reference ref = reference_parse(text);
  check_validator(text, ref);
  check_scanner(text, ref);  // on invalid text too: it must stay in bounds
  check_inspect(text, ref);
  check_dom(text, ref);
  return 0;
}
