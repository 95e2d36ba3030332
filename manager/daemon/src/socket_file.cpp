#include "socket_file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "plugvisor/contracts.hpp"

namespace plugvisor::detail {

namespace {

std::string kind_of(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISFIFO(mode)) return "a FIFO";
  return "not a socket";
}

std::string octal(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

}  // namespace

void check_socket_directory(const std::filesystem::path& directory, bool create) {
  const std::string dir = directory.string();
  if (create && ::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    throw Error(ErrorCode::unavailable, "cannot create the admin socket's directory " + dir + ": " +
                                            std::strerror(errno) + "; set XDG_RUNTIME_DIR or admin.socket");
  }
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return;  // binding will say the directory is missing
  const uid_t me = ::geteuid();
  const std::string advice = "; set admin.socket (or PLUGVISOR_ADMIN_SOCKET, or XDG_RUNTIME_DIR) to a path in a "
                             "directory only you can write";
  if (!S_ISDIR(st.st_mode)) {
    throw Error(ErrorCode::unavailable, "the admin socket's directory " + dir + " is " + kind_of(st.st_mode) +
                                            ", not a directory: it may have been put there to intercept the admin "
                                            "API" + advice);
  }
  if (create) {
    if (st.st_uid != me) {
      throw Error(ErrorCode::unavailable,
                  "the admin socket's directory " + dir + " belongs to uid " + std::to_string(st.st_uid) +
                      ", not to you (uid " + std::to_string(me) +
                      "): another user may have made it to intercept the admin API; have it removed (it is not "
                      "yours to delete)" + advice);
    }
    if ((st.st_mode & 077) != 0) {
      throw Error(ErrorCode::unavailable, "the admin socket's directory " + dir + " has mode " + octal(st.st_mode) +
                                              ": other users could reach or replace the socket; make it private "
                                              "(chmod 700 " + dir + ")" + advice);
    }
    return;
  }
  if (st.st_uid != me && st.st_uid != 0) {
    throw Error(ErrorCode::unavailable, "the admin socket's directory " + dir + " belongs to uid " +
                                            std::to_string(st.st_uid) +
                                            ", who could replace the socket and receive your requests" + advice);
  }
  if ((st.st_mode & 022) != 0 && (st.st_mode & S_ISVTX) == 0) {
    throw Error(ErrorCode::unavailable, "the admin socket's directory " + dir + " has mode " + octal(st.st_mode) +
                                            ": other users may write in it and replace the socket (a shared "
                                            "directory needs the sticky bit, like /tmp)" + advice);
  }
}

void replace_stale_socket(const std::filesystem::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;  // nothing there
  if (!S_ISSOCK(st.st_mode)) {
    throw Error(ErrorCode::unavailable, "the admin socket path " + path.string() + " is " + kind_of(st.st_mode) +
                                            ", not a socket: plugvisor replaces only a stale socket and never "
                                            "deletes anything else; move it away, or set admin.socket (or "
                                            "PLUGVISOR_ADMIN_SOCKET) to another path");
  }
  if (st.st_uid != ::geteuid()) {
    throw Error(ErrorCode::unavailable, "the socket at " + path.string() + " belongs to uid " +
                                            std::to_string(st.st_uid) +
                                            ", not to you: it is not yours to replace; have it removed, or set "
                                            "admin.socket (or PLUGVISOR_ADMIN_SOCKET) to another path");
  }
  ::unlink(path.c_str());
}

void remove_socket(const std::filesystem::path& path) noexcept {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
}

}  // namespace plugvisor::detail
