// The manager end to end: real plugin processes over real sockets.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <set>
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

std::string rejection_for(const plugvisor::Manager& manager, const std::string& name) {
  for (const auto& r : manager.rejections()) {
    if (r.path.filename() == name) return r.reason;
  }
  return "(not rejected)";
}

// The capabilities and start timeouts of test_options(), as messages print them.
const std::string two_seconds_scaled = std::to_string(2 * plugvisor::test::timing_scale) + "s";

}  // namespace

TEST_CASE("discovery lists every plugin and says why each other file was rejected", "[manager][discovery]") {
  TempDir dir;
  dir.add_text_tools();
  dir.add_file("notes.txt", "not a plugin", 0644);
  dir.add_file("open-door", "#!/bin/sh\n", 0777);
  dir.add_file("bad name!", "#!/bin/sh\n", 0755);
  dir.add_file(".hidden", "#!/bin/sh\n", 0755);
  TempDir missing_parent;
  auto options = plugvisor::test::test_options(dir.path());
  options.plugin_dirs.push_back(missing_parent.path() / "nowhere");
  plugvisor::Manager manager(options);

  auto plugins = manager.plugins();
  REQUIRE(plugins.size() == 1);
  CHECK(plugins[0].id == "plugin-text-tools");
  CHECK(plugins[0].capabilities.version == "1.0.0");
  CHECK(plugins[0].state == PluginState::registered);
  CHECK(plugins[0].pid == 0);  // lazy: nothing runs until the first call
  CHECK_THAT(rejection_for(manager, "notes.txt"), Catch::Contains("not executable"));
  CHECK_THAT(rejection_for(manager, "open-door"), Catch::Contains("world-writable"));
  CHECK_THAT(rejection_for(manager, "bad name!"), Catch::Contains("not a valid plugin name"));
  CHECK_THAT(rejection_for(manager, "nowhere"), Catch::Contains("does not exist"));
  CHECK(rejection_for(manager, ".hidden") == "(not rejected)");
  CHECK(manager.rejections().size() == 4);
}

TEST_CASE("a symlink to a plugin in a world-writable directory is refused", "[manager][discovery]") {
  TempDir dir;
  TempDir open_dir;
  std::filesystem::permissions(open_dir.path(), std::filesystem::perms::all, std::filesystem::perm_options::replace);
  auto target = open_dir.add_file("planted", "#!/bin/sh\n", 0755);
  std::filesystem::create_symlink(target, dir.path() / "planted");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  CHECK(manager.plugins().empty());
  CHECK_THAT(rejection_for(manager, "planted"), Catch::Contains("world-writable directory"));
}

TEST_CASE("a jsonSchema given as a string of deeply nested JSON is refused with a reason, not a crash",
          "[manager][discovery]") {
  TempDir dir;
  dir.add_text_tools();
  // 200,000 levels, valid JSON inside a JSON string: parsed unbounded, its copy overflowed the stack.
  dir.add_file("deep-schema-string",
               "#!/bin/sh\n"
               "printf '{\"protocolVersion\":1,\"name\":\"deep\",\"version\":\"1.0.0\",\"types\":"
               "{\"dataProcessor\":[{\"type\":\"deep\",\"jsonSchema\":\"'\n"
               "head -c 200000 /dev/zero | tr '\\0' '['\n"
               "head -c 200000 /dev/zero | tr '\\0' ']'\n"
               "printf '\"}]}}\\n'\n");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  CHECK_THAT(rejection_for(manager, "deep-schema-string"),
             Catch::Contains("jsonSchema of dataProcessor/deep is a string whose JSON is refused") &&
                 Catch::Contains("nested deeper than 128"));
  CHECK(manager.registry().get<DataProcessor>("uppercase")->process_data("still") == "STILL");
}

