// balance_monitor.cpp — the balance check's schedule and its effect on HealthTracker, plus the
// parser of a check's output. No commands are run here and nothing waits: see balance_monitor.h.
#include "health/balance_monitor.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <system_error>
#include <utility>

namespace balancer {

namespace {

Duration effective_interval(Duration configured) { return std::max(configured, kMinBalanceCheckInterval); }

bool is_checked(const ProviderConfig& p) { return p.enabled && !p.balance_check.empty(); }

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
// Characters that make a following number part of a word ("api03", "v2.5", "x_1").
bool is_word(char c) { return is_digit(c) || is_alpha(c) || c == '_' || c == '.'; }

// If a number starts at `i`, returns its text (sign, digits without thousands commas, fraction,
// exponent) and sets `end`; otherwise returns an empty string.
std::string number_at(std::string_view s, std::size_t i, std::size_t& end) {
  const auto at = [&](std::size_t k) { return k < s.size() ? s[k] : '\0'; };
  std::string text;
  std::size_t k = i;
  if (at(k) == '-' || at(k) == '+') {
    if (at(k) == '-') text += '-';
    ++k;
  }
  const bool leading_dot = at(k) == '.';
  if (!(is_digit(at(k)) || (leading_dot && is_digit(at(k + 1))))) return {};
  // Integer part, with thousands commas ("1,234,567") when the first group has 1-3 digits.
  std::size_t group = 0;
  while (is_digit(at(k))) {
    text += at(k++);
    ++group;
  }
  if (group >= 1 && group <= 3) {
    while (at(k) == ',' && is_digit(at(k + 1)) && is_digit(at(k + 2)) && is_digit(at(k + 3)) && !is_digit(at(k + 4))) {
      text.append(s.substr(k + 1, 3));
      k += 4;
    }
  }
  if (at(k) == '.' && is_digit(at(k + 1))) {
    if (text.empty() || text == "-") text += '0';
    text += at(k++);
    while (is_digit(at(k)))
      text += at(k++);
  }
  if (at(k) == 'e' || at(k) == 'E') {
    std::size_t e = k + 1;
    if (at(e) == '+' || at(e) == '-') ++e;
    if (is_digit(at(e))) {
      text.append(s.substr(k, e - k));
      k = e;
      while (is_digit(at(k)))
        text += at(k++);
    }
  }
  end = k;
  return text;
}

}  // namespace

Result<double> parse_balance(std::string_view output) {
  for (std::size_t i = 0; i < output.size(); ++i) {
    const char c = output[i];
    const bool sign = c == '-' || c == '+';
    const std::size_t body = sign ? i + 1 : i;
    if (body >= output.size()) break;
    const char b = output[body];
    const bool starts = is_digit(b) || (b == '.' && body + 1 < output.size() && is_digit(output[body + 1]));
    if (!starts) continue;
    // A number continuing a word is not a balance: "api03", "v2.5", "sk-123", "2024-01".
    if (i > 0 && is_word(output[i - 1])) continue;
    if (!sign && i > 0 && (output[i - 1] == '-' || output[i - 1] == '+')) {
      // Reached only when the sign itself joined two words (else it was taken at i - 1).
      continue;
    }
    std::size_t end = i;
    const std::string text = number_at(output, i, end);
    if (text.empty()) continue;
    double value = 0.0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc::result_out_of_range || !std::isfinite(value)) {
      return make_error(ErrorCode::UpstreamProtocol, "balance check printed a number out of range");
    }
    if (ec != std::errc() || ptr != text.data() + text.size()) {
      return make_error(ErrorCode::Internal, "balance check output: cannot convert a number");
    }
    return value;
  }
  return make_error(ErrorCode::UpstreamProtocol,
                    output.empty() ? "balance check printed nothing" : "balance check printed no number");
}

BalanceMonitor::BalanceMonitor(HealthTracker& tracker, const Clock& clock, Duration check_timeout)
    : tracker_(tracker), clock_(clock), check_timeout_(check_timeout) {}

