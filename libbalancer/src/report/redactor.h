// redactor.h — replaces every secret a config holds with "<redacted>" in text the balancer sends
// out: error bodies (its own and upstream error bodies passed through), attempt errors, log
// lines. Secrets: provider auth values (not "passthrough"/"oauth"), provider extra header
// values, credentials embedded in base_url and proxy URLs (userinfo, query values), client and
// admin keys — each also in its JSON-escaped spelling — and any key-shaped word (`sk-` and 16+
// key characters: API keys, the OAuth tokens of subscription accounts).
// Built once per config snapshot; immutable, so any thread may call apply() and
// apply_to_error_events().
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <balancer/config.h>

namespace balancer::detail {

class Redactor {
 public:
  explicit Redactor(const BalancerConfig& config);

  // `text` with every occurrence of every secret replaced by "<redacted>".
  std::string apply(std::string_view text) const;
  // Server-sent events (whole events, LF or CR LF) with apply() over each error event only (an
  // `event: error` line, a data payload of type error, or data naming "error" that is not JSON);
  // every other event byte for byte. A chunk framed otherwise (a bare CR line ending, a byte
  // order mark) gets apply() over all of it.
  std::string apply_to_error_events(std::string_view sse) const;

 private:
  std::vector<std::string> secrets_;  // longest first, so that no secret is left half-replaced
};

}  // namespace balancer::detail