TEST_CASE("a bad capabilities probe rejects that plugin with the reason, and the others still work",
          "[manager][discovery]") {
  TempDir dir;
  dir.add_text_tools();
  dir.add_fixture("caps-exit", "caps-exit");
  dir.add_fixture("caps-garbage", "caps-garbage");
  dir.add_fixture("caps-version", "caps-version");
  dir.add_fixture("caps-hang", "caps-hang");
  auto started = std::chrono::steady_clock::now();
  {
    plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
    auto took = std::chrono::steady_clock::now() - started;
    CHECK(took < 10s * plugvisor::test::timing_scale);  // the hanging probe is killed at its timeout, not waited for

    CHECK_THAT(rejection_for(manager, "caps-exit"), Catch::Contains("exited with code 1") &&
                                                        Catch::Contains("capabilities exploded on purpose"));
    CHECK_THAT(rejection_for(manager, "caps-garbage"),
               Catch::Contains("invalid JSON") && Catch::Contains("this is not json"));
    CHECK_THAT(rejection_for(manager, "caps-version"), Catch::Contains("protocolVersion 99"));
    CHECK_THAT(rejection_for(manager, "caps-hang"), Catch::Contains("did not finish within " + two_seconds_scaled));
    REQUIRE(manager.plugins().size() == 1);
    CHECK(manager.registry().get<DataProcessor>("uppercase")->process_data("still works") == "STILL WORKS");
  }
  CHECK(plugvisor::test::wait_for_no_children().empty());
}

TEST_CASE("a plugin that fails to start gets an error naming it and the reason, the others keep working",
          "[manager][start]") {
  TempDir dir;
  dir.add_text_tools();
  dir.add_fixture("hs-garbage", "hs-garbage");
  dir.add_fixture("hs-never", "hs-never");
  dir.add_fixture("exit-early", "exit-early");
  dir.add_fixture("health-500", "health-500");
  {
    plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
    REQUIRE(manager.plugins().size() == 5);
    auto upper = manager.registry().get<DataProcessor>("uppercase");

    auto garbage = error_of([&] { manager.start("hs-garbage"); });
    CHECK(garbage.code() == ErrorCode::start_failed);
    CHECK_THAT(garbage.what(), Catch::Contains("plugin hs-garbage") && Catch::Contains("Starting fixture v0.0.1") &&
                                   Catch::Contains("handshake"));

    auto never = error_of([&] { manager.start("hs-never"); });
    CHECK_THAT(never.what(), Catch::Contains("plugin hs-never") && Catch::Contains("no handshake line within " + two_seconds_scaled));

    auto early = error_of([&] { manager.start("exit-early"); });
    CHECK_THAT(early.what(), Catch::Contains("plugin exit-early") && Catch::Contains("exited with code 1"));

    auto unhealthy = error_of([&] { manager.start("health-500"); });
    CHECK_THAT(unhealthy.what(), Catch::Contains("plugin health-500") && Catch::Contains("/healthz") &&
                                     Catch::Contains("HTTP 500") && Catch::Contains("database not ready"));

    for (const char* id : {"hs-garbage", "hs-never", "exit-early", "health-500"}) {
      auto status = manager.plugin(id);
      CHECK(status->state == PluginState::crashed);
      CHECK(status->pid == 0);
      CHECK_THAT(status->last_error, Catch::Contains("could not start"));
    }
    // Only the healthy plugin's process is running now.
    CHECK(upper->process_data("fine") == "FINE");
    auto children = plugvisor::test::child_pids();
    CHECK(children.size() == 1);
  }
  CHECK(plugvisor::test::wait_for_no_children().empty());
}

TEST_CASE("a start fails at once, quoting the answer, when /healthz answers a refusal that polling will not change",
          "[manager][start]") {
  TempDir dir;
  dir.add_fixture("health-400", "health-400");
  auto options = plugvisor::test::test_options(dir.path());
  options.defaults.start_timeout = std::chrono::seconds(30);
  plugvisor::Manager manager(options);
  auto started = std::chrono::steady_clock::now();
  auto refused = error_of([&] { manager.start("health-400"); });
  auto took = std::chrono::steady_clock::now() - started;
  CHECK(refused.code() == ErrorCode::start_failed);
  CHECK_THAT(refused.what(), Catch::Contains("plugin health-400") && Catch::Contains("/healthz answered HTTP 400") &&
                                 Catch::Contains("malformed Host header"));
  // A liveness bound, far below the 30 s start timeout it used to wait out.
  CHECK(took < std::chrono::seconds(5) * plugvisor::test::timing_scale);
}

