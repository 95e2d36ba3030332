// Supervision at the edges: crashes, hangs, restarts, limits, floods, and
// the files and processes a plugin leaves behind.
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "plugvisor/manager.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using plugvisor::DataProcessor;
using plugvisor::Error;
using plugvisor::ErrorCode;
using plugvisor::PluginState;
using plugvisor::test::error_of;
using plugvisor::test::TempDir;
using plugvisor::test::wait_for;
using plugvisor::test::wait_for_state;

namespace {

bool state_is(const plugvisor::Manager& manager, const std::string& id, PluginState state) {
  return manager.plugin(id)->state == state;
}

// A logger whose output the test can read.
struct CapturedLog {
  std::ostringstream text;
  std::shared_ptr<spdlog::logger> logger;
  CapturedLog() {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(text);
    logger = std::make_shared<spdlog::logger>("host", sink);
    logger->set_pattern("%n %l %v");
    logger->set_level(spdlog::level::info);
  }
};

// Whether processes `a` and `b` hold the same socket (one inherited it from the other).
// Sends SIGKILL to an escaped child when the test ends, however it ends.
struct KillOnExit {
  pid_t pid = 0;
  ~KillOnExit() {
    if (pid > 0) ::kill(pid, SIGKILL);
  }
};

bool shares_a_socket(pid_t a, pid_t b) {
  auto of_b = plugvisor::test::open_descriptors(b);
  for (const auto& [fd, target] : plugvisor::test::open_descriptors(a)) {
    if (!target.starts_with("socket:")) continue;
    for (const auto& [other_fd, other_target] : of_b) {
      if (other_target == target) return true;
    }
  }
  return false;
}

/// A plugin directory with the fixture in `mode`, named "fixture", beside
/// plugin-text-tools: the bystander that bystander_works() calls.
struct FixtureBesideBystander : TempDir {
  explicit FixtureBesideBystander(const std::string& mode) {
    add_text_tools();
    add_fixture("fixture", mode);
  }
};

// The example plugin beside the misbehaving one still works.
bool bystander_works(plugvisor::Manager& manager) {
  return manager.registry().get<DataProcessor>("uppercase")->process_data("ok") == "OK";
}

}  // namespace

TEST_CASE("a plugin that keeps crashing at start backs off, then opens the circuit until restarted by hand",
          "[supervision][restart]") {
  TempDir dir;
  dir.add_fixture("fixture", "crash-at-start");
  auto options = plugvisor::test::test_options(dir.path());
  options.defaults.restart = {.initial_backoff = 100ms, .max_backoff = 1s, .max_failures = 3, .window = 30s,
                              .cool_down = 0ms};
  plugvisor::Manager manager(options);
  auto echo = manager.registry().get<DataProcessor>("echo");

  auto first = error_of([&] { echo->process_data("x"); });
  CHECK(first.code() == ErrorCode::start_failed);
  CHECK_THAT(first.what(), Catch::Contains("plugin fixture") && Catch::Contains("exited with code 1") &&
                               Catch::Contains("cannot open the database"));
  CHECK(state_is(manager, "fixture", PluginState::crashed));

  auto began = std::chrono::steady_clock::now();
  CHECK(error_of([&] { echo->process_data("x"); }).code() == ErrorCode::start_failed);  // after 100 ms
  CHECK(error_of([&] { echo->process_data("x"); }).code() == ErrorCode::start_failed);  // after 200 ms more
  CHECK(std::chrono::steady_clock::now() - began >= 300ms);                            // the backoff was honoured
  CHECK(state_is(manager, "fixture", PluginState::failed));

  auto open = error_of([&] { echo->process_data("x"); });
  CHECK(open.code() == ErrorCode::unavailable);
  CHECK_THAT(open.what(), Catch::Contains("circuit open") && Catch::Contains("restart it by hand"));
  CHECK(manager.plugin("fixture")->starts == 3);  // the open circuit launched nothing

  CHECK(error_of([&] { manager.restart("fixture"); }).code() == ErrorCode::start_failed);
  CHECK(manager.plugin("fixture")->starts == 4);
  CHECK(plugvisor::test::wait_for_no_children().empty());
}

// Options for a fixture whose first `failing` launches fail (exit 1 before
// the handshake), with a circuit that opens after 2 failures within 60 s and
// the given cool-down.
static plugvisor::ManagerOptions failing_start_options(TempDir& dir, const TempDir& launches, int failing,
                                                       std::chrono::milliseconds cool_down) {
  dir.add_fixture("fixture", "crash-at-start");
  auto options = plugvisor::test::test_options(dir.path());
  options.defaults.restart = {.initial_backoff = 10ms, .max_backoff = 10ms, .max_failures = 2, .window = 60s,
                              .cool_down = cool_down};
  options.defaults.env["PLUGVISOR_FIXTURE_FAIL_LAUNCHES"] = std::to_string(failing);
  options.defaults.env["PLUGVISOR_FIXTURE_LAUNCHES"] = launches.path().string();
  return options;
}

