// Helpers shared by the integration tests: temporary plugin directories made
// of wrapper scripts around the fixture plugin, and process accounting.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "plugvisor/manager.hpp"

namespace plugvisor::test {

/// A fresh 0700 directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

  /// Writes an executable script `name` that runs the fixture in `mode`.
  std::filesystem::path add_fixture(const std::string& name, const std::string& mode);
  /// Links the built example plugin plugin-text-tools into the directory.
  std::filesystem::path add_text_tools();
  /// Writes an executable file with `content`.
  std::filesystem::path add_file(const std::string& name, const std::string& content, unsigned mode = 0755);

 private:
  std::filesystem::path path_;
};

/// How many times longer than in a plain build a timing margin must be:
/// sanitizer builds run several times slower, and CI runs them on two busy
/// cores. Margins only (an idle timeout a launch must beat, a bound on
/// liveness), never a measured speed.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr int timing_scale = 4;
#else
inline constexpr int timing_scale = 1;
#endif

/// Options for a manager over `dir`, with short timeouts fit for tests
/// (capabilities and start: 2 s times timing_scale).
ManagerOptions test_options(const std::filesystem::path& dir);

/// The pids of this process's children, zombies included.
std::vector<pid_t> child_pids();

/// Sends SIGSTOP to `pid` and waits (up to 5 s) until every thread of it has
/// stopped: kill() returns before the threads stop, and a thread busy in user
/// space runs on until its next return from the kernel. Returns whether all did.
bool stop_process(pid_t pid);

/// Waits (up to `limit`) until this process has no children; returns those left.
std::vector<pid_t> wait_for_no_children(std::chrono::milliseconds limit = std::chrono::seconds(5));

/// The open descriptors of process `pid` (0: this process) and what each
/// points to, as /proc/PID/fd shows it ("pipe:[123]", "socket:[456]", a path).
std::map<int, std::string> open_descriptors(pid_t pid = 0);

/// The number of threads of process `pid` (0: this process).
std::size_t thread_count(pid_t pid = 0);

/// True once `pid` has exited: no such process, or a zombie.
bool process_gone(pid_t pid);

/// Sets an environment variable of this process for the scope's life, then
/// restores it. Set before, and destroyed after, any thread that reads it.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::string& value);
  ~ScopedEnv();
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> previous_;
};

/// The path of the built example plugin.
std::filesystem::path text_tools_path();

/// Runs `fn`, which must throw plugvisor::Error (the test fails otherwise); returns it.
template <class Fn>
Error error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e;
  }
  FAIL("expected a plugvisor::Error");
  throw std::logic_error("unreachable");
}

/// Polls `condition` every 10 ms until it holds or `limit` passes; returns it.
bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds limit = std::chrono::seconds(5));

/// Waits until plugin `id` of `manager` is in `state`.
bool wait_for_state(const Manager& manager, const std::string& id, PluginState state,
                    std::chrono::milliseconds limit = std::chrono::seconds(5));

}  // namespace plugvisor::test
