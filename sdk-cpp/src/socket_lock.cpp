#include "socket_lock.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

#include "plugvisor/contracts.hpp"

namespace plugvisor::sdk::detail {

namespace {

// Removes `path` if it is a socket (protocol.md §15: only a stale socket is
// replaced). Returns false, touching nothing, if something else is there: a
// regular file, a directory, a symbolic link (not followed).
bool remove_if_socket(const std::string& path) noexcept {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return true;  // nothing there (or nothing we may see)
  if (!S_ISSOCK(st.st_mode)) return false;
  ::unlink(path.c_str());
  return true;
}

const char* file_kind(const std::string& path) noexcept {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return "a file";
  if (S_ISREG(st.st_mode)) return "a regular file";
  if (S_ISDIR(st.st_mode)) return "a directory";
  if (S_ISLNK(st.st_mode)) return "a symbolic link";
  return "a file that is not a socket";
}

bool process_alive(pid_t pid) { return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM); }

// The pid in a lock file: a positive decimal integer, optionally followed by
// a newline; anything else is 0 (stale).
pid_t read_pid(const std::string& lock_path) {
  std::ifstream in(lock_path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (text.empty() || text.size() > 10 || text.find_first_not_of("0123456789") != std::string::npos) return 0;
  long pid = std::stol(text);
  return pid > 0 && pid <= std::numeric_limits<pid_t>::max() ? static_cast<pid_t>(pid) : 0;
}

}  // namespace

SocketLock::SocketLock(std::string socket_path)
    : socket_path_(std::move(socket_path)), lock_path_(socket_path_ + ".lock") {
  if (socket_path_.size() > protocol::max_socket_path) {
    throw Error(ErrorCode::config, "socket path is " + std::to_string(socket_path_.size()) +
                                       " bytes, over the 107-byte limit of Unix sockets: use a shorter directory: " +
                                       socket_path_);
  }
  // The lock is written to a private file first and linked into place, so
  // it never exists without its pid (link fails if the lock is taken).
  const std::string temp = lock_path_ + "." + std::to_string(::getpid()) + ".tmp";
  {
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    std::string pid = std::to_string(::getpid()) + "\n";
    bool ok = fd >= 0 && ::write(fd, pid.data(), pid.size()) == static_cast<ssize_t>(pid.size());
    if (fd >= 0) ::close(fd);
    if (!ok) {
      ::unlink(temp.c_str());
      throw Error(ErrorCode::unavailable, "cannot write lock file " + temp + ": " + std::strerror(errno));
    }
  }
  for (int attempt = 0; attempt < 2 && !held_; ++attempt) {
    if (::link(temp.c_str(), lock_path_.c_str()) == 0) {
      held_ = true;
      break;
    }
    if (errno != EEXIST) break;
    pid_t owner = read_pid(lock_path_);
    if (process_alive(owner) && owner != ::getpid()) {
      ::unlink(temp.c_str());
      throw Error(ErrorCode::unavailable, "socket " + socket_path_ + " is in use by live process " +
                                              std::to_string(owner) + " (lock file " + lock_path_ + ")");
    }
    // Stale: the owner died without cleaning up. Remove the lock and retry
    // once; the socket path is cleared below, once the lock is ours.
    ::unlink(lock_path_.c_str());
  }
  int link_errno = errno;
  ::unlink(temp.c_str());
  if (!held_) {
    throw Error(ErrorCode::unavailable, "cannot claim lock file " + lock_path_ + ": " + std::strerror(link_errno));
  }
  // A socket without a live lock is stale: clear it so that bind succeeds.
  // Anything else at the path is not ours to delete (a user's file named by a
  // mistaken or hostile address): refuse, exit 3, leaving it as it was.
  if (!remove_if_socket(socket_path_)) {
    const char* kind = file_kind(socket_path_);
    ::unlink(lock_path_.c_str());
    held_ = false;
    throw Error(ErrorCode::unavailable, "cannot bind " + socket_path_ + ": it exists and is " + kind +
                                            ", not a socket; the plugin only replaces a stale socket and leaves "
                                            "other files alone: move it away or choose another address");
  }
}

SocketLock::~SocketLock() { release(); }

void SocketLock::unlink_socket() noexcept {
  if (held_) remove_if_socket(socket_path_);
}

void SocketLock::release() noexcept {
  if (!held_) return;
  remove_if_socket(socket_path_);
  ::unlink(lock_path_.c_str());
  held_ = false;
}

}  // namespace plugvisor::sdk::detail
