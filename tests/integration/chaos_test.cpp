// Chaos and leaks: many callers while plugins are killed at random, and
// thousands of launches, exits and crashes that must leave nothing behind.
#include <dirent.h>
#include <signal.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <catch2/catch.hpp>
#include <spdlog/spdlog.h>

#include "plugvisor/manager.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using plugvisor::DataProcessor;
using plugvisor::Error;
using plugvisor::ErrorCode;
using plugvisor::PluginState;
using Clock = std::chrono::steady_clock;

namespace {

std::size_t count_entries(const char* path) {
  std::size_t n = 0;
  if (DIR* dir = ::opendir(path)) {
    while (dirent* entry = ::readdir(dir)) {
      if (entry->d_name[0] != '.') ++n;
    }
    ::closedir(dir);
  }
  return n;
}

std::size_t open_fds() { return count_entries("/proc/self/fd"); }
std::size_t threads() { return plugvisor::test::thread_count(); }

}  // namespace

TEST_CASE("chaos: callers on several threads while a killer SIGKILLs plugins at random", "[chaos]") {
  spdlog::set_level(spdlog::level::err);  // thousands of expected crashes
  plugvisor::test::TempDir dir;
  const std::vector<std::string> ids{"alpha", "beta", "gamma"};
  for (const auto& id : ids) dir.add_fixture(id, "good");
  auto options = plugvisor::test::test_options(dir.path());
  // max_failures = 0: the circuit never opens, however many kills land in a
  // window, so that every plugin must come back by itself after the chaos
  // (an open circuit would need restart() by hand). Eager: the manager
  // relaunches a killed plugin after its backoff without waiting for a call.
  options.defaults.restart = {.initial_backoff = 5ms, .max_backoff = 50ms, .max_failures = 0,
                              .window = 1s, .cool_down = 0ms};
  options.defaults.start = plugvisor::StartPolicy::eager;
  for (const auto& id : ids) {
    options.per_plugin[id] = options.defaults;
    options.per_plugin[id].env["PLUGVISOR_FIXTURE_PREFIX"] = id + "-";  // types alpha-echo, beta-echo...
  }
  const auto fds_before = open_fds();
  // ThreadSanitizer starts a thread of its own with the process's first
  // thread: make it exist before the count.
  std::thread([] {}).join();
  const auto threads_before = threads();
  const auto call_budget = 2s;
  // The chaos lasts at least 5 s, until the callers have made this many calls
  // and until the killer has killed more than min_kills plugins; a machine
  // too slow for that within the bound fails the liveness checks.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  const int call_target = 500;
#else
  const int call_target = 3000;
#endif
  const int min_kills = 30;
  const auto chaos_bound = 60s;

  std::atomic<int> calls{0}, successes{0}, typed_failures{0}, wrong{0}, late{0}, kills{0};
  std::map<ErrorCode, int> codes;
  std::mutex codes_mutex;
  std::filesystem::path runtime;
  {
    plugvisor::Manager manager(options);
    runtime = manager.runtime_dir();
    const auto at_least_until = Clock::now() + 5s;
    const auto give_up = Clock::now() + chaos_bound;
    std::atomic<bool> stop{false};
    std::vector<std::thread> callers;
    for (int t = 0; t < 4; ++t) {
      callers.emplace_back([&, t] {
        std::mt19937 random(static_cast<unsigned>(t));
        while (!stop) {
          const std::string& id = ids[random() % ids.size()];
          std::string payload = id + ":" + std::to_string(random());
          auto began = Clock::now();
          ++calls;
          try {
            plugvisor::DeadlineScope deadline(call_budget);
            auto echo = manager.registry().get<DataProcessor>(id + "-echo");
            if (echo->process_data(payload) == payload) {
              ++successes;
            } else {
              ++wrong;
            }
          } catch (const Error& e) {
            ++typed_failures;
            std::lock_guard lock(codes_mutex);
            ++codes[e.code()];
          }
          // A launch inside the call is bounded by start_timeout, not the deadline.
          if (Clock::now() - began > call_budget + options.defaults.start_timeout + 1s) ++late;
        }
      });
    }
    std::set<pid_t> killed;  // written by the killer, read after it is joined
    std::thread killer([&] {
      std::mt19937 random(42);
      while (Clock::now() < at_least_until ||
             ((calls < call_target || kills <= min_kills) && Clock::now() < give_up)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10 + random() % 50));
        auto plugins = manager.plugins();
        auto& victim = plugins[random() % plugins.size()];
        if (victim.pid > 0 && ::kill(victim.pid, SIGKILL) == 0) {
          ++kills;
          killed.insert(victim.pid);
        }
      }
      stop = true;
    });
    killer.join();
    for (auto& caller : callers) caller.join();

    // Every plugin comes back by itself after the last kill: no call, no
    // restart(); then calls succeed again. (A process killed last may still
    // show as ready until the manager reaps it: wait for one never killed.)
    for (const auto& id : ids) {
      INFO("plugin " << id);
      CHECK(plugvisor::test::wait_for(
          [&] {
            auto status = manager.plugin(id);
            return status->state == PluginState::ready && status->pid > 0 && !killed.contains(status->pid);
          },
          10s));  // liveness only
      auto status = manager.plugin(id);
      CHECK(status->state != PluginState::failed);
      try {
        plugvisor::DeadlineScope deadline(call_budget);
        CHECK(manager.registry().get<DataProcessor>(id + "-echo")->process_data("after") == "after");
      } catch (const Error& e) {
        FAIL_CHECK("plugin " << id << " did not come back: " << e.what());
      }
    }
    int restarts = 0;
    for (const auto& plugin : manager.plugins()) restarts += plugin.restarts;
    WARN("chaos: " << calls << " calls, " << successes << " succeeded, " << typed_failures << " typed failures ("
                   << codes[ErrorCode::crashed] << " crashed, " << codes[ErrorCode::unavailable] << " unavailable, "
                   << codes[ErrorCode::timeout] << " timeout, " << codes[ErrorCode::start_failed]
                   << " start_failed), " << kills << " kills, " << restarts << " restarts");
  }
  CHECK(calls == successes + typed_failures + wrong);
  CHECK(wrong == 0);
  CHECK(late == 0);     // every call returned within its deadline (plus slack)
  CHECK(kills > min_kills);     // liveness: the chaos did happen within chaos_bound
  CHECK(calls >= call_target);  // liveness: reached within chaos_bound
  CHECK(successes > calls / 4);
  for (const auto& [code, count] : codes) {
    INFO("error code " << plugvisor::to_string(code));
    bool typed = code == ErrorCode::crashed || code == ErrorCode::unavailable || code == ErrorCode::timeout ||
                 code == ErrorCode::start_failed;
    CHECK(typed);
  }
  // Nothing is left: no process, no socket directory, no descriptor, no thread.
  CHECK(plugvisor::test::wait_for_no_children().empty());
  CHECK_FALSE(std::filesystem::exists(runtime));
  CHECK(open_fds() <= fds_before);
  CHECK(threads() <= threads_before);
}