// The state changes in a plugin's log ("registered -> starting", ...), oldest first.
static std::vector<std::string> transitions(const plugvisor::Manager& manager, const std::string& id) {
  std::vector<std::string> out;
  for (const auto& line : manager.logs(id)) {
    if (line.stream != "event" || !line.text.starts_with("state ")) continue;
    auto text = line.text.substr(6);
    auto arrow = text.find(" -> ");
    if (arrow == std::string::npos) continue;
    auto end = text.find_first_of(" :", arrow + 4);
    out.push_back(text.substr(0, end));
  }
  return out;
}

TEST_CASE("once the cool-down has passed an open circuit lets one trial launch through, and a good trial closes it",
          "[supervision][restart]") {
  TempDir dir;
  TempDir launches;
  dir.add_text_tools();
  // Long enough for the four callers below to meet one failed trial.
  const auto cool_down = 1s * plugvisor::test::timing_scale;
  // Launches 1 and 2 open the circuit, 3 is a failed trial, 4 a good one.
  plugvisor::Manager manager(failing_start_options(dir, launches, 3, cool_down));
  auto echo = manager.registry().get<DataProcessor>("echo");

  CHECK(error_of([&] { echo->process_data("x"); }).code() == ErrorCode::start_failed);
  CHECK(error_of([&] { echo->process_data("x"); }).code() == ErrorCode::start_failed);
  REQUIRE(state_is(manager, "fixture", PluginState::failed));
  auto open = error_of([&] { echo->process_data("x"); });
  CHECK(open.code() == ErrorCode::unavailable);
  CHECK_THAT(open.what(), Catch::Contains("circuit open") && Catch::Contains("for the cool-down"));
  CHECK(manager.plugin("fixture")->starts == 2);

  // After the cool-down, four calls at once: one trial launch, which fails.
  // The window (60 s) still holds the earlier failures, so the circuit opens
  // again at once and the other calls fail without launching anything.
  std::this_thread::sleep_for(cool_down);
  std::atomic<int> start_failed{0}, unavailable{0}, other{0};
  std::vector<std::thread> callers;
  for (int i = 0; i < 4; ++i) {
    callers.emplace_back([&] {
      try {
        echo->process_data("x");
        ++other;
      } catch (const Error& e) {
        if (e.code() == ErrorCode::start_failed) {
          ++start_failed;
        } else if (e.code() == ErrorCode::unavailable) {
          ++unavailable;
        } else {
          ++other;
        }
      }
    });
  }
  for (auto& caller : callers) caller.join();
  CHECK(start_failed == 1);
  CHECK(unavailable == 3);
  CHECK(other == 0);
  CHECK(manager.plugin("fixture")->starts == 3);
  CHECK(state_is(manager, "fixture", PluginState::failed));
  CHECK(error_of([&] { echo->process_data("x"); }).code() == ErrorCode::unavailable);
  CHECK(manager.plugin("fixture")->starts == 3);

  // The next trial, after another cool-down, succeeds and clears the failures.
  std::this_thread::sleep_for(cool_down);
  CHECK(echo->process_data("trial") == "trial");
  auto status = manager.plugin("fixture");
  CHECK(status->state == PluginState::ready);
  CHECK(status->starts == 4);
  CHECK(status->recent_failures == 0);
  CHECK(transitions(manager, "fixture") ==
        std::vector<std::string>{"registered -> starting", "starting -> crashed", "crashed -> starting",
                                 "starting -> failed", "failed -> starting", "starting -> failed",
                                 "failed -> starting", "starting -> ready"});
  CHECK(bystander_works(manager));
}

TEST_CASE("an eager plugin whose circuit opened is tried again by the manager at the end of the cool-down",
          "[supervision][restart]") {
  TempDir dir;
  TempDir launches;
  // Launches 1 and 2 open the circuit, 3 (the trial) works.
  auto options = failing_start_options(dir, launches, 2, 300ms);
  options.defaults.start = plugvisor::StartPolicy::eager;
  plugvisor::Manager manager(options);  // optional: the failed start is reported, not thrown
  // No call is made: the relaunch after the backoff and the trial are the manager's own.
  REQUIRE(wait_for_state(manager, "fixture", PluginState::ready, 10s));
  auto status = manager.plugin("fixture");
  CHECK(status->starts == 3);
  CHECK(status->recent_failures == 0);
  CHECK(status->pid > 0);
  CHECK(transitions(manager, "fixture") ==
        std::vector<std::string>{"registered -> starting", "starting -> crashed", "crashed -> starting",
                                 "starting -> failed", "failed -> starting", "starting -> ready"});
}

TEST_CASE("a plugin that closes its stdin before reading the config fails to start, the host is not killed by SIGPIPE",
          "[supervision][start]") {
  FixtureBesideBystander dir("close-stdin");
  auto options = plugvisor::test::test_options(dir.path());
  // Far more than a pipe holds, so the manager is still writing when the reader goes.
  options.config_types["fixture.settings"] = std::string(4 << 20, 'x');
  plugvisor::Manager manager(options);
  auto error = error_of([&] { manager.registry().get<DataProcessor>("echo")->process_data("x"); });
  CHECK(error.code() == ErrorCode::start_failed);
  CHECK_THAT(error.what(), Catch::Contains("plugin fixture"));
  CHECK(bystander_works(manager));
}

