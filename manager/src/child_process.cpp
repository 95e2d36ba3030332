#include "child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace plugvisor::detail {

std::string ExitStatus::describe() const {
  if (signal != 0) {
    const char* name = sigabbrev_np(signal);
    return std::string("killed by ") + (name ? std::string("SIG") + name : "signal " + std::to_string(signal));
  }
  return code == 0 ? "exited normally (code 0)" : "exited with code " + std::to_string(code);
}

ChildProcess::ChildProcess(pid_t pid, int pidfd, int stdin_fd, SpawnSpec spec)
    : pid_(pid), pidfd_(pidfd), spec_(std::move(spec)), stdin_fd_(stdin_fd) {}

ChildProcess::~ChildProcess() {
  close_stdin();
  if (pidfd_ >= 0) ::close(pidfd_);
}

bool ChildProcess::write_stdin(std::string_view data, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  while (!data.empty()) {
    if (stdin_fd_ < 0 || exit_) return false;
    ssize_t n = ::write(stdin_fd_, data.data(), data.size());
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd fd{stdin_fd_, POLLOUT, 0};
    lock.unlock();
    ::poll(&fd, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 50)));
    lock.lock();
  }
  return true;
}

void ChildProcess::close_stdin() {
  std::lock_guard lock(mutex_);
  if (stdin_fd_ >= 0) {
    ::close(stdin_fd_);
    stdin_fd_ = -1;
  }
}

void ChildProcess::signal(int sig) {
  std::lock_guard lock(mutex_);
  if (exit_) return;  // reaped: the pid may belong to someone else now
  // The child leads its own process group: reach what it forked as well.
  if (::kill(-pid_, sig) != 0) {
    ::syscall(SYS_pidfd_send_signal, pidfd_, sig, nullptr, 0);
  }
}

std::optional<ExitStatus> ChildProcess::wait_until(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  changed_.wait_until(lock, deadline, [&] { return exit_.has_value(); });
  return exit_;
}

std::optional<ExitStatus> ChildProcess::exit_status() const {
  std::lock_guard lock(mutex_);
  return exit_;
}

std::optional<std::string> ChildProcess::wait_first_line(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  changed_.wait_until(lock, deadline, [&] { return first_line_.has_value() || exit_.has_value(); });
  return first_line_;
}

std::pair<std::string, bool> ChildProcess::captured() const {
  std::lock_guard lock(mutex_);
  return {captured_, overflowed_};
}

std::string ChildProcess::stderr_tail() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& line : stderr_tail_) out += (out.empty() ? "" : " | ") + line;
  return out;
}

void ChildProcess::on_output(bool is_stderr, std::string_view data) {
  if (!is_stderr && spec_.stdout_mode == StdoutMode::capture) {
    std::lock_guard lock(mutex_);
    std::size_t room = capture_cap - std::min(capture_cap, captured_.size());
    captured_.append(data.substr(0, room));
    overflowed_ = overflowed_ || data.size() > room;
    return;
  }
  auto emit = [&](std::string_view line) {
    {
      std::lock_guard lock(mutex_);
      if (is_stderr) {
        stderr_tail_.emplace_back(line);
        if (stderr_tail_.size() > stderr_tail_lines) stderr_tail_.pop_front();
      } else if (!first_line_) {
        first_line_ = std::string(line);
        changed_.notify_all();
        return;
      }
    }
    if (spec_.log) spec_.log(is_stderr, line);
  };
  if (data.empty()) {
    (is_stderr ? stderr_lines_ : stdout_lines_).flush(emit);
  } else {
    (is_stderr ? stderr_lines_ : stdout_lines_).feed(data, emit);
  }
}

bool ChildProcess::reap() {
  ExitStatus status;
  {
    // Reaping under the mutex: signal() can never hit a recycled pid.
    std::lock_guard lock(mutex_);
    if (exit_) return true;
    siginfo_t info{};
    if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_), &info, WEXITED | WNOHANG) != 0 ||
        info.si_pid == 0) {
      return false;
    }
    if (info.si_code == CLD_EXITED) {
      status.code = info.si_status;
    } else {
      status.signal = info.si_status;
    }
    exit_ = status;
    if (stdin_fd_ >= 0) {
      ::close(stdin_fd_);
      stdin_fd_ = -1;
    }
  }
  changed_.notify_all();
  if (spec_.on_exit) spec_.on_exit(status);
  return true;
}

}  // namespace plugvisor::detail