void BalanceMonitor::set_config(const BalancerConfig& config) {
  std::lock_guard lock(mutex_);
  std::vector<Entry> next;
  for (const ProviderConfig& p : config.providers) {
    if (!is_checked(p) || std::any_of(next.begin(), next.end(), [&](const Entry& e) { return e.provider == p.name; })) {
      continue;
    }
    Entry entry;
    if (Entry* old = find(p.name); old != nullptr) {
      entry = std::move(*old);
      old->provider.clear();  // moved into `next`: not a removed provider
      if (entry.command != p.balance_check) entry.due_now = true;
    }
    entry.provider = p.name;
    entry.command = p.balance_check;
    entry.interval = effective_interval(p.balance_check_interval);
    entry.threshold = p.balance_threshold;
    if (entry.balance) {
      // A new threshold applies to the last reading at once.
      const bool low = *entry.balance <= entry.threshold;
      if (low != entry.low) {
        entry.low = low;
        tracker_.set_low_balance(entry.provider, low);
      }
    }
    next.push_back(std::move(entry));
  }
  for (const Entry& old : entries_) {
    if (!old.provider.empty()) {
      tracker_.set_low_balance(old.provider, false);  // no longer checked: no longer low
    }
  }
  entries_ = std::move(next);
}

SteadyTime BalanceMonitor::due_at(const Entry& e) {
  if (e.due_now || !e.last_checked) return SteadyTime::min();
  return *e.last_checked + e.interval;
}

std::vector<BalanceCheckJob> BalanceMonitor::due() {
  std::lock_guard lock(mutex_);
  const SteadyTime now = clock_.now();
  std::vector<BalanceCheckJob> jobs;
  for (Entry& e : entries_) {
    if (e.in_progress || due_at(e) > now) continue;
    e.in_progress = true;
    e.due_now = false;
    jobs.push_back(BalanceCheckJob{e.provider, e.command, check_timeout_});
  }
  return jobs;
}

std::optional<SteadyTime> BalanceMonitor::next_due() const {
  std::lock_guard lock(mutex_);
  std::optional<SteadyTime> next;
  for (const Entry& e : entries_) {
    if (e.in_progress) continue;
    const SteadyTime at = due_at(e);
    if (!next || at < *next) next = at;
  }
  return next;
}

BalanceUpdate BalanceMonitor::record(const std::string& provider, const Result<double>& reading) {
  std::lock_guard lock(mutex_);
  BalanceUpdate update;
  update.provider = provider;
  if (reading) {
    update.balance = *reading;
  } else {
    update.error =
        reading.error().message.empty() ? std::string(to_string(reading.error().code)) : reading.error().message;
  }
  if (update.balance && !std::isfinite(*update.balance)) {
    update.balance.reset();
    update.error = "balance check read a value that is not a finite number";
  }
  Entry* e = find(provider);
  if (e == nullptr) {
    update.tracked = false;  // removed by a reload while its check ran
    return update;
  }
  e->in_progress = false;
  e->last_checked = clock_.now();
  update.threshold = e->threshold;
  if (update.balance) {
    e->balance = update.balance;
    e->last_error.clear();
    const bool low = *update.balance <= e->threshold;
    update.changed = low != e->low;
    e->low = low;
    // Set even when unchanged: the tracker is the source of truth for routing.
    tracker_.set_low_balance(e->provider, low);
  } else {
    e->last_error = update.error;  // the mark stays as it was
  }
  update.low = e->low;
  return update;
}

BalanceStatus BalanceMonitor::status_of(const Entry& e, SteadyTime now) const {
  BalanceStatus s;
  s.provider = e.provider;
  s.threshold = e.threshold;
  s.interval = e.interval;
  s.balance = e.balance;
  s.last_checked = e.last_checked;
  if (e.last_checked) {
    s.checked_ago_s = std::chrono::duration<double>(now - *e.last_checked).count();
  }
  s.last_error = e.last_error;
  s.low = e.low;
  s.in_progress = e.in_progress;
  if (!e.in_progress) {
    const SteadyTime at = due_at(e);
    s.next_check_in_s = at > now ? std::chrono::duration<double>(at - now).count() : 0.0;
  }
  return s;
}

std::vector<BalanceStatus> BalanceMonitor::snapshot() const {
  std::lock_guard lock(mutex_);
  const SteadyTime now = clock_.now();
  std::vector<BalanceStatus> out;
  out.reserve(entries_.size());
  for (const Entry& e : entries_)
    out.push_back(status_of(e, now));
  return out;
}

std::optional<BalanceStatus> BalanceMonitor::snapshot(std::string_view provider) const {
  std::lock_guard lock(mutex_);
  for (const Entry& e : entries_) {
    if (e.provider == provider) return status_of(e, clock_.now());
  }
  return std::nullopt;
}

BalanceMonitor::Entry* BalanceMonitor::find(std::string_view provider) {
  for (Entry& e : entries_) {
    if (e.provider == provider) return &e;
  }
  return nullptr;
}

}  // namespace balancer
