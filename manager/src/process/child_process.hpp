// A child process launched by the ProcessReactor, as its owner sees it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "process/integrity.hpp"
#include "process/line_buffer.hpp"
#include "process/log_limiter.hpp"
#include "plugvisor/manager.hpp"
#include "sandbox/sandbox.hpp"

namespace plugvisor::detail {

/// How a child ended.
struct ExitStatus {
  int code = 0;    ///< exit code, when signal == 0
  int signal = 0;  ///< the terminating signal, or 0
  bool clean() const { return signal == 0 && code == 0; }
  /// "exited with code 1", "killed by SIGKILL", "exited normally".
  std::string describe() const;
};

/// What to do with the child's stdout.
enum class StdoutMode {
  capture,    ///< keep every byte (up to a cap), for `capabilities`
  /// The first line is the handshake, every later line is log. The owner's
  /// wait_first_line() reads stdout until that line has come, then hands it
  /// to the reactor: call it once the child is started.
  handshake,
};

/// Where the child's log lines go: (is_stderr, line).
using LineSink = std::function<void(bool is_stderr, std::string_view line)>;

/// What to launch. No shell is involved: `args` go straight to execve.
struct SpawnSpec {
  std::string path;
  std::vector<std::string> args;  ///< argv[1..]
  std::vector<std::string> env;   ///< the whole environment, "NAME=value"
  bool pipe_stdin = false;        ///< a pipe the owner writes to; else /dev/null
  /// The first bytes of a piped stdin (the launch configuration): as much as
  /// the pipe holds is written before the child starts, so that it does not
  /// wait for its owner to be scheduled; write_stdin_data() writes the rest.
  std::string stdin_data;
  StdoutMode stdout_mode = StdoutMode::handshake;
  LineSink log;                   ///< called on the reactor thread; must not block
  std::size_t log_lines_per_second = 500;  ///< rate limit of `log` (burst: twice as many)
  ResourceLimits limits;          ///< applied with setrlimit in the child
  /// When set, the child executes this descriptor (what was checked is what
  /// runs) instead of opening `path` again; `path` is still argv[0].
  std::shared_ptr<const OpenedExecutable> executable;
  /// When set, the child enters this sandbox before exec.
  std::shared_ptr<const PreparedSandbox> sandbox;
  std::function<void(const ExitStatus&)> on_exit;  ///< called on the reactor thread after reaping
};

/// A launched child. Its pipes are read and it is reaped by the reactor
/// thread; every method here is thread-safe. The process group is the
/// child's own, so signals reach any children it forked.
class ChildProcess {
 public:
  static constexpr std::size_t capture_cap = 1024 * 1024;
  static constexpr std::size_t stderr_tail_lines = 20;

  /// `stdin_written`: the bytes of spec.stdin_data already in the pipe.
  ChildProcess(pid_t pid, int pidfd, int stdin_fd, SpawnSpec spec, std::size_t stdin_written = 0);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  /// Writes `data` to the child's stdin, giving up at `deadline`. Returns
  /// false if the pipe is closed, the child gone, or the deadline passed.
  bool write_stdin(std::string_view data, std::chrono::steady_clock::time_point deadline);
  /// Writes what the pipe did not take of SpawnSpec::stdin_data, as write_stdin.
  bool write_stdin_data(std::chrono::steady_clock::time_point deadline);
  /// Closes the child's stdin (it sees EOF). Safe to call twice.
  void close_stdin();

  /// Sends `sig` to the child's process group, unless it has been reaped.
  void signal(int sig);

  /// Waits until the child has exited, been reaped and its on_exit has run,
  /// or the deadline.
  std::optional<ExitStatus> wait_until(std::chrono::steady_clock::time_point deadline);
  /// The exit status if the child has been reaped.
  std::optional<ExitStatus> exit_status() const;

  /// Waits for the first stdout line (handshake mode). nullopt if the
  /// deadline passed or the child exited first. The calling thread reads
  /// stdout itself until then (no hand-over through the reactor thread), and
  /// then gives it to the reactor for the later lines.
  std::optional<std::string> wait_first_line(std::chrono::steady_clock::time_point deadline);
  /// Handshake mode, for an owner that gives up before wait_first_line()
  /// (the launch failed before the handshake): stdout goes to the reactor as
  /// it is, and every line on it, the first included, is log. No effect once
  /// wait_first_line() has taken stdout. Safe to call twice.
  void give_up_first_line();
  /// True once the first stdout line (the handshake) has arrived.
  bool first_line_seen() const;
  /// Everything written to stdout (capture mode), and whether it overflowed the cap.
  std::pair<std::string, bool> captured() const;
  /// The last lines the child wrote to stderr, oldest first, joined by " | ".
  std::string stderr_tail() const;
  /// Log lines dropped by the rate limit so far.
  std::uint64_t dropped_lines() const;

 private:
  friend class ProcessReactor;

  // Called by the thread that holds the stream: the reactor, or for stdout
  // until the handshake, the one in wait_first_line.
  void on_output(bool is_stderr, std::string_view data);
  // wait_first_line's read of stdout; returns once the first line has come,
  // stdout ended, the child exited or the deadline passed.
  void read_first_line(int fd, std::chrono::steady_clock::time_point deadline);
  // Reaps the child if it has exited; returns whether it has.
  bool reap();

  const pid_t pid_;
  const int pidfd_;
  SpawnSpec spec_;
  const std::size_t stdin_written_;
  // Handshake mode: stdout's read end, lent by the reactor until the first
  // line has been read (then handed back with give_back_stdout_), and the
  // way back, which is safe to call after the reactor has gone.
  int lent_stdout_fd_ = -1;  // guarded by mutex_
  std::function<void(int fd)> give_back_stdout_;
  std::string stdout_rest_;  // read past the first line; fed by the reactor when it adopts stdout

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  int stdin_fd_;
  std::optional<ExitStatus> exit_;
  bool exit_handled_ = false;
  std::optional<std::string> first_line_;
  bool first_line_given_up_ = false;  // give_up_first_line(): the first line is log too
  std::string captured_;
  bool overflowed_ = false;
  std::deque<std::string> stderr_tail_;
  LineBuffer stdout_lines_;
  LineBuffer stderr_lines_;
  LogLimiter limiter_;
};

}  // namespace plugvisor::detail
