#include "kernel_support.hpp"

#include <linux/landlock.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace plugvisor::detail {

namespace {

// Tries unshare(flags) in a short-lived child (a fork of a threaded process
// that only makes system calls before _exit). Returns 0 or the errno.
int try_unshare(int flags) {
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(::unshare(flags) == 0 ? 0 : errno & 0xff);
  if (pid < 0) return errno;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : EPERM;
}

KernelSupport measure() {
  KernelSupport out;
  out.root = ::geteuid() == 0;
  long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi > 0) {
    out.landlock_abi = static_cast<int>(abi);
  } else {
    out.landlock_note = errno == EOPNOTSUPP ? "Landlock is built into this kernel but not enabled (add landlock to "
                                              "the lsm= boot parameter)"
                                            : "this kernel has no Landlock (Linux 5.13 or later with "
                                              "CONFIG_SECURITY_LANDLOCK)";
  }
  out.seccomp = ::prctl(PR_GET_SECCOMP) >= 0;
  int error = try_unshare(CLONE_NEWNET);
  if (error == 0) {
    out.network_namespace = true;
  } else {
    int user_error = try_unshare(CLONE_NEWUSER | CLONE_NEWNET);
    if (user_error == 0) {
      out.network_namespace = out.user_namespace = true;
    } else {
      out.network_note = std::string("cannot make a network namespace: ") + std::strerror(error) +
                         ", and not inside a user namespace either: " + std::strerror(user_error) +
                         " (unprivileged user namespaces may be disabled: sysctl user.max_user_namespaces, "
                         "kernel.apparmor_restrict_unprivileged_userns)";
    }
  }
  return out;
}

}  // namespace

const KernelSupport& kernel_support() {
  static const KernelSupport support = measure();
  return support;
}

}  // namespace plugvisor::detail
