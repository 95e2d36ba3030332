#include "harness.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "process/environment.hpp"  // manager/src: the environment plugins get
#include "child_output.hpp"
#include "floor_client.hpp"

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

namespace plugvisor::bench {

namespace fs = std::filesystem;

namespace {
const Clock::time_point run_started = Clock::now();
}  // namespace

std::shared_ptr<spdlog::logger> quiet_logger() {
  static auto logger = std::make_shared<spdlog::logger>("bench", std::make_shared<spdlog::sinks::null_sink_mt>());
  return logger;
}

double ns_since(Clock::time_point t0) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
}

void section(const std::string& what) {
  std::fprintf(stderr, "[%3.0f s] %s\n", ns_since(run_started) / 1e9, what.c_str());
}

CpuTimes cpu_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  std::vector<std::string> fields;
  while (rest >> field) fields.push_back(field);
  // After the name: state is field 3, utime 14 and stime 15 (1-based), so 11 and 12 here.
  const double tick_us = 1e6 / static_cast<double>(::sysconf(_SC_CLK_TCK));
  return {std::stod(fields.at(11)) * tick_us, std::stod(fields.at(12)) * tick_us};
}

fs::path exe_dir() { return fs::read_symlink("/proc/self/exe").parent_path(); }
fs::path floor_server_program() { return exe_dir() / "bench-floor-server"; }
fs::path hello_program() { return exe_dir() / "bench-hello"; }
fs::path echo_plugin_dir() {
  const char* dir = std::getenv("BENCH_PLUGIN_DIR");
  return dir && *dir ? fs::path(dir) : exe_dir() / "plugins";
}
fs::path lean_plugin_dir() { return exe_dir() / "lean-plugins"; }

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "plugvisor-bench-XXXXXX").string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::unique_ptr<plugvisor::Manager> make_manager(const Options& options, const fs::path& dir,
                                                 plugvisor::Transport transport,
                                                 std::chrono::milliseconds idle_timeout) {
  plugvisor::ManagerOptions manager_options;
  manager_options.plugin_dirs = {dir};
  manager_options.defaults.transport = transport;
  manager_options.defaults.idle_timeout = idle_timeout;
  manager_options.tune_malloc = !options.untuned_host;
  if (options.tune_malloc) manager_options.defaults.env["GLIBC_TUNABLES"] = tuned_tunables;
  manager_options.logger = quiet_logger();
  auto manager = std::make_unique<plugvisor::Manager>(std::move(manager_options));
  if (manager->plugins().empty()) {
    std::string why;
    for (const auto& r : manager->rejections()) why += "\n  " + r.path.string() + ": " + r.reason;
    throw std::runtime_error("no plugin found in " + dir.string() + why);
  }
  return manager;
}

void wait_until_not_running(plugvisor::Manager& manager, const std::string& id) {
  auto limit = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < limit) {
    auto status = manager.plugin(id);
    if (status && status->state != plugvisor::PluginState::ready && status->state != plugvisor::PluginState::starting &&
        status->state != plugvisor::PluginState::stopping && status->pid == 0) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  throw std::runtime_error("plugin " + id + " did not go idle within 10 s");
}

// Times calls to an idle plugin (exited on its idle timeout): the call
// launches it, and returns once the result is in. Before each call, a
// fork/exec floor sample goes to `floor_samples`, and `also` runs (another
// measurement to interleave), so that all see the same conditions.
std::vector<double> time_cold_calls(plugvisor::Manager& manager, const std::string& id, const std::string& type,
                                    const std::string& input, int count, std::vector<double>& floor_samples,
                                    std::map<std::string, int>& states_before,
                                    const std::function<void()>& also, const fs::path& floor_program) {
  auto processor = manager.registry().get<plugvisor::DataProcessor>(type);
  // The floor runs in the scrubbed environment the manager gives plugins: a
  // variable such as NODE_EXTRA_CA_CERTS costs Node 150 ms at start-up here.
  const std::vector<std::string> env = plugvisor::detail::plugin_environment({});
  std::vector<double> samples;
  for (int i = 0; i < count; ++i) {
    wait_until_not_running(manager, id);
    states_before[std::string(plugvisor::to_string(manager.plugin(id)->state))]++;
    floor_samples.push_back(
        static_cast<double>(time_spawn_to_first_line(floor_program.empty() ? hello_program() : floor_program, env).count()));
    if (also) also();
    auto t0 = Clock::now();
    auto out = processor->process_data(input);
    samples.push_back(ns_since(t0));
    if (out.empty()) throw std::runtime_error("empty answer from " + id);
  }
  return samples;
}