TEST_CASE("thousands of launches, idle exits and crashes leak no process, file, descriptor or thread", "[leaks]") {
  spdlog::set_level(spdlog::level::err);
  plugvisor::test::TempDir dir;
  // Four plugins, each driven by its own thread, so that launches overlap.
  const std::vector<std::string> ids{"fixture-0", "fixture-1", "fixture-2", "fixture-3"};
  // A plain build makes 2000 launches in about 20 s on two busy cores;
  // sanitizer builds are several times slower (ThreadSanitizer about ten).
// The idle timeout must outlast a launch as the plugin sees it (handshake,
  // health check, first call), or the launch fails by design (protocol 14.1):
  // on two loaded cores that gap reached 30 ms under AddressSanitizer.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  const int target = 300;
  const auto liveness_bound = 90s;
#else
  const int target = 2000;
  const auto liveness_bound = 60s;
#endif
  const auto idle_timeout = 60ms * plugvisor::test::timing_scale;
  for (const auto& id : ids) dir.add_fixture(id, "good");
  auto options = plugvisor::test::test_options(dir.path());
  options.defaults.idle_timeout = idle_timeout;
  // The circuit never opens (max_failures 0): every crash is relaunched.
  options.defaults.restart = {.initial_backoff = 1ms, .max_backoff = 1ms, .max_failures = 0,
                              .window = 1s, .cool_down = 0ms};
  for (const auto& id : ids) {
    options.per_plugin[id] = options.defaults;
    options.per_plugin[id].env["PLUGVISOR_FIXTURE_PREFIX"] = id + "-";
  }
  const auto fds_before = open_fds();
  // ThreadSanitizer starts a thread of its own with the process's first
  // thread: make it exist before the count.
  std::thread([] {}).join();
  const auto threads_before = threads();
  std::filesystem::path runtime;
  int launches = 0, idle_exits = 0, crashes = 0;
  std::atomic<int> calls{0}, echo_failures{0}, crash_not_failed{0};
  std::string first_echo_failure;
  std::mutex failure_mutex;
  {
    plugvisor::Manager manager(options);
    runtime = manager.runtime_dir();
    // A bound for liveness only: the launches take well under it.
    const auto give_up_at = Clock::now() + liveness_bound;
    const int per_plugin = (target + static_cast<int>(ids.size()) - 1) / static_cast<int>(ids.size());
    std::vector<std::thread> drivers;
    for (const auto& id : ids) {
      drivers.emplace_back([&, id] {
        auto echo = manager.registry().get<DataProcessor>(id + "-echo");
        auto crash = manager.registry().get<DataProcessor>(id + "-crash");
        for (int i = 0; manager.plugin(id)->starts < per_plugin && Clock::now() < give_up_at; ++i) {
          ++calls;
          if (i % 3 == 2) {
            try {
              crash->process_data("x");
              ++crash_not_failed;
            } catch (const Error&) {
            }
          } else {
            try {
              if (echo->process_data("x") != "x") ++echo_failures;
            } catch (const Error& e) {
              if (++echo_failures == 1) {
                std::lock_guard lock(failure_mutex);
                first_echo_failure = e.what();
              }
            }
          }
          if (i % 10 == 0) {
            // Let it idle out now and then, the rest of the time crash or call.
            auto deadline = Clock::now() + 2s;
            while (manager.plugin(id)->state == PluginState::ready && Clock::now() < deadline) {
              std::this_thread::sleep_for(5ms);
            }
          }
        }
      });
    }
    for (auto& driver : drivers) driver.join();
    for (const auto& plugin : manager.plugins()) {
      launches += plugin.starts;
      idle_exits += plugin.idle_exits;
      crashes += plugin.crashes;
    }
    // What is left in the socket directory belongs to a plugin still running,
    // or to one that crashed (its next launch clears it).
    for (const auto& entry : std::filesystem::directory_iterator(runtime)) {
      const auto name = entry.path().filename().string();
      INFO("left in the socket directory: " << name);
      auto status = manager.plugin(name.substr(0, name.find(".sock")));
      CHECK((status && (status->pid > 0 || status->state == PluginState::crashed)));
    }
  }
  WARN("leak check: " << launches << " launches, " << idle_exits << " idle exits, " << crashes << " crashes, "
                      << calls << " calls");
  CHECK(launches >= target);
  CHECK(idle_exits > launches / 10);
  CHECK(crashes > launches / 10);
  INFO("first failure: " << first_echo_failure);
  CHECK(echo_failures == 0);
  CHECK(crash_not_failed == 0);
  CHECK(plugvisor::test::wait_for_no_children().empty());
  CHECK_FALSE(std::filesystem::exists(runtime));
  CHECK(open_fds() <= fds_before);
  CHECK(threads() <= threads_before);
}
