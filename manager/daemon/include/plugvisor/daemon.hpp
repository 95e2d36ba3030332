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