TEST_CASE("what a plugin that could not be given its configuration prints on stdout is logged",
          "[supervision][handshake]") {
  FixtureBesideBystander dir("close-stdin");
  CapturedLog log;
  auto options = plugvisor::test::test_options(dir.path());
  options.logger = log.logger;
  options.config_types["fixture.settings"] = std::string(4 << 20, 'x');  // more than the pipe holds
  {
    plugvisor::Manager manager(options);
    auto error = error_of([&] { manager.registry().get<DataProcessor>("echo")->process_data("x"); });
    CHECK(error.code() == ErrorCode::start_failed);
    CHECK(bystander_works(manager));
  }  // the reactor has read and logged every line of the plugins' output once the manager is gone
  const std::string text = log.text.str();
  CHECK_THAT(text, Catch::Contains("[stdout] usage: close-stdin reads no configuration"));
  CHECK_THAT(text, Catch::Contains("[stdout] see its documentation"));
}

TEST_CASE("a plugin that exits cleanly during its start twice is idle, and the call says to raise its idle timeout",
          "[supervision][restart]") {
  FixtureBesideBystander dir("exit-clean-early");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  auto error = error_of([&] { manager.registry().get<DataProcessor>("echo")->process_data("x"); });
  CHECK(error.code() == ErrorCode::start_failed);
  CHECK_THAT(error.what(), Catch::Contains("before the launch completed, twice: set an idle timeout longer than its "
                                           "start-up"));
  auto status = manager.plugin("fixture");
  CHECK(status->state == PluginState::idle);
  CHECK(status->last_exit == "idle");
  CHECK(status->starts == 1);
  CHECK(status->recent_failures == 0);  // not a failure
  CHECK(bystander_works(manager));
}

TEST_CASE("an idle exit is never counted as a failure", "[supervision][restart]") {
  TempDir dir;
  dir.add_fixture("fixture", "good");
  auto options = plugvisor::test::test_options(dir.path());
  // Long enough for each launch's first call to beat it (protocol 14.1).
  options.defaults.idle_timeout = 300ms * plugvisor::test::timing_scale;
  options.defaults.restart.max_failures = 2;
  plugvisor::Manager manager(options);
  auto echo = manager.registry().get<DataProcessor>("echo");
  for (int i = 0; i < 4; ++i) {
    REQUIRE(echo->process_data("x") == "x");
    REQUIRE(wait_for([&] { return state_is(manager, "fixture", PluginState::idle); }));
  }
  auto status = manager.plugin("fixture");
  CHECK(status->starts == 4);
  CHECK(status->restarts == 0);
  CHECK(status->recent_failures == 0);
}

TEST_CASE("an eager plugin that crashes is restarted after its backoff without waiting for a call",
          "[supervision][restart]") {
  TempDir dir;
  dir.add_fixture("fixture", "good");
  auto options = plugvisor::test::test_options(dir.path());
  options.defaults.start = plugvisor::StartPolicy::eager;
  options.defaults.restart.initial_backoff = 50ms;
  plugvisor::Manager manager(options);
  REQUIRE(state_is(manager, "fixture", PluginState::ready));  // started by the constructor
  int first_pid = manager.plugin("fixture")->pid;
  CHECK(error_of([&] { manager.registry().get<DataProcessor>("crash")->process_data("x"); }).code() ==
        ErrorCode::crashed);
  REQUIRE(wait_for([&] {
    auto s = manager.plugin("fixture");
    return s->state == PluginState::ready && s->pid != 0 && s->pid != first_pid;
  }));
  auto status = manager.plugin("fixture");
  CHECK(status->restarts == 1);
  CHECK(status->recent_failures == 1);
  CHECK_THAT(status->last_exit, Catch::Contains("SIGABRT"));
}

TEST_CASE("a call to a hung plugin times out, and the plugin, not answering health, is killed and relaunched",
          "[supervision][hang]") {
  FixtureBesideBystander dir("good");
  auto options = plugvisor::test::test_options(dir.path());
  options.defaults.restart.initial_backoff = 10ms;
  plugvisor::Manager manager(options);
  auto echo = manager.registry().get<DataProcessor>("echo");
  echo->ping();
  int pid = manager.plugin("fixture")->pid;
  REQUIRE(plugvisor::test::stop_process(pid));  // hung: answers nothing, not even /healthz
  auto error = error_of([&] {
    plugvisor::DeadlineScope deadline(300ms);
    echo->process_data("x");
  });
  CHECK(error.code() == ErrorCode::timeout);
  REQUIRE(wait_for([&] { return manager.plugin("fixture")->last_exit == "killed after a hang"; }));
  CHECK(echo->process_data("back") == "back");
  CHECK(manager.plugin("fixture")->pid != pid);
  CHECK(bystander_works(manager));
}

TEST_CASE("a slow call times out, but a plugin that still answers health keeps running", "[supervision][hang]") {
  FixtureBesideBystander dir("good");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  auto slow = manager.registry().get<DataProcessor>("slow");
  slow->ping();
  int pid = manager.plugin("fixture")->pid;
  auto error = error_of([&] {
    plugvisor::DeadlineScope deadline(200ms);
    slow->process_data("1200");
  });
  CHECK(error.code() == ErrorCode::timeout);
  std::this_thread::sleep_for(1500ms);  // the hang check has long run
  CHECK(state_is(manager, "fixture", PluginState::ready));
  CHECK(manager.plugin("fixture")->pid == pid);
  CHECK(bystander_works(manager));
}

