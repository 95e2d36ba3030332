// What this kernel, and the manager's privileges, offer a sandbox.
#pragma once

#include <string>

namespace plugvisor::detail {

/// Measured once per process, on first use (thread-safe).
struct KernelSupport {
  /// Landlock ABI version; 0 when Landlock is missing or disabled.
  int landlock_abi = 0;
  std::string landlock_note;
  /// seccomp-bpf filters can be installed.
  bool seccomp = false;
  /// A network namespace can be made: as root directly, else inside a new
  /// user namespace (user_namespace is then true).
  bool network_namespace = false;
  bool user_namespace = false;
  std::string network_note;
  /// The manager runs as root, whom the kernel exempts from RLIMIT_NPROC.
  bool root = false;
};

const KernelSupport& kernel_support();

}  // namespace plugvisor::detail
