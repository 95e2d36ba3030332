// `plugvisor serve` as a child of the benchmark, for the sections that go
// through the daemon (path.cpp, scale.cpp).
#pragma once

#include <sys/types.h>

#include <filesystem>

namespace plugvisor::bench {

/// `PROGRAM serve -d PLUGIN_DIR` on a private admin socket; SIGTERM and
/// reaped on destruction. The constructor returns once the daemon has printed
/// its "admin socket:" line (its plugins are probed and registered by then).
class DaemonProcess {
 public:
  DaemonProcess(const std::filesystem::path& program, const std::filesystem::path& plugin_dir,
                const std::filesystem::path& socket);
  ~DaemonProcess();
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  pid_t pid() const { return pid_; }

 private:
  void stop();
  pid_t pid_ = -1;
};

/// The `plugvisor` program built with the benchmark; $BENCH_CLI replaces it
/// (another build's, to measure the daemon sections before a change).
std::filesystem::path cli_program();

/// Resident memory of process `pid` (VmRSS), in KiB; -1 if it is gone.
long rss_kib(pid_t pid);

/// The time a process's threads have run on a CPU, and have waited runnable
/// for one (the scheduler's run queue), summed over its threads, in ns
/// (/proc/PID/task/*/schedstat; threads that have ended are not counted).
struct SchedTimes {
  double run_ns = 0;
  double wait_ns = 0;
};
SchedTimes sched_times(pid_t pid);

}  // namespace plugvisor::bench
