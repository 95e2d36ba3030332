#include "sandbox.hpp"

#include <fcntl.h>
#include <linux/landlock.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <fstream>
#include <optional>

#include "kernel_support.hpp"
#include "permissions.hpp"
#include "seccomp_filter.hpp"

namespace plugvisor::detail {

namespace {

namespace fs = std::filesystem;

// Debian 12's kernel headers (6.1) stop at Landlock ABI 2; the kernel this
// runs on may be newer. The ABI is stable, so the later parts are spelled
// out here; each is used only when landlock_create_ruleset reports its ABI.
constexpr std::uint64_t fs_truncate = 1ULL << 14;   // ABI 3
constexpr std::uint64_t fs_ioctl_dev = 1ULL << 15;  // ABI 5
constexpr std::uint64_t net_bind_tcp = 1ULL << 0;   // ABI 4
constexpr std::uint64_t net_connect_tcp = 1ULL << 1;
constexpr std::uint64_t scope_abstract_unix_socket = 1ULL << 0;  // ABI 6
constexpr std::uint64_t scope_signal = 1ULL << 1;
struct RulesetAttr {
  std::uint64_t handled_access_fs;
  std::uint64_t handled_access_net;  // ABI 4
  std::uint64_t scoped;              // ABI 6
};

// What any program needs to start: the loader, libraries, interpreters,
// time zone, CPU count. Not /etc as a whole (it holds /etc/shadow).
const std::vector<fs::path> system_read{
    "/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin", "/etc/ld.so.cache", "/etc/ld.so.conf",
    "/etc/ld.so.conf.d", "/etc/localtime", "/etc/nsswitch.conf", "/proc", "/sys/devices/system/cpu",
    "/sys/fs/cgroup", "/dev/urandom", "/dev/random", "/etc/ssl/openssl.cnf"};
// What a plugin with outbound network needs to resolve names and check certificates.
const std::vector<fs::path> network_read{"/etc/resolv.conf", "/etc/hosts", "/etc/gai.conf", "/etc/services",
                                         "/etc/protocols", "/etc/ssl", "/etc/host.conf"};
const std::vector<fs::path> system_write{"/dev/null"};

// The installation a `#!` line's interpreter belongs to: PREFIX for
// PREFIX/bin/NAME (its libraries are below PREFIX), else its directory.
std::optional<fs::path> interpreter_root(const fs::path& executable) {
  std::ifstream in(executable, std::ios::binary);
  char head[256] = {};
  in.read(head, sizeof head - 1);
  std::string line(head, static_cast<std::size_t>(in.gcount()));
  if (!line.starts_with("#!")) return std::nullopt;
  line = line.substr(2, line.find('\n') == std::string::npos ? std::string::npos : line.find('\n') - 2);
  auto start = line.find_first_not_of(" \t");
  if (start == std::string::npos) return std::nullopt;
  fs::path interpreter = line.substr(start, line.find_first_of(" \t", start) - start);
  std::error_code ec;
  fs::path real = fs::canonical(interpreter, ec);
  if (ec || !real.is_absolute()) return std::nullopt;
  fs::path dir = real.parent_path();
  return dir.filename() == "bin" && dir.parent_path() != "/" ? dir.parent_path() : dir;
}

void add(std::vector<SandboxMechanism>& out, std::string what, std::string mechanism, std::string note = "") {
  bool enforced = note.empty();
  out.push_back({std::move(what), std::move(mechanism), enforced, std::move(note)});
}

std::uint64_t fs_rights(int abi) {
  std::uint64_t rights = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1;  // ABI 1
  if (abi >= 2) rights |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3) rights |= fs_truncate;
  if (abi >= 5) rights |= fs_ioctl_dev;
  return rights;
}

constexpr std::uint64_t file_rights_mask = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |
                                           LANDLOCK_ACCESS_FS_READ_FILE | fs_truncate | fs_ioctl_dev;

// Adds a rule for `path` if it exists; a file gets only the rights a file
// can have. With `no_symlinks`, a path that holds a symbolic link anywhere
// is not followed (openat2 RESOLVE_NO_SYMLINKS): it was resolved and checked
// just before, and must not be swapped in between.
void allow(int ruleset, const fs::path& path, std::uint64_t rights, bool no_symlinks = false) {
  int fd = -1;
  if (no_symlinks) {
    open_how how{};
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = RESOLVE_NO_SYMLINKS;
    fd = static_cast<int>(::syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof how));
    if (fd < 0 && errno == ELOOP) {
      throw Error(ErrorCode::start_failed, "the permitted path " + path.string() + " changed into a symbolic link "
                                           "while the sandbox was prepared: not started");
    }
  } else {
    fd = ::open(path.c_str(), O_PATH | O_CLOEXEC);
  }
  if (fd < 0) return;  // nothing there to allow
  struct stat st{};
  if (::fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode)) rights &= file_rights_mask;
  landlock_path_beneath_attr rule{rights, fd};
  long result = ::syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
  int error = errno;
  ::close(fd);
  if (result != 0) {
    throw Error(ErrorCode::start_failed,
                "cannot add the Landlock rule for " + path.string() + ": " + std::strerror(error));
  }
}