TEST_CASE("a plugin that ignores /shutdown, stdin EOF and SIGTERM is killed after the grace", "[supervision][stop]") {
  TempDir dir;
  dir.add_fixture("fixture", "stubborn");
  auto options = plugvisor::test::test_options(dir.path());
  options.defaults.stop_grace = 300ms;
  options.defaults.term_grace = 200ms;
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(1000);
  options.logger = std::make_shared<spdlog::logger>("test", sink);
  options.logger->set_level(spdlog::level::info);
  plugvisor::Manager manager(options);
  manager.start("fixture");
  auto began = std::chrono::steady_clock::now();
  manager.stop("fixture");
  auto took = std::chrono::steady_clock::now() - began;
  CHECK(took >= 500ms);  // asked, waited 300 ms; SIGTERM, waited 200 ms; then SIGKILL
  CHECK(took < 5s);
  auto log = sink->last_formatted();
  auto said = [&](const std::string& text) {
    return std::any_of(log.begin(), log.end(), [&](const auto& line) { return line.find(text) != std::string::npos; });
  };
  CHECK(said("did not exit within 300ms of being asked; sending SIGTERM"));
  CHECK(said("ignored SIGTERM for 200ms; sending SIGKILL"));
  auto status = manager.plugin("fixture");
  CHECK(status->state == PluginState::stopped);
  CHECK_THAT(status->last_exit, Catch::Contains("SIGKILL"));
  CHECK(plugvisor::test::child_pids().empty());
}

TEST_CASE("a plugin whose forked child holds its socket is still seen to crash, and a new process serves",
          "[supervision][leaks]") {
  FixtureBesideBystander dir("fork-child");
  auto options = plugvisor::test::test_options(dir.path());
  options.defaults.restart.initial_backoff = 10ms;
  plugvisor::Manager manager(options);
  auto pid_of = manager.registry().get<DataProcessor>("pid");
  auto fork = manager.registry().get<DataProcessor>("fork");
  const pid_t plugin = std::stoi(pid_of->process_data(""));
  // The child is forked from inside a call: it holds the plugin's listening
  // socket, the manager's kept-alive connection and the stdio pipes.
  std::string how;
  SECTION("a child that stays in the plugin's process group") { how = "group"; }
  SECTION("a child that moved to a session of its own") { how = "escape"; }
  const pid_t child = std::stoi(fork->process_data(how));
  REQUIRE(child > 0);
  KillOnExit guard{how == "escape" ? child : 0};
  REQUIRE(shares_a_socket(child, plugin));

  ::kill(plugin, SIGKILL);
  REQUIRE(wait_for_state(manager, "fixture", PluginState::crashed));
  CHECK_THAT(manager.plugin("fixture")->last_exit, Catch::Contains("killed by SIGKILL"));
  CHECK(manager.plugin("fixture")->pid == 0);
  if (how == "group") {
    // The manager kills the process group when it reaps the plugin.
    CHECK(wait_for([&] { return plugvisor::test::process_gone(child); }));
  }  // an escaped child is out of the manager's reach: it still holds the old socket

  // The next call relaunches the plugin: a new process binds the path again and serves.
  const pid_t relaunched = std::stoi(pid_of->process_data(""));
  CHECK(relaunched != plugin);
  CHECK(relaunched != child);
  auto status = manager.plugin("fixture");
  CHECK(status->state == PluginState::ready);
  CHECK(status->pid == relaunched);
  CHECK(status->starts == 2);
  CHECK(manager.registry().get<DataProcessor>("echo")->process_data("served") == "served");
  CHECK(bystander_works(manager));

  manager.shutdown();
  CHECK(plugvisor::test::wait_for_no_children().empty());
  // The escaped child is the test's to end (the fixture reported its pid).
  if (how == "escape") ::kill(child, SIGKILL);
  CHECK(wait_for([&] { return plugvisor::test::process_gone(child); }));
}

