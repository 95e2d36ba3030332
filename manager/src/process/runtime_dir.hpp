// The manager's private directory for plugin sockets.
#pragma once

#include <filesystem>

namespace plugvisor::detail {

/// Creates a fresh 0700 directory `plugvisor-<pid>-XXXXXX` under `parent`
/// (default: $XDG_RUNTIME_DIR, else the temp dir) and removes it, with
/// whatever is left inside, on destruction.
class RuntimeDir {
 public:
  explicit RuntimeDir(const std::filesystem::path& parent);
  ~RuntimeDir();
  RuntimeDir(const RuntimeDir&) = delete;
  RuntimeDir& operator=(const RuntimeDir&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace plugvisor::detail
