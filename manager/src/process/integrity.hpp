// What was checked is what runs: an executable opened once, hashed through
// its descriptor and executed through the same descriptor.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

namespace plugvisor::detail {

/// A plugin executable opened for exec. The descriptor is close-on-exec
/// until the child needs it (a `#!` script, see ProcessReactor). Not copyable;
/// share it with a shared_ptr.
class OpenedExecutable {
 public:
  /// Opens `path`; with `hash`, reads it through the descriptor for sha256().
  /// Throws Error(start_failed) naming the file and the reason.
  static std::shared_ptr<const OpenedExecutable> open(const std::filesystem::path& path, bool hash);
  ~OpenedExecutable();
  OpenedExecutable(const OpenedExecutable&) = delete;
  OpenedExecutable& operator=(const OpenedExecutable&) = delete;

  int fd() const noexcept { return fd_; }
  const std::filesystem::path& path() const noexcept { return path_; }
  /// Lowercase hex; empty unless opened with `hash`.
  const std::string& sha256() const noexcept { return sha256_; }
  /// Starts with "#!": the kernel hands the interpreter /dev/fd/N, so the
  /// descriptor must stay open across the exec.
  bool script() const noexcept { return script_; }

  /// Throws Error(start_failed) naming both digests when `pin` is set and
  /// differs from sha256().
  void check_pin(const std::string& pin) const;

 private:
  OpenedExecutable() = default;
  int fd_ = -1;
  std::filesystem::path path_;
  std::string sha256_;
  bool script_ = false;
};

/// The SHA-256 of everything readable from `fd` (from offset 0), lowercase hex.
/// Throws Error(start_failed) with `what` in the message on a read error.
std::string sha256_of_fd(int fd, const std::string& what);

/// Throws Error(start_failed) naming both digests when `pin` is set and
/// differs from `digest` (the file at `path`).
void check_pin(const std::filesystem::path& path, const std::string& digest, const std::string& pin);

/// The SHA-256 of `data`, lowercase hex.
std::string sha256_hex(std::string_view data);

/// True for 64 lowercase or uppercase hex digits.
bool is_sha256_hex(const std::string& text);

}  // namespace plugvisor::detail
