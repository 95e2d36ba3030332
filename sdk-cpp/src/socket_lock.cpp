#include "socket_lock.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "plugvisor/contracts.hpp"

namespace plugvisor::sdk::detail {

namespace {

bool process_alive(pid_t pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }

pid_t read_pid(const std::string& lock_path) {
  std::ifstream in(lock_path);
  long pid = 0;
  in >> pid;
  return in ? static_cast<pid_t>(pid) : 0;
}

}  // namespace

SocketLock::SocketLock(std::string socket_path)
    : socket_path_(std::move(socket_path)), lock_path_(socket_path_ + ".lock") {
  if (socket_path_.size() > protocol::max_socket_path) {
    throw Error(ErrorCode::config, "socket path is " + std::to_string(socket_path_.size()) +
                                       " bytes, over the 107-byte limit of Unix sockets: use a shorter directory: " +
                                       socket_path_);
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    int fd = ::open(lock_path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      std::string pid = std::to_string(::getpid()) + "\n";
      bool ok = ::write(fd, pid.data(), pid.size()) == static_cast<ssize_t>(pid.size());
      ::close(fd);
      if (!ok) break;
      held_ = true;
      // A socket without a live lock is stale: clear it so bind can succeed.
      ::unlink(socket_path_.c_str());
      return;
    }
    if (errno != EEXIST) {
      throw Error(ErrorCode::unavailable, "cannot create lock file " + lock_path_ + ": " + std::strerror(errno));
    }
    pid_t owner = read_pid(lock_path_);
    if (process_alive(owner) && owner != ::getpid()) {
      throw Error(ErrorCode::unavailable, "socket " + socket_path_ + " is in use by live process " +
                                              std::to_string(owner) + " (lock file " + lock_path_ + ")");
    }
    // Stale: the owner died without cleaning up. Remove both and retry once.
    ::unlink(socket_path_.c_str());
    ::unlink(lock_path_.c_str());
  }
  throw Error(ErrorCode::unavailable, "cannot claim lock file " + lock_path_ + ": another process raced for it");
}

SocketLock::~SocketLock() { release(); }

void SocketLock::unlink_socket() noexcept {
  if (held_) ::unlink(socket_path_.c_str());
}

void SocketLock::release() noexcept {
  if (!held_) return;
  ::unlink(socket_path_.c_str());
  ::unlink(lock_path_.c_str());
  held_ = false;
}

}  // namespace plugvisor::sdk::detail