TEST_CASE("calls reach the plugin through the typed wrapper, bytes and JSON both", "[manager][calls]") {
  TempDir dir;
  dir.add_text_tools();
  auto options = plugvisor::test::test_options(dir.path());
  options.config_types["text-tools.prefix"] = {{"prefix", "~ "}};
  plugvisor::Manager manager(options);
  auto& registry = manager.registry();

  CHECK(registry.get<DataProcessor>("uppercase")->process_data("abc") == "ABC");
  CHECK(registry.get<DataProcessor>("prefix")->process_data("a\nb") == "~ a\n~ b");
  CHECK(registry.get<DataProcessor>("json-pretty")->supported_formats() == std::vector<std::string>{"application/json"});
  std::string binary("\0\x01\xff\n", 4);
  CHECK(registry.get<DataProcessor>("uppercase")->process_data(binary) == binary);
  registry.get<DataProcessor>("uppercase")->ping();

  auto all = registry.all<DataProcessor>();
  REQUIRE(all.size() == 4);
  CHECK(all[0].type == "json-pretty");
  CHECK(all[0].provider == "plugin-text-tools");
}

TEST_CASE("an unknown type or method fails with not_found naming what exists", "[manager][calls]") {
  TempDir dir;
  dir.add_fixture("fixture", "good");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));

  auto no_type = error_of([&] { manager.registry().get<DataProcessor>("nope"); });
  CHECK(no_type.code() == ErrorCode::not_found);
  CHECK_THAT(no_type.what(), Catch::Contains("known types: bad-json, busy, config, crash, echo, fail, in-place, pid, slow, spin"));

  auto no_method = error_of([&] { manager.registry().channel("dataProcessor", "echo")->call("nope", {}); });
  CHECK(no_method.code() == ErrorCode::not_found);
  CHECK_THAT(no_method.what(), Catch::Contains("plugin fixture") && Catch::Contains("no method 'nope'"));
}

TEST_CASE("a handler that throws answers internal, and the plugin keeps serving", "[manager][calls]") {
  TempDir dir;
  dir.add_fixture("fixture", "good");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  auto error = error_of([&] { manager.registry().get<DataProcessor>("fail")->process_data("x"); });
  CHECK(error.code() == ErrorCode::internal);
  CHECK_THAT(error.what(), Catch::Contains("plugin fixture") && Catch::Contains("the fixture failed on purpose"));
  CHECK(manager.registry().get<DataProcessor>("echo")->process_data("ok") == "ok");
  CHECK(manager.plugin("fixture")->starts == 1);
}

TEST_CASE("an oversized body is refused with too_large, and the plugin keeps serving", "[manager][calls]") {
  TempDir dir;
  dir.add_fixture("fixture", "good");
  auto options = plugvisor::test::test_options(dir.path());
  options.defaults.max_body_bytes = 1024;
  plugvisor::Manager manager(options);
  auto echo = manager.registry().get<DataProcessor>("echo");
  auto error = error_of([&] { echo->process_data(std::string(4096, 'x')); });
  CHECK(error.code() == ErrorCode::too_large);
  CHECK_THAT(error.what(), Catch::Contains("1024"));
  CHECK(echo->process_data(std::string(1000, 'y')) == std::string(1000, 'y'));
  // Too large to read and drop: answered early, and the connection closed.
  CHECK(error_of([&] { echo->process_data(std::string(4 << 20, 'x')); }).code() == ErrorCode::too_large);
  CHECK(echo->process_data(std::string(1000, 'z')) == std::string(1000, 'z'));
}

TEST_CASE("bodies of many MiB, past the reply buffer sized up front, come back byte for byte", "[manager][calls]") {
  // The request and reply bodies are sized to their Content-Length without a
  // zero-fill (http1::resize_for_overwrite), and the manager grows a reply
  // past 16 MiB as its bytes come: every byte must be the one sent, and a
  // smaller body after it on the same connection too.
  TempDir dir;
  dir.add_fixture("fixture", "good");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  auto echo = manager.registry().get<DataProcessor>("echo");
  auto pattern = [](std::size_t size, unsigned seed) {
    std::string body(size, '\0');
    for (std::size_t i = 0; i < size; ++i) body[i] = static_cast<char>((i * 131 + seed) % 251);
    return body;
  };
  // Where the answer first differs from what was sent (its size if nowhere):
  // a failure names an offset, not 20 MiB of expansion.
  auto first_difference = [](const std::string& got, const std::string& sent) {
    auto at = std::mismatch(got.begin(), got.end(), sent.begin(), sent.end());
    return got.size() == sent.size() && at.first == got.end() ? std::string("none")
                                                               : std::to_string(at.first - got.begin()) + " of " +
                                                                     std::to_string(got.size());
  };
  const std::string large = pattern((16 << 20) + (64 << 10) + 3, 7);
  CHECK(first_difference(echo->process_data(large), large) == "none");
  const std::string smaller = pattern((1 << 20) + 1, 11);
  CHECK(first_difference(echo->process_data(smaller), smaller) == "none");
  CHECK(echo->process_data("tail") == "tail");
}

