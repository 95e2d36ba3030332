#include "process/child_start.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
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
//   the vfork, and each caught signal is back at its default before the child
//   unblocks any (set by the kernel, CLONE_CLEAR_SIGHAND, where clone3 is
//   usable; else by the child; exec would reset them anyway; ignored ones
//   stay ignored, as across a fork).
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
// host's memory): back to the default for each caught signal (unless the
// kernel did it, CLONE_CLEAR_SIGHAND), then the dispositions a plugin
// expects whatever the host ignores.
void default_signal_dispositions(bool handlers_cleared) {
  for (int sig = 1; sig < NSIG && !handlers_cleared; ++sig) {
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
                             pid_t parent, bool handlers_cleared) {
  const ResourceLimits& limits = spec.limits;
  default_signal_dispositions(handlers_cleared);
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

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define PLUGVISOR_SANITIZED_STACK 1
#endif
#endif
#if defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__) && \
    !defined(PLUGVISOR_SANITIZED_STACK)
#define PLUGVISOR_CLONE3_VFORK 1

// vfork with CLONE_CLEAR_SIGHAND (Linux 5.5): the kernel resets every caught
// signal to its default in the child, in place of the child's 64 sigaction
// calls (about 15 us of every launch on the benchmark's VM, while the
// launching thread waits). clone3 has no glibc wrapper, and a child that
// shares the caller's stack must not return through a frame the parent still
// needs: so, as glibc's own vfork does, the return address is kept in a
// register (%rdx: clone3 takes two arguments, and `syscall` keeps it) and
// pushed back after the call, by the child and again by the parent.
// Sanitizer builds use vfork (ASan's interceptor mends the shared stack's
// shadow after it; it does not know this call).
extern "C" __attribute__((returns_twice)) long plugvisor_clone3_vfork(void* args, unsigned long size);
asm(R"(
    .text
    .globl plugvisor_clone3_vfork
    .hidden plugvisor_clone3_vfork
    .type plugvisor_clone3_vfork, @function
plugvisor_clone3_vfork:
    .cfi_startproc
    popq %rdx
    .cfi_adjust_cfa_offset -8
    .cfi_register %rip, %rdx
    movl $435, %eax
    syscall
    pushq %rdx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rip, 0
    ret
    .cfi_endproc
    .size plugvisor_clone3_vfork, .-plugvisor_clone3_vfork
)");

// struct clone_args of <linux/sched.h>, its first version (64 bytes).
struct CloneArgs {
  std::uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};
constexpr std::uint64_t clone_vm = 0x100, clone_vfork = 0x4000, clone_clear_sighand = 0x100000000ULL;

// Cleared once clone3 is refused (a kernel before 5.5, or a seccomp policy
// that answers ENOSYS, as container runtimes' defaults do): vfork from then on.
std::atomic<bool> clone3_usable{true};
#endif

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
  pid_t pid = -1;
  int error = 0;
#ifdef PLUGVISOR_CLONE3_VFORK
  if (clone3_usable.load(std::memory_order_relaxed)) {
    CloneArgs args{};
    args.flags = clone_vm | clone_vfork | clone_clear_sighand;
    args.exit_signal = SIGCHLD;
    long result = plugvisor_clone3_vfork(&args, sizeof args);
    if (result == 0) exec_child(spec, argv, envp, fds, parent, true);
    if (result > 0) {
      pid = static_cast<pid_t>(result);
    } else if (result == -ENOSYS || result == -EINVAL || result == -EPERM) {
      clone3_usable.store(false, std::memory_order_relaxed);
    } else {
      error = static_cast<int>(-result);
    }
  }
  if (pid < 0 && error == 0)
#endif
  {
    pid = ::vfork();
    if (pid == 0) exec_child(spec, argv, envp, fds, parent, false);
    error = errno;
  }
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  errno = error;
  return pid;
}

}  // namespace plugvisor::detail
