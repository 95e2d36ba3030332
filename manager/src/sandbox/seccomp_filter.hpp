// The seccomp-bpf program every sandboxed plugin runs under.
#pragma once

#include <linux/filter.h>

#include <vector>

namespace plugvisor::detail {

/// A filter that answers EPERM to the system calls no plugin needs (ptrace,
/// mount, kexec, bpf, module loading, namespaces, io_uring...; the list is in
/// docs/security.md), ENOSYS to clone3 (glibc falls back to clone, whose flags
/// a filter can see), EPERM to clone with a namespace flag, and kills a
/// process that calls from another architecture's table. Empty on an
/// architecture this build does not know.
std::vector<sock_filter> seccomp_program();

}  // namespace plugvisor::detail