TEST_CASE("a call past its deadline fails with timeout", "[manager][calls]") {
  TempDir dir;
  dir.add_fixture("fixture", "good");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  auto slow = manager.registry().get<DataProcessor>("slow");
  slow->ping();  // started
  auto began = std::chrono::steady_clock::now();
  auto error = error_of([&] {
    plugvisor::DeadlineScope deadline(300ms);
    slow->process_data("3000");
  });
  CHECK(error.code() == ErrorCode::timeout);
  CHECK_THAT(error.what(), Catch::Contains("plugin fixture"));
  CHECK(std::chrono::steady_clock::now() - began < 2500ms);  // liveness: well before the 3 s handler ends
}

TEST_CASE("the call's deadline travels to the plugin", "[manager][calls]") {
  TempDir dir;
  dir.add_fixture("fixture", "report");
  auto options = plugvisor::test::test_options(dir.path());
  options.defaults.call_timeout = 7s;
  plugvisor::Manager manager(options);
  manager.start("fixture");  // the launch does not eat into the deadlines below
  auto deadline = manager.registry().get<DataProcessor>("deadline");
  long left = 0;
  long budget = 0;
  SECTION("the caller's deadline") {
    budget = 4000;
    plugvisor::DeadlineScope scope{std::chrono::milliseconds(budget)};
    left = std::stol(deadline->process_data(""));
  }
  SECTION("the plugin's call_timeout when the caller sets none") {
    budget = 7000;
    left = std::stol(deadline->process_data(""));
  }
  // What the plugin saw (sdk::deadline()) is the call's budget, less the time on the way.
  CHECK(left <= budget);
  CHECK(left > budget / 2);  // generous
}

TEST_CASE("a plugin that crashes mid-call fails that call with crashed, the next call relaunches it",
          "[manager][calls]") {
  TempDir dir;
  dir.add_fixture("fixture", "good");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  auto error = error_of([&] { manager.registry().get<DataProcessor>("crash")->process_data("x"); });
  CHECK(error.code() == ErrorCode::crashed);
  CHECK_THAT(error.what(), Catch::Contains("plugin fixture") && Catch::Contains("SIGABRT"));
  CHECK(wait_for_state(manager, "fixture", PluginState::crashed));
  CHECK(manager.registry().get<DataProcessor>("echo")->process_data("again") == "again");
  auto status = manager.plugin("fixture");
  CHECK(status->starts == 2);
  CHECK(status->state == PluginState::ready);
  CHECK_THAT(status->last_exit, Catch::Contains("SIGABRT"));
}

TEST_CASE("an idle plugin exits by itself and is relaunched by the next call", "[manager][idle]") {
  TempDir dir;
  dir.add_fixture("fixture", "good");
  auto options = plugvisor::test::test_options(dir.path());
  options.defaults.idle_timeout = 300ms * plugvisor::test::timing_scale;
  plugvisor::Manager manager(options);
  auto pid = manager.registry().get<DataProcessor>("pid");
  std::string first = pid->process_data("");
  REQUIRE(wait_for_state(manager, "fixture", PluginState::idle));
  auto idle = manager.plugin("fixture");
  CHECK(idle->pid == 0);
  CHECK(idle->last_exit == "idle");
  CHECK(plugvisor::test::wait_for_no_children().empty());
  // The socket file went with it.
  CHECK(std::filesystem::is_empty(manager.runtime_dir()));

  std::string second = pid->process_data("");
  CHECK(second != first);
  CHECK(manager.plugin("fixture")->state == PluginState::ready);
  CHECK(manager.plugin("fixture")->starts == 2);
}

