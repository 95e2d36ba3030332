#include "seccomp_filter.hpp"

#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/syscall.h>

#include <cerrno>
#include <cstddef>

namespace plugvisor::detail {

namespace {

struct Blocked {
  long nr;
  const char* name;
};

#define PLUGVISOR_BLOCK(name) {SYS_##name, #name}

// Calls that change the system, reach into other processes, or open kernel
// attack surface no plugin needs.
const std::vector<Blocked>& blocked() {
  static const std::vector<Blocked> list{
      PLUGVISOR_BLOCK(ptrace),          PLUGVISOR_BLOCK(process_vm_readv), PLUGVISOR_BLOCK(process_vm_writev),
      PLUGVISOR_BLOCK(pidfd_getfd),     PLUGVISOR_BLOCK(mount),            PLUGVISOR_BLOCK(umount2),
      PLUGVISOR_BLOCK(pivot_root),      PLUGVISOR_BLOCK(chroot),           PLUGVISOR_BLOCK(swapon),
      PLUGVISOR_BLOCK(swapoff),         PLUGVISOR_BLOCK(reboot),           PLUGVISOR_BLOCK(kexec_load),
      PLUGVISOR_BLOCK(kexec_file_load), PLUGVISOR_BLOCK(init_module),      PLUGVISOR_BLOCK(finit_module),
      PLUGVISOR_BLOCK(delete_module),   PLUGVISOR_BLOCK(bpf),              PLUGVISOR_BLOCK(perf_event_open),
      PLUGVISOR_BLOCK(userfaultfd),     PLUGVISOR_BLOCK(keyctl),           PLUGVISOR_BLOCK(add_key),
      PLUGVISOR_BLOCK(request_key),     PLUGVISOR_BLOCK(unshare),          PLUGVISOR_BLOCK(setns),
      PLUGVISOR_BLOCK(open_by_handle_at), PLUGVISOR_BLOCK(name_to_handle_at), PLUGVISOR_BLOCK(acct),
      PLUGVISOR_BLOCK(quotactl),        PLUGVISOR_BLOCK(settimeofday),     PLUGVISOR_BLOCK(clock_settime),
      PLUGVISOR_BLOCK(clock_adjtime),   PLUGVISOR_BLOCK(adjtimex),         PLUGVISOR_BLOCK(syslog),
      PLUGVISOR_BLOCK(fanotify_init),   PLUGVISOR_BLOCK(mount_setattr),    PLUGVISOR_BLOCK(fsopen),
      PLUGVISOR_BLOCK(fsconfig),        PLUGVISOR_BLOCK(fsmount),          PLUGVISOR_BLOCK(fspick),
      PLUGVISOR_BLOCK(move_mount),      PLUGVISOR_BLOCK(open_tree),        PLUGVISOR_BLOCK(vhangup),
      PLUGVISOR_BLOCK(sethostname),     PLUGVISOR_BLOCK(setdomainname),    PLUGVISOR_BLOCK(io_uring_setup),
      PLUGVISOR_BLOCK(io_uring_enter),  PLUGVISOR_BLOCK(io_uring_register),
#ifdef SYS_iopl
      PLUGVISOR_BLOCK(iopl),            PLUGVISOR_BLOCK(ioperm),
#endif
  };
  return list;
}

#undef PLUGVISOR_BLOCK

sock_filter stmt(unsigned short code, unsigned k) { return BPF_STMT(code, k); }
sock_filter jump(unsigned short code, unsigned k, unsigned char jt, unsigned char jf) {
  return BPF_JUMP(code, k, jt, jf);
}

#if defined(__x86_64__)
constexpr unsigned arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr unsigned arch = AUDIT_ARCH_AARCH64;
#else
constexpr unsigned arch = 0;
#endif

constexpr unsigned namespace_flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
                                     CLONE_NEWNET | CLONE_NEWCGROUP;

}  // namespace

std::vector<sock_filter> seccomp_program() {
  if (arch == 0) return {};
  const unsigned deny = SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA);
  std::vector<sock_filter> p;
  p.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)));
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0));
  p.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
  p.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)));
#if defined(__x86_64__)
  // The x32 table shares the architecture value: its numbers have bit 30 set.
  p.push_back(jump(BPF_JMP | BPF_JGE | BPF_K, 0x40000000U, 0, 1));
  p.push_back(stmt(BPF_RET | BPF_K, deny));
#endif
  for (const auto& b : blocked()) {
    p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(b.nr), 0, 1));
    p.push_back(stmt(BPF_RET | BPF_K, deny));
  }
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1));
  p.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)));
  // clone(flags, ...): flags are the first argument on x86_64 and aarch64.
  p.push_back(jump(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 3));
  p.push_back(stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0])));  // low half (little-endian)
  p.push_back(jump(BPF_JMP | BPF_JSET | BPF_K, namespace_flags, 0, 1));
  p.push_back(stmt(BPF_RET | BPF_K, deny));
  p.push_back(stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
  return p;
}

}  // namespace plugvisor::detail
