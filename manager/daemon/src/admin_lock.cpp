#include "admin_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "plugvisor/contracts.hpp"

namespace plugvisor::detail {

AdminLock::AdminLock(const std::filesystem::path& socket) {
  const std::string path = socket.string() + ".lock";
  // Never through a symbolic link, nor blocking on a FIFO someone put there.
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
  if (fd_ < 0) {
    std::string why = errno == ELOOP ? "it is a symbolic link, which plugvisor does not follow; remove it"
                                     : std::string(std::strerror(errno)) + "; check that " +
                                           socket.parent_path().string() + " exists and is writable";
    throw Error(ErrorCode::unavailable, "cannot open the admin lock " + path + ": " + why + ", or set admin.socket");
  }
  // Another user's lock file could be held by them to keep this daemon out.
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
    bool regular = S_ISREG(st.st_mode);
    ::close(fd_);
    fd_ = -1;
    throw Error(ErrorCode::unavailable,
                "the admin lock " + path +
                    (regular ? " belongs to uid " + std::to_string(st.st_uid) + ", not to you (uid " +
                                   std::to_string(::geteuid()) + ")"
                             : " is not a regular file") +
                    ": another user may have made it to keep the daemon out; have it removed, or set admin.socket "
                    "(or PLUGVISOR_ADMIN_SOCKET) to a path in a directory only you can write");
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {};
    [[maybe_unused]] auto n = ::pread(fd_, pid, sizeof pid - 1, 0);
    ::close(fd_);
    fd_ = -1;
    std::string holder = pid[0] ? std::string("(pid ") + std::string(pid, std::strcspn(pid, "\n")) + ") " : "";
    throw Error(ErrorCode::unavailable, "another plugvisor daemon " + holder + "already serves the admin socket " +
                                            socket.string() +
                                            ": stop it first, or give this one another admin.socket "
                                            "(or PLUGVISOR_ADMIN_SOCKET)");
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    // The pid is only for the message above; the lock itself holds.
  }
}

AdminLock::~AdminLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace plugvisor::detail