TEST_CASE("calls that race the idle exit are relaunched, never failed", "[manager][idle]") {
  TempDir dir;
  dir.add_fixture("fixture", "good");
  auto options = plugvisor::test::test_options(dir.path());
  // 100 ms: the idle clock starts at the handshake, and a launch must reach
  // its first call within it (protocol 14.1); under AddressSanitizer on two
  // loaded cores that took over 30 ms.
  options.defaults.idle_timeout = 100ms;
  plugvisor::Manager manager(options);
  auto echo = manager.registry().get<DataProcessor>("echo");
  // Space the calls around the idle timeout (the plugin checks every 10 ms),
  // so that many of them arrive just as the plugin decides to exit.
  int failures = 0;
  for (int i = 0; i < 60; ++i) {
    try {
      if (echo->process_data(std::to_string(i)) != std::to_string(i)) ++failures;
    } catch (const Error& e) {
      ++failures;
      WARN(e.what());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(85 + (i % 7) * 5));
  }
  CHECK(failures == 0);
  CHECK(manager.plugin("fixture")->starts > 1);  // the idle exits did happen
}

TEST_CASE("connections are kept alive and reused across many calls", "[manager][calls]") {
  TempDir dir;
  dir.add_fixture("fixture", "good");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  auto echo = manager.registry().get<DataProcessor>("echo");
  for (int i = 0; i < 50; ++i) REQUIRE(echo->process_data("x") == "x");
  // cpp-httplib's default would reconnect every 5 calls (10 connections).
  CHECK(manager.plugin("fixture")->connections == 1);
}

TEST_CASE("a pooled connection the plugin closed while idle is replaced, and the call succeeds",
          "[manager][calls]") {
  // This plugin closes kept-alive connections after 0.2 s without notice.
  for (auto transport : {plugvisor::Transport::unix_socket, plugvisor::Transport::tcp}) {
    TempDir dir;
    dir.add_file("quick-close", std::string("#!/bin/sh\nexec '") + PLUGVISOR_PYTHON3 + "' '" +
                                    PLUGVISOR_BROKEN_PLUGIN + "' --break quick-idle-close \"$@\"\n");
    auto options = plugvisor::test::test_options(dir.path());
    options.defaults.transport = transport;
    plugvisor::Manager manager(options);
    auto echo = manager.registry().get<DataProcessor>("echo");
    for (int i = 0; i < 3; ++i) {
      REQUIRE(echo->process_data("x" + std::to_string(i)) == "x" + std::to_string(i));
      std::this_thread::sleep_for(1s);  // the plugin closes the pooled connection (after 0.2 s) meanwhile
    }
    CHECK(manager.plugin("quick-close")->starts == 1);
  }
}

TEST_CASE("each plugin receives only the config types it declared", "[manager][config]") {
  TempDir dir;
  dir.add_fixture("fixture", "good");
  auto options = plugvisor::test::test_options(dir.path());
  options.config_types["fixture.settings"] = {{"level", 3}};
  options.config_types["text-tools.prefix"] = {{"prefix", "secret"}};
  plugvisor::Manager manager(options);
  auto seen = plugvisor::Json::parse(manager.registry().get<DataProcessor>("config")->process_data(""));
  CHECK(seen == plugvisor::Json{{"fixture.settings", {{"level", 3}}}});
}

