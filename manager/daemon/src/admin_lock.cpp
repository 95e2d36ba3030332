#include "admin_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "plugvisor/contracts.hpp"

namespace plugvisor::detail {

AdminLock::AdminLock(const std::filesystem::path& socket) {
  const std::string path = socket.string() + ".lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    throw Error(ErrorCode::unavailable, "cannot open the admin lock " + path + ": " + std::strerror(errno) +
                                            "; check that " + socket.parent_path().string() +
                                            " exists and is writable, or set admin.socket");
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
