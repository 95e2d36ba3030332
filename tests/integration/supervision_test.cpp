// Supervision at the edges: crashes, hangs, restarts, limits, floods, and
// the files and processes a plugin leaves behind.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>
#include <spdlog/sinks/ostream_sink.h>
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

bool process_group_gone(pid_t group) { return ::kill(-group, 0) != 0 && errno == ESRCH; }

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

TEST_CASE("a plugin that closes its stdin before reading the config fails to start; the host is not killed by SIGPIPE",
          "[supervision][start]") {
  TempDir dir;
  dir.add_text_tools();
  dir.add_fixture("fixture", "close-stdin");
  auto options = plugvisor::test::test_options(dir.path());
  // Far more than a pipe holds, so the manager is still writing when the reader goes.
  options.config_types["fixture.settings"] = std::string(4 << 20, 'x');
  plugvisor::Manager manager(options);
  auto error = error_of([&] { manager.registry().get<DataProcessor>("echo")->process_data("x"); });
  CHECK(error.code() == ErrorCode::start_failed);
  CHECK_THAT(error.what(), Catch::Contains("plugin fixture"));
  CHECK(bystander_works(manager));
}

TEST_CASE("an idle exit is never counted as a failure", "[supervision][restart]") {
  TempDir dir;
  dir.add_fixture("fixture", "good");
  auto options = plugvisor::test::test_options(dir.path());
  options.defaults.idle_timeout = 100ms;
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
  TempDir dir;
  dir.add_text_tools();
  dir.add_fixture("fixture", "good");
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
  TempDir dir;
  dir.add_text_tools();
  dir.add_fixture("fixture", "good");
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
  plugvisor::Manager manager(options);
  manager.start("fixture");
  auto began = std::chrono::steady_clock::now();
  manager.stop("fixture");
  auto took = std::chrono::steady_clock::now() - began;
  CHECK(took >= 600ms);  // asked, waited; SIGTERM, waited; then SIGKILL
  CHECK(took < 5s);
  auto status = manager.plugin("fixture");
  CHECK(status->state == PluginState::stopped);
  CHECK_THAT(status->last_exit, Catch::Contains("SIGKILL"));
  CHECK(plugvisor::test::child_pids().empty());
}

TEST_CASE("a child forked by a plugin dies with it", "[supervision][leaks]") {
  TempDir dir;
  dir.add_text_tools();
  dir.add_fixture("fixture", "fork-child");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  manager.registry().get<DataProcessor>("echo")->ping();
  pid_t group = manager.plugin("fixture")->pid;
  REQUIRE_FALSE(process_group_gone(group));
  manager.stop("fixture");
  CHECK(wait_for([&] { return process_group_gone(group); }, 3s));
  CHECK(bystander_works(manager));
}

TEST_CASE("a plugin flooding its log is rate-limited and counted, and keeps serving", "[supervision][log]") {
  TempDir dir;
  dir.add_text_tools();
  dir.add_fixture("fixture", "flood");
  CapturedLog log;
  auto options = plugvisor::test::test_options(dir.path());
  options.logger = log.logger;
  options.defaults.log_lines_per_second = 100;
  {
    plugvisor::Manager manager(options);
    auto echo = manager.registry().get<DataProcessor>("echo");
    CHECK(echo->process_data("during the flood") == "during the flood");
    std::this_thread::sleep_for(1700ms);
    CHECK(echo->process_data("after") == "after");
    CHECK(manager.plugin("fixture")->dropped_log_lines > 1000);
    CHECK(bystander_works(manager));
  }
  CHECK_THAT(log.text.str(), Catch::Contains("log line(s) dropped: over 100 lines/s"));
  CHECK(log.text.str().size() < 2 * 1024 * 1024);  // ~1.7 s at 100 lines/s, not the flood
}

