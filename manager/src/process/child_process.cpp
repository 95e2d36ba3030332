#include "process/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace plugvisor::detail {

namespace {

// Log lines are text: control bytes and invalid UTF-8 become \xNN escapes.
std::string printable(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size();) {
    auto c = static_cast<unsigned char>(raw[i]);
    std::size_t length = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool valid = length > 0 && i + length <= raw.size();
    for (std::size_t k = 1; valid && k < length; ++k) {
      valid = (static_cast<unsigned char>(raw[i + k]) & 0xC0) == 0x80;
    }
    if (valid && (c >= 0x20 || c == '\t') && c != 0x7F) {
      out.append(raw.substr(i, length));
      i += length;
    } else {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
      i += 1;
    }
  }
  return out;
}

// write(2) to a pipe whose reader has died raises SIGPIPE, which would kill the
// host. The manager is a library and must not change the host's disposition, so
// the signal is blocked in this thread for the write and the one the write
// raised (pending on this thread, since it is thread-directed) is consumed.
ssize_t write_without_sigpipe(int fd, const void* data, std::size_t size) {
  sigset_t pipe_only, previous;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &previous);
  sigset_t pending;
  sigpending(&pending);
  bool already_pending = sigismember(&pending, SIGPIPE) == 1;
  ssize_t n = ::write(fd, data, size);
  int saved = errno;
  if (n < 0 && saved == EPIPE && !already_pending) {
    timespec zero{};
    while (sigtimedwait(&pipe_only, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  errno = saved;
  return n;
}

}  // namespace

std::string ExitStatus::describe() const {
  if (signal != 0) {
    const char* name = sigabbrev_np(signal);
    return std::string("killed by ") + (name ? std::string("SIG") + name : "signal " + std::to_string(signal));
  }
  return code == 0 ? "exited normally (code 0)" : "exited with code " + std::to_string(code);
}

ChildProcess::ChildProcess(pid_t pid, int pidfd, int stdin_fd, SpawnSpec spec, std::size_t stdin_written)
    : pid_(pid),
      pidfd_(pidfd),
      spec_(std::move(spec)),
      stdin_written_(stdin_written),
      stdin_fd_(stdin_fd),
      limiter_(spec_.log_lines_per_second) {}

bool ChildProcess::write_stdin_data(std::chrono::steady_clock::time_point deadline) {
  std::string_view rest(spec_.stdin_data);
  return write_stdin(rest.substr(std::min(stdin_written_, rest.size())), deadline);
}

std::uint64_t ChildProcess::dropped_lines() const {
  std::lock_guard lock(mutex_);
  return limiter_.dropped_total();
}

ChildProcess::~ChildProcess() {
  close_stdin();
  if (lent_stdout_fd_ >= 0) ::close(lent_stdout_fd_);  // wait_first_line() was never called
  if (pidfd_ >= 0) ::close(pidfd_);
}

bool ChildProcess::write_stdin(std::string_view data, std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  while (!data.empty()) {
    if (stdin_fd_ < 0 || exit_) return false;
    ssize_t n = write_without_sigpipe(stdin_fd_, data.data(), data.size());
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
  changed_.wait_until(lock, deadline, [&] { return exit_handled_; });
  return exit_handled_ ? exit_ : std::nullopt;
}

std::optional<ExitStatus> ChildProcess::exit_status() const {
  std::lock_guard lock(mutex_);
  return exit_;
}

std::optional<std::string> ChildProcess::wait_first_line(std::chrono::steady_clock::time_point deadline) {
  int fd;
  {
    std::lock_guard lock(mutex_);
    fd = std::exchange(lent_stdout_fd_, -1);  // a second caller waits below for the first one's reading
  }
  if (fd >= 0) read_first_line(fd, deadline);
  std::unique_lock lock(mutex_);
  changed_.wait_until(lock, deadline, [&] { return first_line_.has_value() || exit_.has_value(); });
  return first_line_;
}

// The launching thread reads the handshake line itself rather than wait for
// the reactor thread to read it and wake it: one hand-over between threads
// fewer on every launch. The reactor does not poll stdout meanwhile; it gets
// the descriptor back for the later lines.
void ChildProcess::read_first_line(int fd, std::chrono::steady_clock::time_point deadline) {
  char buffer[4096];
  bool exited = false;
  while (!first_line_seen()) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      // Up to the end of the first line; what follows is log, for the
      // reactor thread (the sinks' thread) once stdout is back there.
      std::string_view chunk(buffer, static_cast<std::size_t>(n));
      const std::size_t newline = chunk.find('\n');
      if (newline != std::string_view::npos) stdout_rest_.assign(chunk.substr(newline + 1));
      on_output(false, chunk.substr(0, newline == std::string_view::npos ? chunk.size() : newline + 1));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 || errno != EAGAIN) {
      // End of stream (or an error): a last partial line counts, as when the
      // reactor reads it; nothing more will come, so there is nothing to give back.
      on_output(false, {});
      ::close(fd);
      return;
    }
    // Once the child has exited, everything it wrote has been read.
    if (exited) break;
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) break;
    // The child's exit ends the wait too: a grandchild may hold stdout open.
    pollfd fds[2] = {{fd, POLLIN, 0}, {pidfd_, POLLIN, 0}};
    if (::poll(fds, 2, static_cast<int>(std::min<long long>(left, 60'000))) < 0 && errno != EINTR) break;
    exited = fds[1].revents != 0;
  }
  std::function<void(int)> give_back;
  {
    std::lock_guard lock(mutex_);
    give_back = give_back_stdout_;
  }
  if (give_back) {
    give_back(fd);
  } else {
    ::close(fd);
  }
}

void ChildProcess::give_up_first_line() {
  int fd;
  std::function<void(int)> give_back;
  {
    std::lock_guard lock(mutex_);
    fd = std::exchange(lent_stdout_fd_, -1);
    if (fd < 0) return;  // wait_first_line() has it, or had it
    first_line_given_up_ = true;
    give_back = give_back_stdout_;
  }
  if (give_back) {
    give_back(fd);
  } else {
    ::close(fd);
  }
}

bool ChildProcess::first_line_seen() const {
  std::lock_guard lock(mutex_);
  return first_line_.has_value();
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
  auto emit = [&](std::string_view raw) {
    std::string line = printable(raw);
    std::uint64_t dropped_before = 0;
    {
      std::lock_guard lock(mutex_);
      if (!is_stderr && !first_line_ && !first_line_given_up_) {
        first_line_ = std::string(raw);
        changed_.notify_all();
        return;
      }
      if (is_stderr) {
        stderr_tail_.emplace_back(line);
        if (stderr_tail_.size() > stderr_tail_lines) stderr_tail_.pop_front();
      }
      if (!limiter_.admit(std::chrono::steady_clock::now(), dropped_before)) return;
    }
    if (!spec_.log) return;
    if (dropped_before > 0) {
      spec_.log(true, "[plugvisor] " + std::to_string(dropped_before) + " log line(s) dropped: over " +
                          std::to_string(spec_.log_lines_per_second) + " lines/s");
    }
    spec_.log(is_stderr, line);
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
    // Whatever the plugin forked dies with it: its process group outlives the
    // leader only through such stragglers (and the id is not reused while
    // the group exists, so this reaches no one else).
    ::kill(-pid_, SIGKILL);
    if (stdin_fd_ >= 0) {
      ::close(stdin_fd_);
      stdin_fd_ = -1;
    }
  }
  if (spec_.on_exit) spec_.on_exit(status);
  {
    std::lock_guard lock(mutex_);
    exit_handled_ = true;
  }
  changed_.notify_all();
  return true;
}

}  // namespace plugvisor::detail
