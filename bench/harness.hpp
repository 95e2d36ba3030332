// What every section of plugvisor-bench shares: options, paths of the helper
// programs, the rows of the table, temporary directories, managers, timing.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/fwd.h>

#include "plugvisor/manager.hpp"
#include "stats.hpp"

namespace plugvisor::bench {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;

/// Nanoseconds from `t0` to now.
double ns_since(Clock::time_point t0);

/// Progress on stderr: the time so far and the section starting.
void section(const std::string& what);

/// CPU time a process has used so far (all its threads), from /proc.
struct CpuTimes {
  double user_us = 0;
  double sys_us = 0;
};
CpuTimes cpu_of(pid_t pid);

struct Options {
  std::filesystem::path out = "results.json";
  std::filesystem::path python_plugin = PLUGVISOR_BENCH_PY_EXAMPLE;  // plugin-py-stats, built with the bench
  std::filesystem::path plugin_dir;  // --plugin-dir: the project's built plugins (Python, Node, Go examples)
  bool quick = false;
  bool tune_malloc = false;
  bool untuned_host = false;  // --untuned-host: ManagerOptions::tune_malloc left off
  int start_threads = 16;
  std::set<std::string> sections{"cold",     "latency",  "tcp",       "throughput", "internal",
                                 "validation", "hundred", "field",     "languages",  "path", "proxy",
                                 "scale"};
  /// --baseline-cli: another build's `plugvisor`, whose daemon the path
  /// section measures in the same rounds (before/after a change).
  std::filesystem::path baseline_cli;
  /// --scale-sizes 10,100: the plugin counts of the scale section (default
  /// 10,100,1000; --quick 10,30); the sustained calls run at the largest.
  std::vector<int> scale_sizes;
  /// --sustain-seconds N: the sustained calls' length (default 60; --quick 1).
  int sustain_seconds = 0;
  bool hundred_child = false;  // internal: run the 100-plugin scenario and print JSON
  std::string cold_child;       // internal: --cold-child JSON (ColdSpec), see cold_starts_in_fresh_process
  // --loop BYTES COUNT: only make COUNT calls of BYTES through the registry
  // (for strace, perf and callgrind); --tcp for loopback TCP.
  std::size_t loop_bytes = 0;
  long loop_count = 0;
  bool loop_tcp = false;
  bool loop_floor = false;  // --floor: loop over the floor instead
  // --proxy-loop SUBJECT COUNT: only COUNT requests through the proxy example
  // (SUBJECT "disabled" or "header"), for perf (proxy.cpp).
  std::string proxy_loop_subject;
  long proxy_loop_count = 0;
};

/// The directory of plugvisor-bench, where its helper programs are.
std::filesystem::path exe_dir();
std::filesystem::path floor_server_program();
std::filesystem::path hello_program();
/// The C++ echo plugin's directory; $BENCH_PLUGIN_DIR replaces it, e.g. with
/// a wrapper that runs the plugin under valgrind (docs/performance.md).
std::filesystem::path echo_plugin_dir();
std::filesystem::path lean_plugin_dir();

inline constexpr const char* echo_id = "bench-echo";
inline constexpr const char* echo_type = "echo";

// The tunables --tune-malloc hands to plugins (and applies to this process
// with mallopt): blocks below 32 MiB (the most glibc accepts) come from the
// heap instead of fresh mmap()s, and the heap top is not trimmed below
// 256 MiB (more than the copies of a 16 MiB call hold at once), so that
// bodies reuse memory instead of faulting fresh pages in.
inline constexpr int tuned_mmap_threshold = 32 << 20;
inline constexpr int tuned_trim_threshold = 256 << 20;
inline constexpr int tuned_top_pad = 16 << 20;
inline constexpr const char* tuned_tunables =
    "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456:glibc.malloc.top_pad=16777216";

/// A private 0700 directory removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// A logger that drops everything (the table is the output).
std::shared_ptr<spdlog::logger> quiet_logger();

/// A manager of the plugins in `dir`, logging nowhere; throws if it finds none.
std::unique_ptr<plugvisor::Manager> make_manager(const Options& options, const std::filesystem::path& dir,
                                                 plugvisor::Transport transport,
                                                 std::chrono::milliseconds idle_timeout);

/// Waits (up to 10 s) until plugin `id` has no process.
void wait_until_not_running(plugvisor::Manager& manager, const std::string& id);

/// Times calls to an idle plugin (exited on its idle timeout): the call
/// launches it, and returns once the result is in. Before each call, a
/// fork/exec floor sample goes to `floor_samples`, and `also` runs (another
/// measurement to interleave), so that all see the same conditions. The
/// floor is `floor_program` (bench-hello if empty) started in the
/// environment the manager gives plugins and read to its first line.
std::vector<double> time_cold_calls(plugvisor::Manager& manager, const std::string& id, const std::string& type,
                                    const std::string& input, int count, std::vector<double>& floor_samples,
                                    std::map<std::string, int>& states_before,
                                    const std::function<void()>& also = {},
                                    const std::filesystem::path& floor_program = {});

/// Calls per second of `threads` threads calling for `duration`. Each thread
/// first calls `make_worker_and_call(-1 - t)` (set up: connect) before the
/// clock starts, then `make_worker_and_call(t)` in a loop; a throw fails the run.
double run_for(int threads, std::chrono::milliseconds duration, const std::function<void(int)>& make_worker_and_call);

/// Cold starts of one plugin, and the floor beside each.
struct ColdSpec {
  std::filesystem::path plugin_dir;
  std::string id, type, input;
  std::filesystem::path floor_program;  // bench-hello if empty
  int count = 0;
};

/// time_cold_calls in a fresh plugvisor-bench process (--cold-child), after
/// one cold start not counted; returns {samples, floor samples}. A host that
/// has made 16 MiB calls keeps a large heap (the manager's mallopt), and
/// fork() copies its page tables: fork/exec of bench-hello took 6-9 ms in
/// this process after the latency section against 1.3 ms in a fresh one.
std::pair<std::vector<double>, std::vector<double>> cold_starts_in_fresh_process(const Options& options,
                                                                                 const ColdSpec& spec);
/// The child's side: runs the JSON spec, prints {"cold_ns", "floor_ns"}.
int cold_child_main(const Options& options);

// ---------------------------------------------------------------------------
// Results: rows of the table

struct Target {
  enum Kind { none, ratio_le, ratio_ge, value_le, value_ge, value_lt, value_eq } kind = none;
  double bound = 0;
  std::string text() const;
};

struct Row {
  std::string key;     // stable, for comparing runs: "uds.64B.p50"
  std::string figure;  // for people
  std::string unit;    // of value and floor
  double value = 0;
  std::optional<double> floor;
  Target target;
  std::string note;

  std::optional<double> ratio() const;
  std::optional<bool> met() const;
};

struct Results {
  std::vector<Row> rows;
  Json raw = Json::object();
  std::vector<std::string> notes;

  void add(Row row) { rows.push_back(std::move(row)); }
};

Json summary_json(const Summary& s);

}  // namespace plugvisor::bench