// Forks a child from a call with `how` ("group" or "escape"), then makes the
// plugin abort in a call sent over the kept-alive connection the child also
// holds. Checks that the call fails with crashed, ended by the plugin's
// death, well before its deadline, and that the plugin serves again.
static void crash_with_child_holding_the_connection(const std::string& how) {
  FixtureBesideBystander dir("fork-child");
  auto options = plugvisor::test::test_options(dir.path());
  options.defaults.restart.initial_backoff = 10ms;
  plugvisor::Manager manager(options);
  const pid_t child = std::stoi(manager.registry().get<DataProcessor>("fork")->process_data(how));
  REQUIRE(child > 0);
  KillOnExit guard{how == "escape" ? child : 0};
  const auto deadline = 8s;
  const auto began = std::chrono::steady_clock::now();
  auto error = error_of([&] {
    plugvisor::DeadlineScope scope(deadline);
    manager.registry().get<DataProcessor>("crash")->process_data("x");
  });
  const auto took = std::chrono::steady_clock::now() - began;
  CHECK(error.code() == ErrorCode::crashed);
  CHECK_THAT(error.what(), Catch::Contains("SIGABRT"));
  INFO("the call took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  CHECK(took < deadline / 2);  // liveness: the plugin's death, not the deadline, ended the call
  CHECK(manager.registry().get<DataProcessor>("echo")->process_data("again") == "again");
  CHECK(bystander_works(manager));
  manager.shutdown();
  if (how == "escape") ::kill(child, SIGKILL);
  CHECK(wait_for([&] { return plugvisor::test::process_gone(child); }));
  CHECK(plugvisor::test::wait_for_no_children().empty());
}

TEST_CASE("a call in flight when a plugin dies fails promptly though the plugin's child in its group held the connection",
          "[supervision][leaks]") {
  crash_with_child_holding_the_connection("group");
}

// The escaped child survives the process group's SIGKILL and keeps the
// connection open: only the manager's abort of the calls in flight, when it
// reaps the plugin, ends the call before its deadline.
TEST_CASE("a call in flight when a plugin dies fails promptly though an escaped child of the plugin holds the connection",
          "[supervision][leaks]") {
  crash_with_child_holding_the_connection("escape");
}

TEST_CASE("a plugin flooding its log is rate-limited and counted, and keeps serving", "[supervision][log]") {
  FixtureBesideBystander dir("flood");
  CapturedLog log;
  auto options = plugvisor::test::test_options(dir.path());
  options.logger = log.logger;
  options.defaults.log_lines_per_second = 100;
  // The launch competes with the flood (5,000 lines) for the CPU.
  options.defaults.start_timeout = 10s * plugvisor::test::timing_scale;
  {
    plugvisor::Manager manager(options);
    auto echo = manager.registry().get<DataProcessor>("echo");
    CHECK(echo->process_data("during the flood") == "during the flood");
    // Most of the flood is dropped, however long reading it takes: at 100
    // lines/s, even 19 s of reading would pass fewer than 2,000 of the 5,000.
    CHECK(plugvisor::test::wait_for([&] { return manager.plugin("fixture")->dropped_log_lines > 3000; },
                                    10s * plugvisor::test::timing_scale));
    // The count of what was dropped is logged with the first line admitted
    // in a later one-second window: the call's own log line, after this.
    std::this_thread::sleep_for(1100ms);
    CHECK(echo->process_data("after") == "after");
    CHECK(bystander_works(manager));
  }
  CHECK_THAT(log.text.str(), Catch::Contains("log line(s) dropped: over 100 lines/s"));
  CHECK(log.text.str().size() < 2 * 1024 * 1024);  // what 100 lines/s let through, not the 1 MB flood
}

TEST_CASE("a 10 MB log line is cut, and binary bytes are escaped", "[supervision][log]") {
  FixtureBesideBystander dir("huge-line");
  CapturedLog log;
  auto options = plugvisor::test::test_options(dir.path());
  options.logger = log.logger;
  {
    plugvisor::Manager manager(options);
    CHECK(manager.registry().get<DataProcessor>("echo")->process_data("ok") == "ok");
    CHECK(bystander_works(manager));
  }
  auto text = log.text.str();
  CHECK_THAT(text, Catch::Contains("[line cut: ") && Catch::Contains("\\x01"));
  CHECK(text.size() < 1024 * 1024);
}

TEST_CASE("a plugin that exceeds its memory limit dies and is reported with the limit", "[supervision][limits]") {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  WARN("skipped: sanitizers reserve more address space than any limit allows");
  return;
#endif
  FixtureBesideBystander dir("leak");
  auto options = plugvisor::test::test_options(dir.path());
  // An address-space limit: the SDK's 32 worker threads reserve 8 MiB of stack each.
  options.defaults.limits.memory_bytes = 1024 * 1024 * 1024;
  plugvisor::Manager manager(options);
  manager.start("fixture");
  // Filling a gigabyte takes seconds on a loaded machine: a bound for liveness only.
  REQUIRE(wait_for([&] { return state_is(manager, "fixture", PluginState::crashed); }, std::chrono::seconds(30)));
  CHECK_THAT(manager.plugin("fixture")->last_error, Catch::Contains("memory limit of 1024 MiB"));
  CHECK(bystander_works(manager));
}

TEST_CASE("a plugin that exceeds its CPU time limit is killed and reported as such", "[supervision][limits]") {
  FixtureBesideBystander dir("good");
  auto options = plugvisor::test::test_options(dir.path());
  options.defaults.limits.cpu_time = 1s;
  plugvisor::Manager manager(options);
  auto error = error_of([&] { manager.registry().get<DataProcessor>("spin")->process_data("x"); });
  CHECK(error.code() == ErrorCode::crashed);
  CHECK_THAT(manager.plugin("fixture")->last_error, Catch::Contains("CPU time limit of 1s"));
  CHECK(bystander_works(manager));
}

TEST_CASE("a plugin runs under its open-files limit, and one without a limit keeps the manager's",
          "[supervision][limits]") {
  TempDir dir;
  dir.add_fixture("limited", "report");
  dir.add_fixture("unlimited", "report");
  auto options = plugvisor::test::test_options(dir.path());
  options.per_plugin["limited"] = options.defaults;
  options.per_plugin["limited"].limits.open_files = 100;
  options.per_plugin["limited"].env["PLUGVISOR_FIXTURE_PREFIX"] = "limited-";
  options.per_plugin["unlimited"] = options.defaults;
  options.per_plugin["unlimited"].env["PLUGVISOR_FIXTURE_PREFIX"] = "unlimited-";
  plugvisor::Manager manager(options);
  CHECK(manager.registry().get<DataProcessor>("limited-nofile")->process_data("") == "100 100");
  rlimit own{};
  ::getrlimit(RLIMIT_NOFILE, &own);
  CHECK(manager.registry().get<DataProcessor>("unlimited-nofile")->process_data("") ==
        std::to_string(own.rlim_cur) + " " + std::to_string(own.rlim_max));
  CHECK(manager.plugin("limited")->settings.limits.open_files == 100);
}

TEST_CASE("a plugin's environment is scrubbed to the allowlist plus its configured variables",
          "[supervision][environment]") {
  // The host's environment: one variable the allowlist names (LC_*), one it does not.
  plugvisor::test::ScopedEnv secret("PLUGVISOR_TEST_SECRET", "must not reach plugins");
  plugvisor::test::ScopedEnv locale("LC_PLUGVISOR_TEST", "kept");
  plugvisor::test::ScopedEnv overridden("LC_PLUGVISOR_OVERRIDE", "from the host");
  TempDir dir;
  dir.add_fixture("fixture", "report");
  auto options = plugvisor::test::test_options(dir.path());
  options.defaults.env = {{"FIXTURE_SETTING", "configured"}, {"LC_PLUGVISOR_OVERRIDE", "from the settings"}};
  auto env = [&] {
    plugvisor::Manager manager(options);
    return plugvisor::Json::parse(manager.registry().get<DataProcessor>("environ")->process_data(""));
  }();
  INFO(env.dump(2));
  CHECK_FALSE(env.contains("PLUGVISOR_TEST_SECRET"));
  CHECK(env.value("LC_PLUGVISOR_TEST", "") == "kept");
  CHECK(env.value("FIXTURE_SETTING", "") == "configured");
  CHECK(env.value("LC_PLUGVISOR_OVERRIDE", "") == "from the settings");  // configured wins
  CHECK(env.value("PLUGVISOR_PROTOCOL", "") == "1");
  CHECK(env.contains("PATH"));
  // Every variable is allowlisted, configured, or the protocol's; the
  // fixture's /bin/sh wrapper adds PWD. Allowlisted ones keep the host's value.
  const std::set<std::string> allowlist{"PATH",          "HOME",          "USER",         "LOGNAME",
                                        "LANG",          "TZ",            "TMPDIR",       "ASAN_OPTIONS",
                                        "UBSAN_OPTIONS", "TSAN_OPTIONS",  "LSAN_OPTIONS", "LD_LIBRARY_PATH"};
  for (const auto& [name, value] : env.items()) {
    INFO("variable " << name);
    bool listed = allowlist.contains(name) || name.starts_with("LC_");
    CHECK((listed || options.defaults.env.contains(name) || name == "PLUGVISOR_PROTOCOL" || name == "PWD"));
    if (listed && !options.defaults.env.contains(name)) {
      const char* host = std::getenv(name.c_str());
      CHECK((host ? std::string(host) : std::string("(unset)")) == value.get<std::string>());
    }
  }
}

TEST_CASE("answers the protocol does not allow fail the call with a specific error, the plugin keeps serving",
          "[supervision][replies]") {
  FixtureBesideBystander dir("good");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  auto bad = error_of([&] { manager.registry().get<DataProcessor>("bad-json")->supported_formats(); });
  CHECK(bad.code() == ErrorCode::bad_reply);
  CHECK_THAT(bad.what(), Catch::Contains("plugin fixture") && Catch::Contains("supportedFormats"));
  CHECK(manager.registry().get<DataProcessor>("echo")->process_data("ok") == "ok");
  CHECK(bystander_works(manager));
}

TEST_CASE("a truncated answer fails the call as crashed, and the next call still works", "[supervision][replies]") {
  FixtureBesideBystander dir("truncated");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  auto echo = manager.registry().get<DataProcessor>("echo");
  auto error = error_of([&] { echo->process_data("x"); });
  CHECK(error.code() == ErrorCode::crashed);
  CHECK_THAT(error.what(), Catch::Contains("closed without an answer"));
  CHECK(state_is(manager, "fixture", PluginState::ready));
  CHECK(bystander_works(manager));
}

TEST_CASE("a plugin that closes the connection mid-response fails that call as crashed, once, and keeps serving",
          "[supervision][replies]") {
  FixtureBesideBystander dir("torn");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  auto echo = manager.registry().get<DataProcessor>("echo");
  std::string cut_at;
  SECTION("after the status line and half a header") { cut_at = "headers"; }
  SECTION("after the headers and 7 of the 100 bytes of the body") { cut_at = "body"; }
  manager.start("fixture");
  const int pid = manager.plugin("fixture")->pid;
  for (int call = 1; call <= 2; ++call) {
    INFO("call " << call);
    auto error = error_of([&] { echo->process_data(cut_at); });
    CHECK(error.code() == ErrorCode::crashed);
    CHECK_THAT(error.what(), Catch::Contains("plugin fixture") && Catch::Contains("processData") &&
                                 Catch::Contains("closed without an answer"));
    auto status = manager.plugin("fixture");
    CHECK(status->state == PluginState::ready);
    CHECK(status->pid == pid);
    CHECK(status->starts == 1);
    CHECK(status->recent_failures == 0);  // the process did not die: not a failure
    // One connection per call: a call that may have run is never sent again.
    CHECK(status->connections == static_cast<std::uint64_t>(call));
  }
  CHECK(bystander_works(manager));
}

TEST_CASE("an answer whose head is larger than the first read and whose body comes in many pieces arrives whole",
          "[supervision][replies]") {
  FixtureBesideBystander dir("torn");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  manager.start("fixture");
  // The fixture writes a head of about 20 KiB on its own, then 200,000 bytes
  // of a-z in 1,000-byte writes.
  auto reply = manager.registry().get<DataProcessor>("echo")->process_data("split");
  REQUIRE(reply.size() == 200000);
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < reply.size(); ++i) wrong += reply[i] != static_cast<char>('a' + i % 26);
  CHECK(wrong == 0);
  CHECK(manager.plugin("fixture")->state == PluginState::ready);
  CHECK(bystander_works(manager));
}

