// The admin socket's lock: one daemon per admin socket.
#pragma once

#include <filesystem>

namespace plugvisor::detail {

/// Holds `SOCKET.lock` with flock(2) for the daemon's life (the kernel drops
/// it when the process dies, however it dies) and records the pid in it.
/// Throws Error(unavailable) naming the holder's pid if another daemon has it,
/// or saying what is wrong when the lock is a symbolic link (never followed),
/// not a regular file, or another user's file.
class AdminLock {
 public:
  explicit AdminLock(const std::filesystem::path& socket);
  ~AdminLock();
  AdminLock(const AdminLock&) = delete;
  AdminLock& operator=(const AdminLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace plugvisor::detail
