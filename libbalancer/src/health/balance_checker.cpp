// balance_checker.cpp — the balance check's thread and its command runner.
//
// Commands are started with posix_spawn (glibc: clone+exec, safe in this multi-threaded
// process; no code runs in the child before exec) in a new process group, with the signal mask
// emptied and every signal set back to its default (the server blocks SIGTERM/SIGINT and ignores
// SIGPIPE, which a child would otherwise inherit) and with every descriptor above stderr closed
// (listening and client sockets must not leak into a script). The parent polls the stdout pipe,
// a pidfd of the shell (exit) and an eventfd (stop) until the deadline, then kills the group
// with SIGKILL and reaps the shell.
#include "health/balance_checker.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <utility>
#include <vector>

#include <fmt/format.h>

extern char** environ;  // NOLINT: POSIX

namespace balancer {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Without a pidfd, the shell's exit is noticed by polling this often.
constexpr int kExitPollSliceMs = 20;
// After the shell exited, at most this much more is read from the pipe (a process it left
// behind may still be writing until the group is killed).
constexpr std::size_t kDrainLimit = 256 * 1024;

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

class SpawnFileActions {
 public:
  SpawnFileActions() { ok_ = ::posix_spawn_file_actions_init(&actions_) == 0; }
  ~SpawnFileActions() {
    if (ok_) ::posix_spawn_file_actions_destroy(&actions_);
  }
  SpawnFileActions(const SpawnFileActions&) = delete;
  SpawnFileActions& operator=(const SpawnFileActions&) = delete;
  bool ok() const { return ok_; }
  posix_spawn_file_actions_t* get() { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_{};
  bool ok_ = false;
};

class SpawnAttr {
 public:
  SpawnAttr() { ok_ = ::posix_spawnattr_init(&attr_) == 0; }
  ~SpawnAttr() {
    if (ok_) ::posix_spawnattr_destroy(&attr_);
  }
  SpawnAttr(const SpawnAttr&) = delete;
  SpawnAttr& operator=(const SpawnAttr&) = delete;
  bool ok() const { return ok_; }
  posix_spawnattr_t* get() { return &attr_; }

