// Finding plugin executables in plugin directories.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "plugvisor/manager.hpp"

namespace plugvisor::detail {

/// A file that may be a plugin: its id (the file name) and path.
struct Candidate {
  std::string id;
  std::filesystem::path path;
};

struct Discovery {
  std::vector<Candidate> candidates;  ///< in order: directories as given, files by name
  std::vector<Rejection> rejections;
};

/// Lists the plugin executables in `dirs`. Hidden entries, subdirectories and
/// signature files (NAME.sig, not executable) are skipped silently; every
/// other file that cannot be a plugin is a rejection with the reason (bad name, not executable, world-writable file
/// or directory, a name already found in an earlier directory).
Discovery discover(const std::vector<std::filesystem::path>& dirs);

}  // namespace plugvisor::detail