// Like allow(), for a path from a declaration or grant: what it resolves to
// now (symbolic links followed, as Landlock will) must lie within `roots`
// resolved the same way. Throws Error(start_failed) when it does not.
void allow_within(int ruleset, const fs::path& path, std::uint64_t rights, const std::vector<fs::path>& roots) {
  std::error_code ec;
  fs::path real = fs::canonical(path, ec);
  if (ec) return;  // nothing there (yet) to allow
  bool inside = std::any_of(roots.begin(), roots.end(), [&](const fs::path& root) {
    std::error_code root_ec;
    fs::path real_root = fs::canonical(root, root_ec);
    return !root_ec && path_within(real, real_root);
  });
  if (!inside) {
    throw Error(ErrorCode::start_failed, "the permitted path " + path.string() + " resolves to " + real.string() +
                                             ", outside its grant (a symbolic link?): not started. Remove the link, "
                                             "or grant the target");
  }
  allow(ruleset, real, rights, true);
}

// Async-signal-safe helpers for the child.
bool write_file(const char* path, const std::string& text) {
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  int error = errno;
  ::close(fd);
  errno = error;
  return ok;
}

bool bring_loopback_up() {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ifreq request{};
  std::memcpy(request.ifr_name, "lo", 3);
  bool ok = ::ioctl(fd, SIOCGIFFLAGS, &request) == 0;
  if (ok) {
    request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
    ok = ::ioctl(fd, SIOCSIFFLAGS, &request) == 0;
  }
  int error = errno;
  ::close(fd);
  errno = error;
  return ok;
}

}  // namespace