TEST_CASE("a 10 MB log line is cut, and binary bytes are escaped", "[supervision][log]") {
  TempDir dir;
  dir.add_text_tools();
  dir.add_fixture("fixture", "huge-line");
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
  TempDir dir;
  dir.add_text_tools();
  dir.add_fixture("fixture", "leak");
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
  TempDir dir;
  dir.add_text_tools();
  dir.add_fixture("fixture", "good");
  auto options = plugvisor::test::test_options(dir.path());
  options.defaults.limits.cpu_time = 1s;
  plugvisor::Manager manager(options);
  auto error = error_of([&] { manager.registry().get<DataProcessor>("spin")->process_data("x"); });
  CHECK(error.code() == ErrorCode::crashed);
  CHECK_THAT(manager.plugin("fixture")->last_error, Catch::Contains("CPU time limit of 1s"));
  CHECK(bystander_works(manager));
}

TEST_CASE("answers the protocol does not allow fail the call with a specific error; the plugin keeps serving",
          "[supervision][replies]") {
  TempDir dir;
  dir.add_text_tools();
  dir.add_fixture("fixture", "good");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  auto bad = error_of([&] { manager.registry().get<DataProcessor>("bad-json")->supported_formats(); });
  CHECK(bad.code() == ErrorCode::bad_reply);
  CHECK_THAT(bad.what(), Catch::Contains("plugin fixture") && Catch::Contains("supportedFormats"));
  CHECK(manager.registry().get<DataProcessor>("echo")->process_data("ok") == "ok");
  CHECK(bystander_works(manager));
}

TEST_CASE("a truncated answer fails the call as crashed, and the next call still works", "[supervision][replies]") {
  TempDir dir;
  dir.add_text_tools();
  dir.add_fixture("fixture", "truncated");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  auto echo = manager.registry().get<DataProcessor>("echo");
  auto error = error_of([&] { echo->process_data("x"); });
  CHECK(error.code() == ErrorCode::crashed);
  CHECK_THAT(error.what(), Catch::Contains("closed without an answer"));
  CHECK(state_is(manager, "fixture", PluginState::ready));
  CHECK(bystander_works(manager));
}

TEST_CASE("a second handshake line later on is only a log line", "[supervision][handshake]") {
  TempDir dir;
  dir.add_text_tools();
  dir.add_fixture("fixture", "second-handshake");
  CapturedLog log;
  auto options = plugvisor::test::test_options(dir.path());
  options.logger = log.logger;
  {
    plugvisor::Manager manager(options);
    auto echo = manager.registry().get<DataProcessor>("echo");
    echo->ping();
    std::this_thread::sleep_for(500ms);
    CHECK(echo->process_data("still here") == "still here");
    CHECK(bystander_works(manager));
  }
  CHECK_THAT(log.text.str(), Catch::Contains("[stdout]") && Catch::Contains("/tmp/elsewhere.sock"));
}

TEST_CASE("a socket path held by a live process is refused with the reason; a stale one is cleared",
          "[supervision][sockets]") {
  TempDir dir;
  dir.add_text_tools();
  dir.add_fixture("fixture", "good");
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
  TempDir dir;
  dir.add_text_tools();
  dir.add_fixture("fixture", "good");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  auto socket = manager.runtime_dir() / "fixture.sock";
  pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  std::ofstream(socket.string()) << "";
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

TEST_CASE("eager plugins are started in parallel by the constructor", "[supervision][start]") {
  TempDir dir;
  for (int i = 0; i < 6; ++i) dir.add_fixture("fixture-" + std::to_string(i), "good");
  auto options = plugvisor::test::test_options(dir.path());
  options.defaults.start = plugvisor::StartPolicy::eager;
  plugvisor::Manager manager(options);
  for (const auto& plugin : manager.plugins()) {
    CHECK(plugin.state == PluginState::ready);
    CHECK(plugin.pid > 0);
  }
  CHECK(plugvisor::test::child_pids().size() == 6);
}

TEST_CASE("a disabled plugin refuses calls until it is enabled", "[supervision][state]") {
  TempDir dir;
  dir.add_text_tools();
  dir.add_fixture("fixture", "good");
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
