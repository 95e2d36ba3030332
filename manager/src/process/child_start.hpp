// Starting a plugin process: vfork, the child's set-up (limits, sandbox,
// stdio) and exec. The one place where code runs in the child before exec.
#pragma once

#include <sys/types.h>

#include "process/child_process.hpp"

namespace plugvisor::detail {

/// The descriptors the child gets: its stdio, and the write end of the
/// exec-error pipe (close-on-exec: it reaches EOF when the exec succeeds).
struct ChildFds {
  int stdin_fd;
  int stdout_fd;
  int stderr_fd;
  int error_fd;
};

/// What a child that could not exec writes to the error pipe, followed by up
/// to 200 bytes naming what failed (the sandbox's step), then it exits 127.
struct ChildFailure {
  int error;  ///< errno of the failed step
  int step;   ///< see child_step_name
};

/// "execute", "set up the sandbox", "install the seccomp filter", for the
/// parent's message.
const char* child_step_name(int step);

/// Starts `spec` as a child of the calling thread (which must outlive it:
/// PR_SET_PDEATHSIG is tied to it) and returns its pid once it has executed
/// the program or failed to (then its ChildFailure is in the error pipe);
/// -1 with errno set if no process could be created. `argv` and `envp` are
/// built by the caller: the child allocates nothing.
///
/// The child is created with vfork: it borrows the host's address space
/// until the exec instead of copying its page tables, so a launch costs the
/// same whatever the host's size, and the host's fork handlers
/// (pthread_atfork) do not run. What the child does before the exec is the
/// same as after a fork; see child_start.cpp for the rules that keeps.
pid_t start_child(const SpawnSpec& spec, char* const* argv, char* const* envp, const ChildFds& fds);

}  // namespace plugvisor::detail