SandboxPlan plan_sandbox(const Permissions& effective, Transport transport, Enforcement enforce,
                         const fs::path& executable, const fs::path& socket_dir, const std::optional<RunAs>& run_as) {
  const KernelSupport& kernel = kernel_support();
  SandboxPlan plan;
  plan.effective = effective;
  plan.granted = effective;
  auto& m = plan.mechanisms;

  add(m, "privileges", "no_new_privs (setuid and file capabilities have no effect)");
  plan.run_as = run_as;
  if (kernel.root) {
    if (run_as && run_as->uid != 0) {
      add(m, "user", "runs as " + run_as->text + ", not root (setgroups, setgid, setuid)");
    } else {
      add(m, "user", "a user other than root",
          "\"user\" is set to root, so the plugin runs as root: set it to another user, or leave it empty for "
          "nobody");
    }
  }

  const std::string network = "network " + std::string(to_string(effective.network));
  if (effective.network == NetworkAccess::outbound) {
    add(m, network, "the host's network (as granted)");
  } else if (transport == Transport::tcp) {
    add(m, network, "network namespace",
        "the tcp transport reaches the plugin over the host's loopback, so it cannot have a network namespace of "
        "its own: use the unix transport");
  } else if (!kernel.network_namespace) {
    add(m, network, "network namespace", kernel.network_note);
  } else {
    plan.network_namespace = true;
    plan.user_namespace = kernel.user_namespace;
    plan.loopback_up = effective.network == NetworkAccess::loopback;
    add(m, network, plan.loopback_up ? "network namespace with only lo up" : "network namespace without interfaces");
    if (effective.network == NetworkAccess::none && kernel.landlock_abi >= 4) {
      plan.landlock_net = true;
      add(m, "TCP bind and connect", "Landlock ABI " + std::to_string(kernel.landlock_abi) + " network rules");
    }
  }

  plan.read = system_read;
  if (effective.network == NetworkAccess::outbound) plan.read.insert(plan.read.end(), network_read.begin(), network_read.end());
  std::error_code ec;
  fs::path real = fs::canonical(executable, ec);
  plan.read.push_back((ec ? executable : real).parent_path());
  if (real != executable && !ec) plan.read.push_back(executable.parent_path());
  if (auto root = interpreter_root(executable)) plan.read.push_back(*root);
  plan.write = system_write;
  if (!socket_dir.empty()) plan.write.push_back(socket_dir);
  if (kernel.landlock_abi > 0) {
    plan.landlock_abi = kernel.landlock_abi;
    add(m, "file system", "Landlock ABI " + std::to_string(kernel.landlock_abi));
    if (kernel.landlock_abi >= 6) add(m, "signals and abstract Unix sockets", "Landlock scopes");
  } else {
    add(m, "file system", "Landlock", kernel.landlock_note);
  }

  if (kernel.seccomp && !seccomp_program().empty()) {
    plan.seccomp = true;
    add(m, "system calls", "seccomp-bpf");
  } else {
    add(m, "system calls", "seccomp-bpf", "this kernel or architecture has no seccomp filter support here");
  }

  if (effective.memory_bytes > 0) add(m, "memory", "RLIMIT_AS");
  if (effective.cpu_time.count() > 0) add(m, "CPU time", "RLIMIT_CPU");
  if (effective.processes > 0) {
    if (run_as && run_as->uid != 0) {
      plan.limit_processes = true;
      add(m, "processes", "RLIMIT_NPROC (counts every process of " + run_as->text + ")");
    } else if (kernel.root) {
      add(m, "processes", "RLIMIT_NPROC",
          "the plugin runs as root, whom the kernel exempts from RLIMIT_NPROC: give it another \"user\"");
    } else {
      plan.limit_processes = true;
      add(m, "processes", "RLIMIT_NPROC (counts every process of the manager's user)");
    }
  }

  if (enforce == Enforcement::required) {
    std::string missing;
    for (const auto& mechanism : m) {
      if (!mechanism.enforced) {
        missing += (missing.empty() ? "" : "; ") + mechanism.what + " needs " + mechanism.mechanism + ": " +
                   mechanism.note;
      }
    }
    if (!missing.empty()) {
      throw Error(ErrorCode::start_failed, "its sandbox is required (\"enforce\": \"required\"), but not every "
                                           "mechanism is available here: " + missing +
                                               " (or set \"enforce\": \"best-effort\" to start it without)");
    }
  }
  return plan;
}

std::shared_ptr<const SandboxPlan> plan_plugin_sandbox(const std::optional<Permissions>& declared,
                                                       const PluginSettings& settings, Transport transport,
                                                       const fs::path& executable, const fs::path& socket_dir) {
  const Permissions asked = declared.value_or(Permissions{});
  auto excess = permission_excess(asked, *settings.grant);
  if (!excess.empty()) {
    std::string list;
    for (const auto& item : excess) list += (list.empty() ? "" : "; ") + item;
    throw Error(ErrorCode::start_failed, "its capabilities ask for more than its grant: " + list +
                                             ". Grant it more in the plugin's \"permissions\" entry of the "
                                             "configuration, or use a plugin that needs less");
  }
  auto plan = plan_sandbox(narrow(asked, *settings.grant), transport, settings.enforce, executable, socket_dir,
                           plugin_run_as(settings));
  plan.granted = *settings.grant;
  return std::make_shared<const SandboxPlan>(std::move(plan));
}

