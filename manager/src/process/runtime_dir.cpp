#include "process/runtime_dir.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <system_error>

#include "plugvisor/contracts.hpp"

namespace plugvisor::detail {

namespace {

std::filesystem::path default_parent() {
  if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && *xdg && ::access(xdg, W_OK) == 0) return xdg;
  std::error_code ec;
  auto tmp = std::filesystem::temp_directory_path(ec);
  return ec ? std::filesystem::path("/tmp") : tmp;
}

}  // namespace

RuntimeDir::RuntimeDir(const std::filesystem::path& parent) {
  auto base = parent.empty() ? default_parent() : parent;
  std::string pattern = (base / ("plugvisor-" + std::to_string(::getpid()) + "-XXXXXX")).string();
  // mkdtemp creates the directory 0700.
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw Error(ErrorCode::config, "cannot create the socket directory under " + base.string() + ": " +
                                       std::strerror(errno) + " (set runtime_parent to a writable directory)");
  }
  path_ = pattern;
}

RuntimeDir::~RuntimeDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace plugvisor::detail
