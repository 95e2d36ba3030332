// A plugin's sandbox: planned from its permissions and what the kernel
// offers, prepared before the child is started, entered in it before exec.
#pragma once

#include <linux/filter.h>
#include <sys/resource.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "plugvisor/manager.hpp"
#include "run_as.hpp"

namespace plugvisor::detail {

/// What the sandbox of one plugin does, and by which mechanism.
struct SandboxPlan {
  Permissions effective;
  /// The grant `effective` lies within. The paths of `effective` must still
  /// resolve inside it at each launch: a symbolic link planted since then
  /// does not widen the sandbox.
  Permissions granted;
  /// Readable besides effective.read: system paths, the plugin's directory.
  std::vector<std::filesystem::path> read;
  /// Writable besides effective.write: its socket directory, /dev/null.
  std::vector<std::filesystem::path> write;
  bool network_namespace = false;
  bool user_namespace = false;  ///< needed for the network namespace when not root
  bool loopback_up = false;
  int landlock_abi = 0;  ///< 0: no Landlock
  bool landlock_net = false;
  bool seccomp = false;
  bool limit_processes = false;
  /// The user and group it runs as (the manager is root); nullopt: the manager's.
  std::optional<RunAs> run_as;
  std::vector<SandboxMechanism> mechanisms;
};

/// Plans the sandbox of the plugin at `executable` with `effective`
/// permissions; `socket_dir` (empty for the capabilities probe) becomes
/// writable. With Enforcement::required, throws Error(start_failed) naming
/// each mechanism this machine lacks.
/// `run_as`: the user it runs as when the manager is root (plugin_run_as).
SandboxPlan plan_sandbox(const Permissions& effective, Transport transport, Enforcement enforce,
                         const std::filesystem::path& executable, const std::filesystem::path& socket_dir,
                         const std::optional<RunAs>& run_as);

/// The sandbox of a plugin with a grant (settings.grant set): it runs with
/// what it declares, which must lie within the grant. Throws
/// Error(start_failed) listing what the declaration asks beyond the grant,
/// or (enforce: required) the mechanisms missing here. `transport` is the
/// one the manager chose (never automatic).
std::shared_ptr<const SandboxPlan> plan_plugin_sandbox(const std::optional<Permissions>& declared,
                                                       const PluginSettings& settings, Transport transport,
                                                       const std::filesystem::path& executable,
                                                       const std::filesystem::path& socket_dir);

/// A plan made ready for a launch: the Landlock ruleset open, the seccomp
/// program built, the id maps written out. Read-only afterwards; the child
/// uses it between vfork and exec with async-signal-safe calls only, which
/// allocate nothing and take no lock (process/child_start.cpp).
class PreparedSandbox {
 public:
  /// Throws Error(start_failed) if the Landlock ruleset cannot be built.
  static std::shared_ptr<const PreparedSandbox> prepare(const SandboxPlan& plan);
  ~PreparedSandbox();
  PreparedSandbox(const PreparedSandbox&) = delete;
  PreparedSandbox& operator=(const PreparedSandbox&) = delete;

  /// In the child, before its stdio is set up: namespaces, the user and
  /// group (setgroups, setgid, setuid), rlimits, no_new_privs, Landlock. Returns nullptr, or the failed step's name with errno set.
  const char* enter() const noexcept;
  /// In the child, last before exec: the seccomp filter.
  const char* install_filter() const noexcept;

 private:
  PreparedSandbox() = default;
  int landlock_fd_ = -1;
  bool network_namespace_ = false, user_namespace_ = false, loopback_up_ = false;
  rlim_t processes_ = 0;
  std::optional<RunAs> run_as_;
  std::string uid_map_, gid_map_;
  std::vector<sock_filter> filter_;
};

}  // namespace plugvisor::detail