std::shared_ptr<const PreparedSandbox> PreparedSandbox::prepare(const SandboxPlan& plan) {
  std::shared_ptr<PreparedSandbox> out(new PreparedSandbox());
  out->network_namespace_ = plan.network_namespace;
  out->user_namespace_ = plan.user_namespace;
  out->loopback_up_ = plan.loopback_up;
  if (plan.limit_processes) out->processes_ = plan.effective.processes;
  out->run_as_ = plan.run_as;
  if (plan.user_namespace) {
    // Map the manager's own ids, so files keep their owner and the plugin is
    // no one more powerful outside the namespace.
    out->uid_map_ = std::to_string(::geteuid()) + " " + std::to_string(::geteuid()) + " 1\n";
    out->gid_map_ = std::to_string(::getegid()) + " " + std::to_string(::getegid()) + " 1\n";
  }
  if (plan.seccomp) out->filter_ = seccomp_program();
  if (plan.landlock_abi > 0) {
    const std::uint64_t all = fs_rights(plan.landlock_abi);
    RulesetAttr attr{};
    attr.handled_access_fs = all;
    std::size_t size = sizeof attr.handled_access_fs;  // ABI 1-3
    if (plan.landlock_abi >= 4) {
      size = offsetof(RulesetAttr, scoped);
      if (plan.landlock_net) attr.handled_access_net = net_bind_tcp | net_connect_tcp;
    }
    if (plan.landlock_abi >= 6) {
      size = sizeof attr;
      attr.scoped = scope_abstract_unix_socket | scope_signal;
    }
    int fd = static_cast<int>(::syscall(SYS_landlock_create_ruleset, &attr, size, 0));
    if (fd < 0) throw Error(ErrorCode::start_failed, std::string("cannot create a Landlock ruleset: ") + std::strerror(errno));
    out->landlock_fd_ = fd;
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    const std::uint64_t read = LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
    for (const auto& path : plan.read) allow(fd, path, read);
    for (const auto& path : plan.write) allow(fd, path, all);
    std::vector<fs::path> readable = plan.granted.read;
    readable.insert(readable.end(), plan.granted.write.begin(), plan.granted.write.end());
    for (const auto& path : plan.effective.read) allow_within(fd, path, read, readable);
    for (const auto& path : plan.effective.write) allow_within(fd, path, all, plan.granted.write);
  }
  return out;
}

PreparedSandbox::~PreparedSandbox() {
  if (landlock_fd_ >= 0) ::close(landlock_fd_);
}

const char* PreparedSandbox::enter() const noexcept {
  if (network_namespace_) {
    if (::unshare(CLONE_NEWNET | (user_namespace_ ? CLONE_NEWUSER : 0)) != 0) return "unshare (network namespace)";
    if (user_namespace_) {
      if (!write_file("/proc/self/setgroups", "deny")) return "writing /proc/self/setgroups";
      if (!write_file("/proc/self/uid_map", uid_map_)) return "writing /proc/self/uid_map";
      if (!write_file("/proc/self/gid_map", gid_map_)) return "writing /proc/self/gid_map";
    }
    if (loopback_up_ && !bring_loopback_up()) return "bringing lo up";
  }
  // After what needs root (the namespace, lo), before the limits that count
  // the user's processes. Groups first: setgid and setgroups need root too.
  // The raw system calls: glibc's wrappers would make every thread of the
  // host change its ids too, which the child (vfork: the host's memory) must
  // not attempt (child_start.cpp).
  if (run_as_) {
    gid_t gid = run_as_->gid;
    if (::syscall(SYS_setgroups, 1, &gid) != 0) return "setgroups";
    if (::syscall(SYS_setgid, run_as_->gid) != 0) return "setgid";
    if (::syscall(SYS_setuid, run_as_->uid) != 0) return "setuid";
  }
  if (processes_ > 0) {
    rlimit limit{processes_, processes_};
    if (::setrlimit(RLIMIT_NPROC, &limit) != 0) return "setrlimit RLIMIT_NPROC";
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return "prctl PR_SET_NO_NEW_PRIVS";
  if (landlock_fd_ >= 0 && ::syscall(SYS_landlock_restrict_self, landlock_fd_, 0) != 0) return "landlock_restrict_self";
  return nullptr;
}

const char* PreparedSandbox::install_filter() const noexcept {
  if (filter_.empty()) return nullptr;
  sock_fprog program{static_cast<unsigned short>(filter_.size()), const_cast<sock_filter*>(filter_.data())};
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) != 0) return "seccomp";
  return nullptr;
}

}  // namespace plugvisor::detail

namespace plugvisor {

std::vector<SandboxMechanism> sandbox_mechanisms(const Permissions& permissions, Transport transport) {
  PluginSettings settings;
  settings.grant = permissions;
  std::optional<detail::RunAs> run_as;
  try {
    run_as = detail::plugin_run_as(settings);  // nobody, as the manager would
  } catch (const Error&) {
  }
  return detail::plan_sandbox(permissions, transport, Enforcement::best_effort, "/", {}, run_as).mechanisms;
}

}  // namespace plugvisor
