// The balance check for real: BalanceChecker running real /bin/sh commands through
// run_shell_command, feeding a BalanceMonitor and a HealthTracker on the real clock. Tests wait
// on the checker's update callback (a condition variable with a deadline), on FIFOs the commands
// write to, or on pidfds; they never sleep.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <balancer/clock.h>
#include <balancer/health_tracker.h>
#include "health/balance_monitor.h"

#include "health/balance_checker.h"
#include "test_balancer.h"

namespace balancer::test {
namespace {

using namespace std::chrono_literals;
using balancer::BalanceChecker;
using balancer::BalanceCheckerOptions;
using balancer::run_shell_command;
using SteadyClock = std::chrono::steady_clock;

constexpr auto kDeadline = 10s;  // failure guard for every wait

// Collects the checker's updates; the test thread waits on it.
class Updates {
 public:
  void push(const BalanceUpdate& update) {
    {
      std::lock_guard lock(mutex_);
      updates_.push_back(update);
    }
    cv_.notify_all();
  }
  // The first update for `provider` (removed from the list); nullopt after kDeadline.
  std::optional<BalanceUpdate> wait_for(const std::string& provider) {
    std::unique_lock lock(mutex_);
    std::optional<BalanceUpdate> found;
    cv_.wait_for(lock, kDeadline, [&] {
      for (auto it = updates_.begin(); it != updates_.end(); ++it) {
        if (it->provider == provider) {
          found = *it;
          updates_.erase(it);
          return true;
        }
      }
      return false;
    });
    return found;
  }
  std::size_t count() {
    std::lock_guard lock(mutex_);
    return updates_.size();
  }
  BalanceChecker::UpdateCallback callback() {
    return [this](const BalanceUpdate& u) { push(u); };
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<BalanceUpdate> updates_;
};

ProviderConfig provider(std::string name, std::string command, double threshold = 0.0) {
  ProviderConfig p;
  p.name = std::move(name);
  p.base_url = "https://example.invalid";
  p.balance_check = std::move(command);
  p.balance_check_interval = std::chrono::seconds(300);
  p.balance_threshold = threshold;
  return p;
}

BalancerConfig config_of(std::vector<ProviderConfig> providers) {
  BalancerConfig c;
  c.providers = std::move(providers);
  return c;
}

struct Rig {
  explicit Rig(std::vector<ProviderConfig> providers, Duration timeout = 10s)
      : monitor(tracker, Clock::real(), timeout) {
    monitor.set_config(config_of(std::move(providers)));
  }
  HealthTracker tracker{HealthConfig{}, Clock::real()};
  BalanceMonitor monitor;
  Updates updates;
};

// Reads the first line a command writes to a FIFO: waits (up to kDeadline) on poll() for the
// command to open it and write. Empty when nothing came.
std::string read_fifo_line(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return {};
  std::string text;
  const auto deadline = SteadyClock::now() + kDeadline;
  while (text.find('\n') == std::string::npos) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buffer[256];
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      text.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      break;  // the writer closed without a full line
    }
  }
  ::close(fd);
  return text.substr(0, text.find('\n'));
}

std::string make_fifo(const TempDir& dir, const char* name) {
  const std::string path = dir.file(name);
  REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
  return path;
}

// True when process `pid` is gone or has terminated (a zombie awaiting its reaper) within the
// deadline; waits on a pidfd.
bool terminates(pid_t pid) {
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return errno == ESRCH;
  pollfd p{fd, POLLIN, 0};
  const int n = ::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kDeadline).count()));
  ::close(fd);
  return n == 1;
}

