// plugvisor daemon: the manager as a long-running supervisor with an admin
// API (docs/admin-api.md) on a Unix socket and, optionally, loopback TCP.
//
//   plugvisor::Daemon daemon({.config_file = "/etc/plugvisor/plugvisor.jsonc"});
//   daemon.reload();   // e.g. on SIGHUP; a bad file throws and changes nothing
//
// `plugvisor serve` is this class plus signal handling.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/fwd.h>

#include "plugvisor/manager.hpp"

namespace plugvisor {

// ---------------------------------------------------------------------------
// Configuration files (docs/configuration.md): what `plugvisor serve` reads

/// Where a supervisor daemon's admin API listens.
struct AdminOptions {
  /// The admin Unix socket. Default: default_admin_socket().
  std::filesystem::path socket;
  /// "HOST:PORT" on a loopback address (127.x.x.x, [::1] or localhost); empty: no TCP endpoint.
  std::string tcp_address;
  /// The bearer token the admin API requires over TCP (set whenever tcp_address is).
  std::string token;
};

/// A parsed, checked configuration file with the environment's overrides applied.
struct Configuration {
  /// plugin_dirs, defaults, per_plugin (each entry: the defaults with the
  /// plugin's keys applied, including enabled and priority), config_types
  /// and runtime_parent; logger is null.
  ManagerOptions manager;
  AdminOptions admin;
  /// The file it was read from, absolute (empty for parse_configuration).
  std::filesystem::path source;
};

/// A snapshot of this process's environment variables, by name.
std::map<std::string, std::string> current_environment();

/// The admin socket when nothing sets one: $XDG_RUNTIME_DIR/plugvisor.sock if
/// XDG_RUNTIME_DIR is an absolute path, else /tmp/plugvisor-UID/plugvisor.sock
/// in a private directory (the daemon creates it 0700 and refuses one that
/// another user made). The one rule for the daemon and the CLI.
std::filesystem::path default_admin_socket(const std::map<std::string, std::string>& environment);

/// Whether `socket` is the private per-user default (/tmp/plugvisor-UID/...),
/// whose directory the daemon creates.
bool is_private_default_socket(const std::filesystem::path& socket);

/// Reads FILE (JSON with // and /* */ comments), checks every key, resolves
/// relative paths against FILE's directory, then applies the PLUGVISOR_*
/// overrides found in `environment`. It only reads: nothing is created, no
/// plugin is probed or started. Throws Error(config) saying
/// "FILE:LINE:COL: reason" for a problem in the file, or naming the variable
/// for a bad override. Thread-safe.
Configuration load_configuration(const std::filesystem::path& file,
                                 const std::map<std::string, std::string>& environment = current_environment());

/// A plugin's settings in the configuration file's format, every key present
/// (without the plugin-entry-only keys enabled and priority).
Json plugin_settings_json(const PluginSettings& settings);

/// Like load_configuration, for a configuration given as `text`: errors say
/// "NAME:LINE:COL: reason", relative paths resolve against `base_dir`, and
/// `source` is left empty.
Configuration parse_configuration(std::string_view text, const std::string& name,
                                  const std::filesystem::path& base_dir,
                                  const std::map<std::string, std::string>& environment = current_environment());

/// `configuration` in the file format with every key present: the effective
/// settings. load_configuration reads it back (without overrides) to the same configuration.
Json configuration_json(const Configuration& configuration);

// ---------------------------------------------------------------------------
// The daemon

/// What a Daemon is built from.
struct DaemonOptions {
  /// The configuration file (docs/configuration.md); empty: none, then
  /// `plugin_dirs` must name at least one directory.
  std::filesystem::path config_file;
  /// Directories searched before the file's pluginDirs (`serve -d DIR`).
  std::vector<std::filesystem::path> plugin_dirs;
  /// The environment whose PLUGVISOR_* variables override the file.
  std::map<std::string, std::string> environment = current_environment();
  /// Where the daemon and the plugins log (default: spdlog's default logger).
  std::shared_ptr<spdlog::logger> logger;
  /// Give freed memory back to the system (docs/operations.md, "The daemon's
  /// process"): glibc's mmap threshold 32 MiB (bodies stay in the heap) with
  /// a trim threshold and top pad of 1 MiB, so that a burst of large requests
  /// leaves no resident memory behind. false: 128 MiB and 16 MiB
  /// (ManagerOptions::tune_malloc's: faster large calls, up to 128 MiB kept
  /// per malloc arena).
  bool return_freed_memory = true;
};

/// A running supervisor: loads the configuration, takes the admin socket
/// (refusing if another daemon holds it), starts the manager and serves the
/// admin API until destroyed. Thread-safe. It owns the process's signal and
/// allocator settings as `plugvisor serve` wants them, set once per daemon
/// before its manager starts (docs/operations.md, "The daemon's process"):
/// SIGPIPE ignored if at its default (the admin server's library writes
/// without MSG_NOSIGNAL), glibc's malloc tuned unless GLIBC_TUNABLES sets it
/// (see return_freed_memory). Its manager's ignore_sigpipe and tune_malloc
/// are off: the daemon has done both itself.
class Daemon {
 public:
  /// Throws Error(config) for a bad file or flags, Error(unavailable) if
  /// another daemon holds the admin socket or a listener cannot be opened,
  /// Error(start_failed) if a required plugin cannot start.
  explicit Daemon(DaemonOptions options);
  /// Stops the admin API, then every plugin; removes the socket and lock.
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  /// Reads the configuration file again and applies the difference. Throws
  /// Error(config) for a file that does not load; nothing changes then.
  ReloadResult reload();

  /// The admin Unix socket.
  const std::filesystem::path& admin_socket() const noexcept;
  /// The TCP address actually bound ("127.0.0.1:43211"), empty if none.
  const std::string& admin_tcp() const noexcept;

  Manager& manager() noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// JSON of a reload's result, as POST /v1/reload answers it (needsRestart empty).
Json to_json(const ReloadResult& result);

}  // namespace plugvisor