double run_for(int threads, std::chrono::milliseconds duration, const std::function<void(int)>& make_worker_and_call) {
  std::atomic<bool> go{false}, stop{false};
  std::atomic<int> ready{0};
  std::vector<std::uint64_t> counts(static_cast<std::size_t>(threads), 0);
  std::vector<std::thread> workers;
  std::atomic<bool> failed{false};
  std::string failure;
  std::mutex failure_mutex;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      try {
        make_worker_and_call(-1 - t);  // set up (connect) before the clock starts
        ++ready;
        while (!go) std::this_thread::yield();
        std::uint64_t n = 0;
        while (!stop.load(std::memory_order_relaxed)) {
          make_worker_and_call(t);
          ++n;
        }
        counts[static_cast<std::size_t>(t)] = n;
      } catch (const std::exception& e) {
        std::lock_guard lock(failure_mutex);
        failure = e.what();
        failed = true;
        ++ready;
      }
    });
  }
  while (ready < threads) std::this_thread::yield();
  auto t0 = Clock::now();
  go = true;
  std::this_thread::sleep_for(duration);
  stop = true;
  double seconds = ns_since(t0) / 1e9;
  for (auto& w : workers) w.join();
  if (failed) throw std::runtime_error("throughput worker failed: " + failure);
  std::uint64_t total = 0;
  for (auto n : counts) total += n;
  return static_cast<double>(total) / seconds;
}

std::pair<std::vector<double>, std::vector<double>> cold_starts_in_fresh_process(const Options& options,
                                                                                 const ColdSpec& spec) {
  const Json doc{{"dir", spec.plugin_dir.string()}, {"id", spec.id},        {"type", spec.type},
                 {"input", spec.input},              {"floor", spec.floor_program.string()}, {"count", spec.count}};
  std::vector<std::string> argv{(exe_dir() / "plugvisor-bench").string(), "--cold-child", doc.dump()};
  if (options.tune_malloc) argv.push_back("--tune-malloc");
  if (options.untuned_host) argv.push_back("--untuned-host");
  auto child = run_child(argv, std::chrono::seconds(600));
  if (child.status != 0) throw std::runtime_error("plugvisor-bench --cold-child for " + spec.id + " failed: " + child.err);
  Json out = Json::parse(child.out);
  return {out.at("cold_ns").get<std::vector<double>>(), out.at("floor_ns").get<std::vector<double>>()};
}

int cold_child_main(const Options& options) {
  Json spec = Json::parse(options.cold_child);
  const std::string id = spec.at("id"), type = spec.at("type"), input = spec.at("input");
  const fs::path floor_program = spec.at("floor").get<std::string>();
  auto manager = make_manager(options, spec.at("dir").get<std::string>(), plugvisor::Transport::unix_socket,
                              std::chrono::milliseconds(100));
  std::vector<double> floor, warm_floor;
  std::map<std::string, int> states, warm_states;
  time_cold_calls(*manager, id, type, input, 1, warm_floor, warm_states, {}, floor_program);  // page cache
  auto cold = time_cold_calls(*manager, id, type, input, spec.at("count").get<int>(), floor, states, {}, floor_program);
  std::printf("%s\n", Json{{"cold_ns", cold}, {"floor_ns", floor}}.dump().c_str());
  return 0;
}

std::string Target::text() const {
  std::ostringstream s;
  if (bound < 1) s.precision(2);  // 1/3 as 0.33
  switch (kind) {
    case none: return "-";
    case ratio_le: s << "<= " << bound << "x"; break;
    case ratio_ge: s << ">= " << bound << "x"; break;
    case value_le: s << "<= " << bound; break;
    case value_ge: s << ">= " << bound; break;
    case value_lt: s << "< " << bound; break;
    case value_eq: s << "= " << bound; break;
  }
  return s.str();
}

std::optional<double> Row::ratio() const {
  if (!floor || *floor == 0) return std::nullopt;
  return value / *floor;
}

std::optional<bool> Row::met() const {
  auto r = ratio();
  switch (target.kind) {
    case Target::none: return std::nullopt;
    case Target::ratio_le: return r ? std::optional<bool>(*r <= target.bound) : std::nullopt;
    case Target::ratio_ge: return r ? std::optional<bool>(*r >= target.bound) : std::nullopt;
    case Target::value_le: return value <= target.bound;
    case Target::value_ge: return value >= target.bound;
    case Target::value_lt: return value < target.bound;
    case Target::value_eq: return value == target.bound;
  }
  return std::nullopt;
}

Json summary_json(const Summary& s) {
  return Json{{"n", s.n},     {"min_ns", s.min},   {"p50_ns", s.p50}, {"p90_ns", s.p90},
              {"p99_ns", s.p99}, {"max_ns", s.max}, {"mean_ns", s.mean}};
}

}  // namespace plugvisor::bench
