// The lock file beside a plugin's Unix socket: `<socket>.lock` holds the pid
// of the plugin that owns the socket.
#pragma once

#include <string>

namespace plugvisor::sdk::detail {

/// Owns a socket path for this process: claims it on construction and removes
/// the socket and the lock file on release() or destruction.
class SocketLock {
 public:
  /// Claims `socket_path`. If the path is taken by a live process, throws
  /// Error(unavailable) naming its pid; a stale socket and lock left by a dead
  /// one are removed. Anything at the path that is not a socket (a regular
  /// file, a directory, a symbolic link) is left alone: Error(unavailable),
  /// without the lock. Throws Error(config) if the path is too long.
  explicit SocketLock(std::string socket_path);
  ~SocketLock();
  SocketLock(const SocketLock&) = delete;
  SocketLock& operator=(const SocketLock&) = delete;

  /// Removes the socket file (so new connects fail at once) but keeps the lock.
  void unlink_socket() noexcept;
  /// Removes the socket and the lock file. Safe to call twice.
  void release() noexcept;

 private:
  std::string socket_path_;
  std::string lock_path_;
  bool held_ = false;
};

}  // namespace plugvisor::sdk::detail