TEST_CASE("an answer longer than the manager takes fails as bad_reply without the host allocating it",
          "[supervision][replies]") {
  FixtureBesideBystander dir("torn");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  manager.start("fixture");
  auto error = error_of([&] { manager.registry().get<DataProcessor>("echo")->process_data("huge"); });
  CHECK(error.code() == ErrorCode::bad_reply);
  CHECK_THAT(error.what(), Catch::Contains("99999999999999 bytes") && Catch::Contains("limit of 1 GiB"));
  auto status = manager.plugin("fixture");
  CHECK(status->state == PluginState::ready);
  CHECK(status->connections == 1);  // answered: never sent again
  CHECK(bystander_works(manager));
}

TEST_CASE("a plugin that answers one of the manager's own error codes is not believed", "[supervision][replies]") {
  FixtureBesideBystander dir("torn");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  manager.start("fixture");
  auto echo = manager.registry().get<DataProcessor>("echo");
  for (const char* code : {"crashed", "timeout", "bad_reply", "start_failed", "conflict", "config"}) {
    INFO(code);
    auto error = error_of([&] { echo->process_data(std::string("claim ") + code); });
    CHECK(error.code() == ErrorCode::bad_reply);
    CHECK_THAT(error.what(), Catch::Contains(std::string("the error code \"") + code + "\", which only the manager") &&
                                 Catch::Contains("as claimed"));
  }
  // The plugin's own codes are passed on as they are.
  CHECK(error_of([&] { echo->process_data("claim invalid_input"); }).code() == ErrorCode::invalid_input);
  CHECK(error_of([&] { echo->process_data("claim not_found"); }).code() == ErrorCode::not_found);
  CHECK(error_of([&] { echo->process_data("claim made_up"); }).code() == ErrorCode::internal);
  auto status = manager.plugin("fixture");
  CHECK(status->state == PluginState::ready);
  CHECK(status->recent_failures == 0);
  CHECK(status->starts == 1);
  CHECK(bystander_works(manager));
}

