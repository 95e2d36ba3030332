#include "process/child_start.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

// Between vfork and exec the child shares the host's memory while the
// launching thread waits, and the host's other threads keep running. So the
// child:
// - calls only async-signal-safe functions that take no lock and allocate
//   nothing (no malloc, no stdio, no glibc set*id wrappers: those signal
//   every thread they believe the process has; the sandbox makes the raw
//   system calls);
// - writes to no memory but its own stack frames (errno is the launching
//   thread's, which is waiting);
// - runs none of the host's signal handlers: every signal is blocked around
//   the vfork, and the child sets each caught signal to its default before
//   unblocking (exec would reset them anyway; ignored ones stay ignored, as
//   across a fork).
// It ends in exec or _exit, never by returning.

namespace plugvisor::detail {

namespace {

constexpr int exec_failed_code = 127;

// The executable's descriptor sits at this number in the child; a `#!`
// script gets it open across the exec, as /dev/fd/4 for its interpreter.
constexpr int exec_fd_number = 4;

constexpr const char* child_steps[] = {"execute", "set up the sandbox", "install the seccomp filter"};

void limit(int resource, rlim_t value) {
  rlimit current{};
  ::getrlimit(resource, &current);
  rlimit wanted{value, value};
  if (current.rlim_max != RLIM_INFINITY && current.rlim_max < value) wanted = current;
  ::setrlimit(resource, &wanted);
}

[[noreturn]] void fail_in_child(int fd, int step, const char* what) {
  ChildFailure failure{errno, step};
  [[maybe_unused]] auto n = ::write(fd, &failure, sizeof failure);
  // The step's own name (it fits a pipe's atomic write) follows for the message.
  if (what) n = ::write(fd, what, ::strnlen(what, 200));
  ::_exit(exec_failed_code);
}

// The host's handlers must not run in the child (they would run on the
// host's memory): back to the default for each caught signal, then the
// dispositions a plugin expects whatever the host ignores.
void default_signal_dispositions() {
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction current {};
    if (::sigaction(sig, nullptr, &current) != 0) continue;  // glibc's own (SIGCANCEL, SIGSETXID)
    if (current.sa_handler == SIG_DFL || current.sa_handler == SIG_IGN) continue;
    struct sigaction fallback {};
    fallback.sa_handler = SIG_DFL;
    ::sigaction(sig, &fallback, nullptr);
  }
  for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD}) ::signal(sig, SIG_DFL);
}

[[noreturn]] void exec_child(const SpawnSpec& spec, char* const* argv, char* const* envp, const ChildFds& fds,
                             pid_t parent) {
  const ResourceLimits& limits = spec.limits;
  default_signal_dispositions();
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (::getppid() != parent) ::_exit(exec_failed_code);  // the parent died before prctl
  ::setpgid(0, 0);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (limits.memory_bytes > 0) limit(RLIMIT_AS, limits.memory_bytes);
  if (limits.open_files > 0) limit(RLIMIT_NOFILE, limits.open_files);
  if (limits.cpu_time.count() > 0) {
    // The soft limit sends SIGXCPU (reported as "CPU time limit"); the hard
    // limit, a second later, SIGKILL for a plugin that ignores it.
    rlimit cpu{static_cast<rlim_t>(limits.cpu_time.count()), static_cast<rlim_t>(limits.cpu_time.count() + 1)};
    ::setrlimit(RLIMIT_CPU, &cpu);
  }
  if (spec.sandbox) {
    if (const char* step = spec.sandbox->enter()) fail_in_child(fds.error_fd, 1, step);
  }
  // Move the error pipe and the executable out of the way, then set up stdio.
  int err = ::fcntl(fds.error_fd, F_DUPFD_CLOEXEC, 10);
  int exe = spec.executable ? ::fcntl(spec.executable->fd(), F_DUPFD_CLOEXEC, 10) : -1;
  if (err < 0 || (spec.executable && exe < 0) || ::dup2(fds.stdin_fd, 0) < 0 || ::dup2(fds.stdout_fd, 1) < 0 ||
      ::dup2(fds.stderr_fd, 2) < 0) {
    ::_exit(exec_failed_code);
  }
  ::dup2(err, 3);
  ::fcntl(3, F_SETFD, FD_CLOEXEC);
  int first_closed = 4;
  if (exe >= 0) {
    ::dup2(exe, exec_fd_number);
    ::fcntl(exec_fd_number, F_SETFD, spec.executable->script() ? 0 : FD_CLOEXEC);
    first_closed = exec_fd_number + 1;
  }
  // Nothing else the manager holds (sockets to other plugins, their pipes)
  // may leak into the plugin.
  ::syscall(SYS_close_range, static_cast<unsigned>(first_closed), ~0U, 0U);
  if (spec.sandbox) {
    if (const char* step = spec.sandbox->install_filter()) fail_in_child(3, 2, step);
  }
  if (exe >= 0) {
    ::syscall(SYS_execveat, exec_fd_number, "", argv, envp, AT_EMPTY_PATH);
  } else {
    ::execve(spec.path.c_str(), argv, envp);
  }
  fail_in_child(3, 0, nullptr);
}

}  // namespace

const char* child_step_name(int step) {
  return step >= 0 && step < static_cast<int>(std::size(child_steps)) ? child_steps[step] : child_steps[0];
}

pid_t start_child(const SpawnSpec& spec, char* const* argv, char* const* envp, const ChildFds& fds) {
  const pid_t parent = ::getpid();
  sigset_t all, previous;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
  // The launching thread waits here until the child has executed or exited.
  pid_t pid = ::vfork();
  if (pid == 0) exec_child(spec, argv, envp, fds, parent);
  int error = errno;
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  errno = error;
  return pid;
}

}  // namespace plugvisor::detail