bool reaped(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

double seconds_since(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

}  // namespace

TEST_CASE("run_shell_command returns the command's stdout", "[integration][balance]") {
  auto out = run_shell_command("echo 12.5", 10s);
  REQUIRE(out.has_value());
  CHECK(*out == "12.5\n");

  out = run_shell_command("echo oops >&2; printf '%s' \"$((40 + 2))\"", 10s);  // stderr dropped
  REQUIRE(out.has_value());
  CHECK(*out == "42");

  out = run_shell_command("read line; echo \"[$line]\"", 10s);  // stdin is /dev/null
  REQUIRE(out.has_value());
  CHECK(*out == "[]\n");
}

TEST_CASE("run_shell_command: a non-zero exit or a signal is an error, whatever was printed",
          "[integration][balance]") {
  auto out = run_shell_command("exit 3", 10s);
  REQUIRE_FALSE(out.has_value());
  CHECK(out.error().code == ErrorCode::UpstreamProtocol);
  CHECK(out.error().message == "balance check exited with status 3");

  out = run_shell_command("echo 12; exit 1", 10s);
  REQUIRE_FALSE(out.has_value());
  CHECK(out.error().message == "balance check exited with status 1");

  out = run_shell_command("kill -TERM $$", 10s);  // default disposition restored in the child
  REQUIRE_FALSE(out.has_value());
  CHECK(out.error().message == "balance check killed by signal 15");
}

TEST_CASE("run_shell_command kills a command that outlives its timeout and reaps it", "[integration][balance]") {
  TempDir dir;
  const std::string pid_file = dir.file("pid");
  const auto start = SteadyClock::now();
  auto out = run_shell_command("echo $$ > '" + pid_file + "'; sleep 30", 300ms);
  const double elapsed = seconds_since(start);
  REQUIRE_FALSE(out.has_value());
  CHECK(out.error().code == ErrorCode::UpstreamTimeout);
  CHECK(out.error().message == "balance check timed out after 300 ms (killed)");
  CHECK(elapsed >= 0.29);
  CHECK(elapsed < 5.0);
  pid_t pid = 0;
  std::ifstream(pid_file) >> pid;
  REQUIRE(pid > 0);
  CHECK(reaped(pid));  // no zombie left behind
}

TEST_CASE("run_shell_command kills the whole process group on timeout", "[integration][balance]") {
  TempDir dir;
  const std::string pid_file = dir.file("pid");
  // The shell waits for a background child that ignores nothing: both must go.
  auto out = run_shell_command("sleep 30 & echo $! > '" + pid_file + "'; wait", 300ms);
  REQUIRE_FALSE(out.has_value());
  CHECK(out.error().code == ErrorCode::UpstreamTimeout);
  pid_t child = 0;
  std::ifstream(pid_file) >> child;
  REQUIRE(child > 0);
  CHECK(terminates(child));
}

TEST_CASE("run_shell_command reaps the killed group when this process is the orphans' reaper",
          "[integration][balance]") {
  // As when balance-server is PID 1 in a container: orphans become our children.
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  TempDir dir;
  const std::string pid_file = dir.file("pid");
  auto out = run_shell_command("sleep 30 & echo $! > '" + pid_file + "'; wait", 300ms);
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
  REQUIRE_FALSE(out.has_value());
  CHECK(out.error().code == ErrorCode::UpstreamTimeout);
  pid_t child = 0;
  std::ifstream(pid_file) >> child;
  REQUIRE(child > 0);
  CHECK(reaped(child));  // not left as our zombie
}

TEST_CASE("run_shell_command returns when the shell exits, even if a leftover process holds stdout",
          "[integration][balance]") {
  TempDir dir;
  const std::string pid_file = dir.file("pid");
  const auto start = SteadyClock::now();
  auto out = run_shell_command("sleep 30 & echo $! > '" + pid_file + "'; echo 7", 20s);
  CHECK(seconds_since(start) < 5.0);
  REQUIRE(out.has_value());
  CHECK(*out == "7\n");
  pid_t child = 0;
  std::ifstream(pid_file) >> child;
  REQUIRE(child > 0);
  CHECK(terminates(child));  // killed with the group
}

TEST_CASE("run_shell_command caps the output it keeps", "[integration][balance]") {
  auto out = run_shell_command("head -c 100000 /dev/zero | tr '\\0' 1", 10s, {}, 4096);
  REQUIRE(out.has_value());
  CHECK(out->size() == 4096);
  CHECK(out->find_first_not_of('1') == std::string::npos);
}

TEST_CASE("run_shell_command stops promptly when asked to", "[integration][balance]") {
  TempDir dir;
  const std::string fifo = make_fifo(dir, "started");
  std::stop_source stop;
  std::optional<Result<std::string>> result;
  std::jthread runner([&] { result = run_shell_command("echo $$ > '" + fifo + "'; sleep 30", 60s, stop.get_token()); });
  const std::string line = read_fifo_line(fifo);  // the command is running
  REQUIRE_FALSE(line.empty());
  const pid_t pid = std::stoi(line);
  const auto start = SteadyClock::now();
  stop.request_stop();
  runner.join();
  CHECK(seconds_since(start) < 5.0);
  REQUIRE(result.has_value());
  REQUIRE_FALSE(result->has_value());
  CHECK(result->error().code == ErrorCode::Cancelled);
  CHECK(reaped(pid));
}

TEST_CASE("run_shell_command: a shell that cannot run the command is an error", "[integration][balance]") {
  auto out = run_shell_command("/nonexistent/balance-script", 10s);
  REQUIRE_FALSE(out.has_value());
  CHECK(out.error().message == "balance check exited with status 127");
}

TEST_CASE("BalanceChecker reads a balance printed by a command", "[integration][balance]") {
  Rig rig({provider("a", "echo 12.5", /*threshold=*/1.0)});
  BalanceChecker checker(rig.monitor, rig.updates.callback());
  const auto u = rig.updates.wait_for("a");
  REQUIRE(u.has_value());
  CHECK(u->tracked);
  REQUIRE(u->balance.has_value());
  CHECK(*u->balance == 12.5);
  CHECK(u->error.empty());
  CHECK_FALSE(u->low);
  const auto s = rig.monitor.snapshot("a");
  REQUIRE(s);
  CHECK(s->balance == 12.5);
  CHECK_FALSE(s->in_progress);
  CHECK(s->last_checked.has_value());
  CHECK(rig.tracker.snapshot("a").status == "healthy");
}

TEST_CASE("BalanceChecker marks a provider low at or below its threshold", "[integration][balance]") {
  Rig rig({provider("a", "printf 'balance: $%s\\n' 0.50", /*threshold=*/1.0),
           provider("b", "echo '{\"balance\": 1}'", /*threshold=*/1.0)});
  BalanceChecker checker(rig.monitor, rig.updates.callback());
  const auto a = rig.updates.wait_for("a");
  const auto b = rig.updates.wait_for("b");
  REQUIRE(a.has_value());
  REQUIRE(b.has_value());
  CHECK(a->balance == 0.5);
  CHECK(a->low);
  CHECK(a->changed);
  CHECK(b->balance == 1.0);
  CHECK(b->low);
  CHECK(rig.tracker.snapshot("a").status == "low_balance");
  CHECK(rig.tracker.unavailable_until("b").has_value());
}

TEST_CASE("BalanceChecker: a command that exits 3 without output is an error and changes nothing",
          "[integration][balance]") {
  Rig rig({provider("a", "exit 3"), provider("b", "true")});
  BalanceChecker checker(rig.monitor, rig.updates.callback());
  const auto a = rig.updates.wait_for("a");
  const auto b = rig.updates.wait_for("b");
  REQUIRE(a.has_value());
  REQUIRE(b.has_value());
  CHECK_FALSE(a->balance.has_value());
  CHECK(a->error == "balance check exited with status 3");
  CHECK_FALSE(a->low);
  CHECK(b->error == "balance check printed nothing");
  CHECK(rig.monitor.snapshot("a")->last_error == "balance check exited with status 3");
  CHECK(rig.tracker.snapshot("a").healthy);
  CHECK(rig.tracker.snapshot("b").healthy);
}

TEST_CASE("BalanceChecker kills a check that runs past its timeout and reports it promptly", "[integration][balance]") {
  TempDir dir;
  const std::string pid_file = dir.file("pid");
  Rig rig({provider("slow", "echo $$ > '" + pid_file + "'; sleep 30"), provider("fast", "echo 9")},
          /*timeout=*/300ms);
  const auto start = SteadyClock::now();
  BalanceChecker checker(rig.monitor, rig.updates.callback());
  const auto fast = rig.updates.wait_for("fast");
  REQUIRE(fast.has_value());
  CHECK(fast->balance == 9.0);  // not held up by the slow one
  const auto slow = rig.updates.wait_for("slow");
  REQUIRE(slow.has_value());
  CHECK(seconds_since(start) < 5.0);
  CHECK_FALSE(slow->balance.has_value());
  CHECK(slow->error == "balance check timed out after 300 ms (killed)");
  CHECK(rig.tracker.snapshot("slow").healthy);  // a hanging script does not take it down
  pid_t pid = 0;
  std::ifstream(pid_file) >> pid;
  REQUIRE(pid > 0);
  CHECK(reaped(pid));
}

TEST_CASE("BalanceChecker runs a provider added by a reload when woken", "[integration][balance]") {
  Rig rig(std::vector<ProviderConfig>{});
  BalanceCheckerOptions options;
  options.round = std::chrono::hours(1);  // only wake() can start the new check in time
  BalanceChecker checker(rig.monitor, rig.updates.callback(), options);
  rig.monitor.set_config(config_of({provider("late", "echo 3", /*threshold=*/5.0)}));
  checker.wake();
  const auto u = rig.updates.wait_for("late");
  REQUIRE(u.has_value());
  CHECK(u->balance == 3.0);
  CHECK(rig.tracker.snapshot("late").status == "low_balance");
}

TEST_CASE("Destroying a BalanceChecker kills its running checks promptly", "[integration][balance]") {
  TempDir dir;
  const std::string fifo = make_fifo(dir, "started");
  Rig rig({provider("a", "echo $$ > '" + fifo + "'; sleep 30")}, /*timeout=*/60s);
  auto checker = std::make_unique<BalanceChecker>(rig.monitor, rig.updates.callback());
  const std::string line = read_fifo_line(fifo);  // the check is running
  REQUIRE_FALSE(line.empty());
  const pid_t pid = std::stoi(line);
  const auto start = SteadyClock::now();
  checker.reset();
  CHECK(seconds_since(start) < 5.0);
  CHECK(reaped(pid));
  CHECK(rig.updates.count() == 0);  // a cancelled check is not reported
  const auto s = rig.monitor.snapshot("a");
  REQUIRE(s);
  CHECK_FALSE(s->in_progress);
  CHECK_FALSE(s->balance.has_value());
}

}  // namespace balancer::test
