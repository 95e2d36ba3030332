// The admin socket's file and directory: what the daemon may create, replace
// and delete there, and what it must refuse (another user's directory, a file
// that is not a socket).
#pragma once

#include <filesystem>

namespace plugvisor::detail {

/// Checks the directory the admin socket goes in. With `create` (the default
/// socket's private directory) a missing one is made 0700; it must then be a
/// real directory owned by this user with no access for others. Otherwise it
/// must be owned by this user or root, and writable by no one else unless
/// sticky (like /tmp): another user must not be able to replace the socket.
/// Throws Error(unavailable) saying what is wrong and what to do.
void check_socket_directory(const std::filesystem::path& directory, bool create);

/// Removes what is at `path` if it is a socket (a dead daemon's: the caller
/// holds the admin lock); nothing there is fine. Anything else, a regular
/// file, a directory, a symbolic link, is left alone: Error(unavailable).
void replace_stale_socket(const std::filesystem::path& path);

/// Removes `path` if it is still a socket; leaves anything else alone.
void remove_socket(const std::filesystem::path& path) noexcept;

}  // namespace plugvisor::detail