TEST_CASE("a second handshake line later on is only a log line", "[supervision][handshake]") {
  FixtureBesideBystander dir("second-handshake");
  CapturedLog log;
  auto options = plugvisor::test::test_options(dir.path());
  options.logger = log.logger;
  {
    plugvisor::Manager manager(options);
    auto echo = manager.registry().get<DataProcessor>("echo");
    echo->ping();
    std::this_thread::sleep_for(1500ms);  // the fixture prints the line 1 s after it starts
    CHECK(echo->process_data("still here") == "still here");
    CHECK(bystander_works(manager));
  }
  CHECK_THAT(log.text.str(), Catch::Contains("[stdout]") && Catch::Contains("/tmp/elsewhere.sock"));
}

TEST_CASE("a socket path held by a live process is refused with the reason, a stale one is cleared",
          "[supervision][sockets]") {
  FixtureBesideBystander dir("good");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  auto socket = manager.runtime_dir() / "fixture.sock";
  std::ofstream(socket.string() + ".lock") << ::getpid() << "\n";
  auto held = error_of([&] { manager.start("fixture"); });
  CHECK(held.code() == ErrorCode::start_failed);
  CHECK_THAT(held.what(), Catch::Contains("exited with code 3") && Catch::Contains("in use by live process"));
  std::filesystem::remove(socket.string() + ".lock");
  CHECK(bystander_works(manager));
}

TEST_CASE("a stale socket and lock left by a crashed plugin are cleared on the next launch", "[supervision][sockets]") {
  FixtureBesideBystander dir("good");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  auto socket = manager.runtime_dir() / "fixture.sock";
  pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  {
    // A socket nothing listens on, as a crashed plugin leaves it (a regular
    // file there is never removed: protocol.md 15, step 5).
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    ::close(fd);
  }
  std::ofstream(socket.string() + ".lock") << dead << "\n";
  CHECK(manager.registry().get<DataProcessor>("echo")->process_data("fresh") == "fresh");
  CHECK(bystander_works(manager));
}