TEST_CASE("many threads can call one plugin at once", "[manager][calls]") {
  TempDir dir;
  dir.add_fixture("fixture", "good");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  auto echo = manager.registry().get<DataProcessor>("echo");
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        std::string payload = std::to_string(t) + ":" + std::to_string(i);
        try {
          if (echo->process_data(payload) != payload) ++wrong;
        } catch (const Error&) {
          ++wrong;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(wrong == 0);
  CHECK(manager.plugin("fixture")->starts == 1);  // concurrent first calls share one launch
}

TEST_CASE("a 16 MiB argument moved in over TCP arrives whole and a handler owning its input answers it changed in place",
          "[manager][tcp][calls]") {
  // The typed wrapper sends a moved argument's own buffer, and the SDK hands
  // the request's buffer to the handler, which answers with it: no copy on
  // either side, and every byte still the right one, twice on one connection.
  TempDir dir;
  dir.add_fixture("fixture", "good");
  auto options = plugvisor::test::test_options(dir.path());
  options.defaults.transport = plugvisor::Transport::tcp;
  plugvisor::Manager manager(options);
  auto in_place = manager.registry().get<DataProcessor>("in-place");
  std::string sent((16 << 20) + 5, '\0');
  for (std::size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<char>((i * 131 + 3) % 251);
  std::string expected = sent;
  for (char& c : expected) c = static_cast<char>(c ^ 0x20);
  for (int round = 0; round < 2; ++round) {
    std::string argument = sent;
    std::string got = in_place->process_data(std::move(argument));
    CHECK(got.size() == expected.size());
    CHECK((got == expected));  // not expanded: 16 MiB in a failure message helps no one
  }
  auto echo = manager.registry().get<DataProcessor>("echo");
  CHECK((echo->process_data(std::string(sent)) == sent));
  CHECK(manager.plugin("fixture")->connections == 1);
}

TEST_CASE("plugins can be reached over loopback TCP", "[manager][tcp]") {
  TempDir dir;
  dir.add_fixture("fixture", "good");
  auto options = plugvisor::test::test_options(dir.path());
  options.defaults.transport = plugvisor::Transport::tcp;
  plugvisor::Manager manager(options);
  auto echo = manager.registry().get<DataProcessor>("echo");
  for (int i = 0; i < 20; ++i) REQUIRE(echo->process_data("tcp") == "tcp");
  CHECK(manager.plugin("fixture")->connections == 1);
}

TEST_CASE("stopping a plugin reaps it, and the next call starts it again", "[manager][stop]") {
  TempDir dir;
  dir.add_fixture("fixture", "good");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  auto echo = manager.registry().get<DataProcessor>("echo");
  echo->ping();
  manager.stop("fixture");
  CHECK(manager.plugin("fixture")->state == PluginState::stopped);
  CHECK(plugvisor::test::child_pids().empty());
  CHECK(echo->process_data("back") == "back");
  CHECK(manager.plugin("fixture")->starts == 2);
}

TEST_CASE("shutdown leaves no process, socket or directory behind, and later calls fail cleanly",
          "[manager][stop]") {
  TempDir dir;
  dir.add_fixture("fixture", "good");
  dir.add_text_tools();
  std::filesystem::path runtime;
  std::shared_ptr<DataProcessor> echo;
  {
    plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
    runtime = manager.runtime_dir();
    echo = manager.registry().get<DataProcessor>("echo");
    echo->ping();
    manager.registry().get<DataProcessor>("uppercase")->ping();
    CHECK(plugvisor::test::child_pids().size() == 2);
    auto mode = std::filesystem::status(runtime).permissions();
    CHECK(mode == std::filesystem::perms::owner_all);
  }
  CHECK(plugvisor::test::child_pids().empty());
  CHECK_FALSE(std::filesystem::exists(runtime));
  auto error = error_of([&] { echo->process_data("late"); });
  CHECK(error.code() == ErrorCode::unavailable);
}

TEST_CASE("a call in flight when the manager shuts down completes with its result within the grace",
          "[manager][stop]") {
  TempDir dir;
  TempDir marks;
  dir.add_fixture("fixture", "good");
  auto options = plugvisor::test::test_options(dir.path());
  options.defaults.stop_grace = 5s;
  options.defaults.env["PLUGVISOR_FIXTURE_MARKS"] = marks.path().string();  // "slow-started" once the call runs
  plugvisor::Manager manager(options);
  auto slow = manager.registry().get<DataProcessor>("slow");
  std::string result;
  std::string failure;
  std::thread caller([&] {
    try {
      result = slow->process_data("1000");
    } catch (const Error& e) {
      failure = e.what();
    }
  });
  const bool in_flight = wait_for([&] { return std::filesystem::exists(marks.path() / "slow-started"); }, 10s);
  CHECK(in_flight);
  manager.shutdown();  // asks the plugin to stop while the call runs
  caller.join();
  CHECK(failure == "");
  CHECK(result == "done");
  CHECK(plugvisor::test::child_pids().empty());
  CHECK(error_of([&] { slow->process_data("1"); }).code() == ErrorCode::unavailable);
}

TEST_CASE("a plugin inherits no descriptor of the manager or of other plugins, only its stdio", "[manager][leaks]") {
  TempDir dir;
  dir.add_fixture("other", "good");
  dir.add_fixture("fixture", "report");
  auto options = plugvisor::test::test_options(dir.path());
  options.per_plugin["other"] = options.defaults;
  options.per_plugin["other"].env["PLUGVISOR_FIXTURE_PREFIX"] = "other-";
  plugvisor::Manager manager(options);
  // Another plugin runs: the manager holds its pipes, its pidfd and a kept-alive connection to it.
  REQUIRE(manager.registry().get<DataProcessor>("other-echo")->process_data("x") == "x");
  auto listed = plugvisor::Json::parse(manager.registry().get<DataProcessor>("fds")->process_data(""));
  // Pipes and sockets are named by inode: one the manager also holds was inherited.
  std::set<std::string> managers;
  for (const auto& [fd, target] : plugvisor::test::open_descriptors()) managers.insert(target);
  INFO("the plugin's descriptors: " << listed.dump());
  // The SDK opens one signalfd and one eventfd of its own; those names carry
  // no inode, so one more of either would be the manager's (its reactor has
  // an eventfd, and a pidfd per plugin).
  int eventfds = 0, signalfds = 0;
  for (const auto& [name, value] : listed.items()) {
    const int fd = std::stoi(name);
    const std::string target = value;
    INFO("fd " << fd << " -> " << target);
    if (fd <= 2) {
      CHECK(target.starts_with("pipe:"));  // stdin, stdout and stderr: to the manager
    } else if (target == "anon_inode:[eventfd]") {
      ++eventfds;
    } else if (target == "anon_inode:[signalfd]") {
      ++signalfds;
    } else if (fd == 4 && target == (dir.path() / "fixture").string()) {
      // A #! plugin is executed through its checked descriptor, which its
      // interpreter reads as /dev/fd/4 (docs/security.md): its own file, read-only.
    } else {
      CHECK(target.starts_with("socket:"));  // its listening socket and the manager's connections to it
      CHECK_FALSE(managers.contains(target));
    }
  }
  CHECK(listed.contains("0"));
  CHECK(listed.contains("1"));
  CHECK(listed.contains("2"));
  CHECK(eventfds <= 1);
  CHECK(signalfds <= 1);
}

TEST_CASE("plugin output is forwarded to the log under the plugin's id", "[manager][log]") {
  TempDir dir;
  dir.add_fixture("fixture", "good");
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  auto logger = std::make_shared<spdlog::logger>("host", sink);
  logger->set_pattern("%n %l %v");
  logger->set_level(spdlog::level::info);
  {
    auto options = plugvisor::test::test_options(dir.path());
    options.logger = logger;
    plugvisor::Manager manager(options);
    manager.registry().get<DataProcessor>("echo")->ping();
  }
  // The SDK logs its shutdown as a JSON line {"level":"info","msg":...} on stderr.
  CHECK_THAT(captured.str(), Catch::Contains("fixture info shutting down: asked through /shutdown"));
}

TEST_CASE("the manager's state listener sees every transition", "[manager][state]") {
  TempDir dir;
  dir.add_fixture("fixture", "good");
  auto options = plugvisor::test::test_options(dir.path());
  // Long enough for the first call to beat it (protocol 14.1): a late one
  // would add a relaunch to the transitions.
  options.defaults.idle_timeout = 1s * plugvisor::test::timing_scale;
  // Declared before the manager: the listener runs until the manager is gone.
  std::mutex mutex;
  std::vector<std::string> seen;
  plugvisor::Manager manager(options);
  manager.on_state_change([&](const std::string& id, PluginState from, PluginState to) {
    std::lock_guard lock(mutex);
    seen.push_back(id + ":" + std::string(to_string(from)) + "->" + std::string(to_string(to)));
  });
  manager.registry().get<DataProcessor>("echo")->ping();
  REQUIRE(wait_for_state(manager, "fixture", PluginState::idle));
  std::lock_guard lock(mutex);
  CHECK(seen == std::vector<std::string>{"fixture:registered->starting", "fixture:starting->ready",
                                         "fixture:ready->idle"});
}
