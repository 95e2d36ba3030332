#include "discovery/discovery.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>

namespace plugvisor::detail {

namespace fs = std::filesystem;

namespace {

// For a symlink, the directory of the file it resolves to, if anyone may
// write there (the listed directory itself is checked separately).
std::optional<std::string> real_parent_writable_by_all(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_symlink(path, ec)) return std::nullopt;
  auto target = fs::canonical(path, ec);
  if (ec) return std::nullopt;
  struct stat st{};
  auto parent = target.parent_path();
  if (::stat(parent.c_str(), &st) == 0 && (st.st_mode & S_IWOTH)) return parent.string();
  return std::nullopt;
}

}  // namespace

Discovery discover(const std::vector<fs::path>& dirs) {
  Discovery out;
  std::map<std::string, fs::path> seen;
  std::vector<fs::path> scanned;
  for (const auto& dir : dirs) {
    std::error_code same_ec;
    auto canonical = fs::weakly_canonical(dir, same_ec);
    if (std::find(scanned.begin(), scanned.end(), canonical) != scanned.end()) continue;  // listed twice
    scanned.push_back(canonical);
    struct stat dir_stat{};
    if (::stat(dir.c_str(), &dir_stat) != 0 || !S_ISDIR(dir_stat.st_mode)) {
      out.rejections.push_back({dir, "plugin directory does not exist or is not a directory"});
      continue;
    }
    if (dir_stat.st_mode & S_IWOTH) {
      out.rejections.push_back({dir, "plugin directory is world-writable, so anyone could replace a plugin: "
                                     "run chmod o-w on it"});
      continue;
    }
    std::vector<fs::path> entries;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec)) entries.push_back(entry.path());
    if (ec) {
      out.rejections.push_back({dir, "cannot read plugin directory: " + ec.message()});
      continue;
    }
    std::sort(entries.begin(), entries.end());
    for (const auto& path : entries) {
      std::string name = path.filename().string();
      if (name.starts_with(".")) continue;
      struct stat st{};
      if (::stat(path.c_str(), &st) != 0) {
        out.rejections.push_back({path, "cannot stat (a dangling symlink?)"});
        continue;
      }
      if (S_ISDIR(st.st_mode)) continue;
      // A plugin's signature file (NAME.sig, docs/security.md) is no plugin.
      if (name.ends_with(".sig") && S_ISREG(st.st_mode) && !(st.st_mode & 0111)) continue;
      if (!protocol::is_valid_name(name)) {
        out.rejections.push_back({path, "file name is not a valid plugin name (1-64 of [A-Za-z0-9._-], starting "
                                        "with a letter or digit): rename it"});
      } else if (!S_ISREG(st.st_mode)) {
        out.rejections.push_back({path, "not a regular file"});
      } else if (st.st_mode & S_IWOTH) {
        out.rejections.push_back({path, "file is world-writable, so anyone could replace it: run chmod o-w on it"});
      } else if (auto parent = real_parent_writable_by_all(path)) {
        out.rejections.push_back({path, "links to a file in the world-writable directory " + *parent +
                                            ", where anyone could replace it: move the plugin"});
      } else if (::access(path.c_str(), X_OK) != 0) {
        out.rejections.push_back({path, "not executable: run chmod +x on it if it is a plugin"});
      } else if (auto it = seen.find(name); it != seen.end()) {
        out.rejections.push_back({path, "shadowed by " + it->second.string() +
                                            " (a plugin of the same name in an earlier directory)"});
      } else {
        seen.emplace(name, path);
        out.candidates.push_back({name, path});
      }
    }
  }
  return out;
}

}  // namespace plugvisor::detail