TEST_CASE("a required eager plugin that cannot start fails the manager's start-up with the reason",
          "[supervision][start]") {
  TempDir dir;
  dir.add_fixture("broken", "crash-at-start");
  dir.add_fixture("fine", "good");
  auto options = plugvisor::test::test_options(dir.path());
  options.defaults.start = plugvisor::StartPolicy::eager;
  SECTION("required") {
    options.per_plugin["broken"] = options.defaults;
    options.per_plugin["broken"].required = true;
    auto error = error_of([&] { plugvisor::Manager manager(options); });
    CHECK(error.code() == ErrorCode::start_failed);
    CHECK_THAT(error.what(), Catch::Contains("required plugin broken") && Catch::Contains("cannot open the database"));
  }
  SECTION("optional") {
    plugvisor::Manager manager(options);
    CHECK(state_is(manager, "fine", PluginState::ready));
    CHECK(state_is(manager, "broken", PluginState::crashed));
  }
  CHECK(plugvisor::test::wait_for_no_children().empty());
}

// Options for `count` eager copies of the "barrier" fixture in `dir`: each
// launch, before its handshake, waits until all `count` launches are under
// way (see the fixture), so that launches made one after another never get
// past the first: it gives up after 10 s and exits with code 1.
static plugvisor::ManagerOptions barrier_options(TempDir& dir, const TempDir& barrier, int count) {
  for (int i = 0; i < count; ++i) dir.add_fixture("fixture-" + std::to_string(i), "barrier");
  auto options = plugvisor::test::test_options(dir.path());
  options.defaults.start = plugvisor::StartPolicy::eager;
  options.defaults.required = true;
  options.defaults.start_timeout = 30s;  // longer than the barrier's 10 s
  options.defaults.env["PLUGVISOR_FIXTURE_BARRIER"] = barrier.path().string();
  options.defaults.env["PLUGVISOR_FIXTURE_BARRIER_COUNT"] = std::to_string(count);
  return options;
}

TEST_CASE("eager plugins are started in parallel by the constructor", "[supervision][start]") {
  TempDir dir;
  TempDir barrier;
  // Required: a launch stuck at the barrier fails the constructor.
  plugvisor::Manager manager(barrier_options(dir, barrier, 6));
  for (const auto& plugin : manager.plugins()) {
    INFO(plugin.id << ": " << plugin.last_error);
    CHECK(plugin.state == PluginState::ready);
    CHECK(plugin.pid > 0);
    CHECK(plugin.starts == 1);
  }
  CHECK(manager.plugins().size() == 6);
  CHECK(std::distance(std::filesystem::directory_iterator(barrier.path()), {}) == 6);  // one launch each
  CHECK(plugvisor::test::child_pids().size() == 6);
}

TEST_CASE("eager plugins added by a reload are all starting before any of them is ready", "[supervision][start]") {
  TempDir empty;
  TempDir dir;
  TempDir barrier;
  // Declared before the manager: the listener runs until the manager is gone.
  std::mutex mutex;
  std::vector<std::pair<PluginState, PluginState>> events;  // in the order the manager reported them
  plugvisor::Manager manager(plugvisor::test::test_options(empty.path()));
  manager.on_state_change([&](const std::string&, PluginState from, PluginState to) {
    std::lock_guard lock(mutex);
    events.emplace_back(from, to);
  });
  auto result = manager.reload(barrier_options(dir, barrier, 5));
  CHECK(result.added.size() == 5);
  REQUIRE(wait_for([&] {
    auto plugins = manager.plugins();
    return plugins.size() == 5 && std::all_of(plugins.begin(), plugins.end(), [](const auto& plugin) {
             return plugin.state == PluginState::ready;
           });
  }, 30s));  // five parallel launches that wait on each other
  std::lock_guard lock(mutex);
  std::size_t last_starting = 0, first_ready = events.size(), starting = 0, ready = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (events[i].second == PluginState::starting) {
      ++starting;
      last_starting = i;
    }
    if (events[i].first == PluginState::starting && events[i].second == PluginState::ready) {
      ++ready;
      first_ready = std::min(first_ready, i);
    }
  }
  CHECK(starting == 5);
  CHECK(ready == 5);
  CHECK(last_starting < first_ready);  // all five launches overlapped
}

TEST_CASE("a disabled plugin refuses calls until it is enabled", "[supervision][state]") {
  FixtureBesideBystander dir("good");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  auto echo = manager.registry().get<DataProcessor>("echo");
  echo->ping();
  manager.disable("fixture");
  CHECK(state_is(manager, "fixture", PluginState::disabled));
  CHECK(plugvisor::test::child_pids().empty());
  auto error = error_of([&] { echo->ping(); });
  CHECK(error.code() == ErrorCode::unavailable);
  CHECK_THAT(error.what(), Catch::Contains("disabled"));
  manager.enable("fixture");
  CHECK(echo->process_data("again") == "again");
  CHECK(bystander_works(manager));
}