 private:
  posix_spawnattr_t attr_{};
  bool ok_ = false;
};

tl::unexpected<Error> sys_error(const char* what, int err) {
  return make_error(ErrorCode::Internal, fmt::format("balance check: {}: {}", what, std::strerror(err)));
}

// True when the shell has exited; it stays a zombie (WNOWAIT), so its pid, which is also the
// process group id, cannot be reused before the group is killed and the shell reaped.
bool has_exited(pid_t pid) {
  siginfo_t info{};
  return ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

// Reads what is available; false once the pipe is at EOF (or broken).
bool read_available(int fd, std::string& out, std::size_t max_output, std::size_t& budget) {
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      const auto got = static_cast<std::size_t>(n);
      if (out.size() < max_output) out.append(buffer, std::min(got, max_output - out.size()));
      if (got >= budget) {
        budget = 0;
        return true;  // enough: stop reading, the pipe is still open
      }
      budget -= got;
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
}

Result<pid_t> spawn_shell(const std::string& command, int stdout_fd) {
  SpawnFileActions actions;
  SpawnAttr attr;
  if (!actions.ok() || !attr.ok()) return sys_error("posix_spawn setup", ENOMEM);
  int rc = ::posix_spawn_file_actions_adddup2(actions.get(), stdout_fd, STDOUT_FILENO);
  if (rc == 0) {
    rc = ::posix_spawn_file_actions_addopen(actions.get(), STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  }
  if (rc == 0) {
    rc = ::posix_spawn_file_actions_addopen(actions.get(), STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  if (rc == 0) rc = ::posix_spawn_file_actions_addclosefrom_np(actions.get(), STDERR_FILENO + 1);
#endif
  if (rc != 0) return sys_error("posix_spawn file actions", rc);

  sigset_t empty;
  sigemptyset(&empty);
  sigset_t all;
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  rc = ::posix_spawnattr_setflags(attr.get(), POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  if (rc == 0) rc = ::posix_spawnattr_setpgroup(attr.get(), 0);  // a group of its own
  if (rc == 0) rc = ::posix_spawnattr_setsigmask(attr.get(), &empty);
  if (rc == 0) rc = ::posix_spawnattr_setsigdefault(attr.get(), &all);
  if (rc != 0) return sys_error("posix_spawn attributes", rc);

  std::string arg0 = "sh";
  std::string arg1 = "-c";
  std::string arg2 = command;
  char* argv[] = {arg0.data(), arg1.data(), arg2.data(), nullptr};
  pid_t pid = -1;
  rc = ::posix_spawn(&pid, "/bin/sh", actions.get(), attr.get(), argv, environ);
  if (rc != 0) return sys_error("cannot start /bin/sh", rc);
  return pid;
}

int millis_until(SteadyClock::time_point deadline, SteadyClock::time_point now) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now).count();
  return static_cast<int>(std::clamp<long long>(left, 0, INT_MAX));
}

}  // namespace

Result<std::string> run_shell_command(const std::string& command, std::chrono::milliseconds timeout,
                                      std::stop_token stop, std::size_t max_output) {
  const auto deadline = SteadyClock::now() + std::max(timeout, std::chrono::milliseconds(0));

  Fd stop_fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_fd) return sys_error("eventfd", errno);
  // Declared after stop_fd: deregistered (and finished) before the descriptor is closed.
  std::stop_callback on_stop(stop, [fd = stop_fd.get()] {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(fd, &one, sizeof one);
  });

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return sys_error("pipe", errno);
  Fd read_end(pipe_fds[0]);
  Fd write_end(pipe_fds[1]);
  const int flags = ::fcntl(read_end.get(), F_GETFL);
  if (flags < 0 || ::fcntl(read_end.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    return sys_error("fcntl", errno);
  }

  auto spawned = spawn_shell(command, write_end.get());
  write_end.reset();  // the child has its copy; EOF comes when every writer is gone
  if (!spawned) return tl::unexpected(spawned.error());
  const pid_t pid = *spawned;
  Fd pid_fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));

  enum class End { Exited, TimedOut, Cancelled, Failed };
  End end = End::Failed;
  int failure = 0;
  std::string output;
  bool pipe_open = true;
  std::size_t budget = SIZE_MAX;
  for (;;) {
    if (has_exited(pid)) {
      end = End::Exited;
      break;
    }
    if (stop.stop_requested()) {
      end = End::Cancelled;
      break;
    }
    const auto now = SteadyClock::now();
    if (now >= deadline) {
      end = End::TimedOut;
      break;
    }
    int wait_ms = millis_until(deadline, now);
    // Without a pidfd the exit is only seen by looking (the pipe's EOF does not come while a
    // process the shell left behind holds stdout).
    if (!pid_fd) wait_ms = std::min(wait_ms, kExitPollSliceMs);
    pollfd fds[3] = {{pipe_open ? read_end.get() : -1, POLLIN, 0},
                     {pid_fd ? pid_fd.get() : -1, POLLIN, 0},
                     {stop_fd.get(), POLLIN, 0}};
    const int n = ::poll(fds, 3, wait_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      failure = errno;
      break;
    }
    if (pipe_open && fds[0].revents != 0) {
      pipe_open = read_available(read_end.get(), output, max_output, budget);
    }
  }

  // The group: the shell if it still runs, and whatever it left behind. The shell, running or a
  // zombie, keeps the group id from being reused until it is reaped below.
  ::kill(-pid, SIGKILL);
  if (end == End::Exited && pipe_open) {
    std::size_t drain = kDrainLimit;  // what the shell wrote before exiting is in the pipe
    read_available(read_end.get(), output, max_output, drain);
  }
  int status = 0;
  pid_t reaped = -1;
  do {
    reaped = ::waitpid(pid, &status, 0);
  } while (reaped < 0 && errno == EINTR);
  const int reap_errno = errno;
  // When this process reaps orphans (PID 1 in a container, or a child subreaper), the killed
  // members of the group are now its children: reap them too. Otherwise there are none (ECHILD).
  while (::waitpid(-pid, nullptr, 0) > 0 || errno == EINTR) {
  }

  switch (end) {
    case End::Cancelled: return make_error(ErrorCode::Cancelled, "balance check cancelled (server stopping)");
    case End::TimedOut:
      return make_error(ErrorCode::UpstreamTimeout,
                        fmt::format("balance check timed out after {} ms (killed)", timeout.count()));
    case End::Failed: return sys_error("poll", failure);
    case End::Exited: break;
  }
  if (reaped != pid) return sys_error("waitpid", reap_errno);
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
    return make_error(ErrorCode::UpstreamProtocol,
                      fmt::format("balance check exited with status {}", WEXITSTATUS(status)));
  }
  if (WIFSIGNALED(status)) {
    return make_error(ErrorCode::UpstreamProtocol, fmt::format("balance check killed by signal {}", WTERMSIG(status)));
  }
  return output;
}

BalanceChecker::BalanceChecker(BalanceMonitor& monitor, UpdateCallback on_update, BalanceCheckerOptions options)
    : monitor_(monitor),
      on_update_(std::move(on_update)),
      options_(options),
      thread_([this](std::stop_token stop) { loop(std::move(stop)); }) {}

BalanceChecker::~BalanceChecker() {
  thread_.request_stop();
  if (thread_.joinable()) thread_.join();
}

void BalanceChecker::wake() {
  {
    std::lock_guard lock(mutex_);
    wake_ = true;
  }
  wake_cv_.notify_all();
}

void BalanceChecker::loop(std::stop_token stop) {
  struct Running {
    std::jthread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Running> running;
  while (!stop.stop_requested()) {
    std::erase_if(running, [](const Running& r) { return r.done->load(); });  // joins them
    for (BalanceCheckJob& job : monitor_.due()) {
      auto done = std::make_shared<std::atomic<bool>>(false);
      try {
        std::jthread thread([this, job, done](std::stop_token job_stop) {
          run_job(job, std::move(job_stop));
          done->store(true);
        });
        running.push_back(Running{std::move(thread), std::move(done)});
      } catch (const std::exception& e) {
        // No thread: give the check back as failed so that it is retried after its interval.
        BalanceUpdate update = monitor_.record(
            job.provider,
            make_error(ErrorCode::Internal, fmt::format("balance check: cannot start a thread: {}", e.what())));
        if (on_update_) {
          try {
            on_update_(update);
          } catch (...) {
          }
        }
      }
    }
    std::unique_lock lock(mutex_);
    wake_cv_.wait_for(lock, stop, options_.round, [this] { return wake_; });
    wake_ = false;
  }
  for (Running& r : running)
    r.thread.request_stop();  // kill every running command first
  running.clear();            // then join them
}

void BalanceChecker::run_job(const BalanceCheckJob& job, std::stop_token stop) {
  Result<double> reading = [&]() -> Result<double> {
    auto output = run_shell_command(job.command, job.timeout, stop, options_.max_output);
    if (!output) return tl::unexpected(output.error());
    return parse_balance(*output);
  }();
  const bool cancelled = !reading && reading.error().code == ErrorCode::Cancelled;
  const BalanceUpdate update = monitor_.record(job.provider, reading);
  if (cancelled || !on_update_) return;
  try {
    on_update_(update);
  } catch (...) {
    // A logging callback must not take the checker down.
  }
}

}  // namespace balancer
