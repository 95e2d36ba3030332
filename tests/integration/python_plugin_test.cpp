// The Python SDK end to end: the manager discovers, launches, calls and
// relaunches plugins written in Python, through the same typed wrappers as
// C++ plugins. Uses the example build/plugins/plugin-py-stats (assembled with
// the SDK into build/plugins/.lib/python) and a small Python fixture.
#include <fstream>
#include <thread>

#include <catch2/catch.hpp>

#include "plugvisor/manager.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using plugvisor::DataProcessor;
using plugvisor::Error;
using plugvisor::ErrorCode;
using plugvisor::Json;
using plugvisor::PluginState;
using plugvisor::test::error_of;
using plugvisor::test::TempDir;
using plugvisor::test::wait_for;
using plugvisor::test::wait_for_state;

namespace fs = std::filesystem;

namespace {

fs::path py_stats_path() { return fs::path(PLUGVISOR_PLUGIN_DIR) / "plugin-py-stats"; }

// Links the example into `dir` (the launcher finds its SDK through the link).
void add_py_stats(TempDir& dir) { fs::create_symlink(py_stats_path(), dir.path() / "plugin-py-stats"); }

// The #! line of the assembled example: the interpreter the build found.
std::string python_shebang() {
  std::ifstream in(py_stats_path());
  std::string line;
  std::getline(in, line);
  return line;
}

// A Python plugin written on the spot: one type that fails, one that echoes.
void add_faulty_python_plugin(TempDir& dir) {
  dir.add_file("py-faulty", python_shebang() + "\n" +
                                "import sys\n"
                                "sys.path.insert(0, '" PLUGVISOR_PLUGIN_DIR "/.lib/python')\n"
                                "from plugvisor_sdk import Plugin\n"
                                "plugin = Plugin(name='py-faulty', version='0.1')\n"
                                "@plugin.data_processor('py-fail')\n"
                                "def fail(data):\n"
                                "    raise ValueError('the Python handler failed on purpose')\n"
                                "@plugin.data_processor('py-echo', formats=['any'])\n"
                                "def echo(data):\n"
                                "    return data\n"
                                "raise SystemExit(plugin.run())\n");
}

}  // namespace

TEST_CASE("the registry lists the Python plugin beside plugin-text-tools", "[python][discovery]") {
  TempDir dir;
  dir.add_text_tools();
  add_py_stats(dir);
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));

  auto plugins = manager.plugins();
  REQUIRE(plugins.size() == 2);
  CHECK(plugins[0].id == "plugin-py-stats");
  CHECK(plugins[0].capabilities.version == "1.0.0");
  CHECK(plugins[1].id == "plugin-text-tools");
  CHECK(manager.rejections().empty());

  std::vector<std::string> seen;
  for (const auto& provided : manager.registry().all<DataProcessor>()) {
    seen.push_back(provided.type + "@" + provided.provider);
  }
  CHECK(seen == std::vector<std::string>{"csv-to-json@plugin-py-stats", "json-pretty@plugin-text-tools",
                                         "percentiles@plugin-py-stats", "prefix@plugin-text-tools",
                                         "stats@plugin-py-stats", "uppercase@plugin-text-tools",
                                         "word-count@plugin-text-tools"});
}

TEST_CASE("a Python plugin is called through the typed wrapper", "[python][calls]") {
  TempDir dir;
  dir.add_text_tools();
  add_py_stats(dir);
  auto options = plugvisor::test::test_options(dir.path());
  options.config_types["py-stats.percentiles"] = {{"percentiles", {50, 100}}};
  plugvisor::Manager manager(options);
  auto& registry = manager.registry();

  auto stats = registry.get<DataProcessor>("stats");
  stats->ping();
  auto summary = Json::parse(stats->process_data("1 2 3 4"));
  CHECK(summary["count"] == 4);
  CHECK(summary["min"] == 1);
  CHECK(summary["max"] == 4);
  CHECK(summary["mean"] == 2.5);
  CHECK(summary["median"] == 2.5);
  CHECK(summary["stdev"].get<double>() == Approx(1.2909944487));
  CHECK(stats->supported_formats() == std::vector<std::string>{"text/plain"});

  auto rows = Json::parse(registry.get<DataProcessor>("csv-to-json")->process_data("name,n\nann,1\nbob,2\n"));
  CHECK(rows == Json::parse(R"([{"name":"ann","n":"1"},{"name":"bob","n":"2"}])"));

  // The config type reaches the Python type's constructor.
  auto percentiles = Json::parse(registry.get<DataProcessor>("percentiles")->process_data("1\n2\n3\n4\n5"));
  CHECK(percentiles == Json::parse(R"({"count":5,"percentiles":{"p50":3,"p100":5}})"));

  auto bad = error_of([&] { stats->process_data("1 two 3"); });
  CHECK(bad.code() == ErrorCode::invalid_input);
  CHECK_THAT(bad.what(), Catch::Contains("plugin plugin-py-stats") && Catch::Contains("'two' is not a number"));

  // Big inputs travel raw, both ways.
  std::string numbers;
  for (int i = 1; i <= 100000; ++i) numbers += std::to_string(i) + "\n";
  CHECK(Json::parse(stats->process_data(numbers))["count"] == 100000);

  CHECK(registry.get<DataProcessor>("uppercase")->process_data("both") == "BOTH");
  CHECK(manager.plugin("plugin-py-stats")->starts == 1);
  CHECK(manager.plugin("plugin-py-stats")->connections == 1);  // one kept-alive connection for every call
}

TEST_CASE("a Python handler that raises answers internal, and the plugin keeps serving", "[python][calls]") {
  TempDir dir;
  add_faulty_python_plugin(dir);
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  REQUIRE(manager.plugins().size() == 1);

  auto error = error_of([&] { manager.registry().get<DataProcessor>("py-fail")->process_data("x"); });
  CHECK(error.code() == ErrorCode::internal);
  CHECK_THAT(error.what(), Catch::Contains("plugin py-faulty") &&
                               Catch::Contains("ValueError: the Python handler failed on purpose"));
  auto echo = manager.registry().get<DataProcessor>("py-echo");
  CHECK(echo->process_data("still here") == "still here");
  CHECK(echo->supported_formats() == std::vector<std::string>{"any"});
  CHECK(manager.plugin("py-faulty")->starts == 1);
}

TEST_CASE("an idle Python plugin exits by itself and is relaunched by the next call", "[python][idle]") {
  TempDir dir;
  add_py_stats(dir);
  auto options = plugvisor::test::test_options(dir.path());
  options.defaults.idle_timeout = 300ms * plugvisor::test::timing_scale;
  plugvisor::Manager manager(options);
  auto stats = manager.registry().get<DataProcessor>("stats");

  CHECK(Json::parse(stats->process_data("5"))["count"] == 1);
  const int first_pid = manager.plugin("plugin-py-stats")->pid;
  REQUIRE(wait_for_state(manager, "plugin-py-stats", PluginState::idle));
  auto idle = manager.plugin("plugin-py-stats");
  CHECK(idle->pid == 0);
  CHECK(idle->last_exit == "idle");
  CHECK(plugvisor::test::wait_for_no_children().empty());
  CHECK(fs::is_empty(manager.runtime_dir()));  // socket and lock file went with it

  CHECK(Json::parse(stats->process_data("5 6"))["count"] == 2);
  auto again = manager.plugin("plugin-py-stats");
  CHECK(again->state == PluginState::ready);
  CHECK(again->starts == 2);
  CHECK(again->pid != first_pid);
}

TEST_CASE("calls that race a Python plugin's idle exit are relaunched, never failed", "[python][idle]") {
  TempDir dir;
  add_py_stats(dir);
  auto options = plugvisor::test::test_options(dir.path());
  // The idle clock starts at the handshake, and the manager's health check and
  // first call must reach a fresh Python process within it (protocol 14.1).
  const int idle_ms = 100 * plugvisor::test::timing_scale;
  options.defaults.idle_timeout = std::chrono::milliseconds(idle_ms);
  plugvisor::Manager manager(options);
  auto stats = manager.registry().get<DataProcessor>("stats");
  // Space the calls around the idle timeout (checked every 10 ms), so that
  // many of them arrive just as the plugin decides to exit.
  int failures = 0;
  for (int i = 0; i < 20; ++i) {
    try {
      if (Json::parse(stats->process_data(std::to_string(i)))["count"] != 1) ++failures;
    } catch (const Error& e) {
      ++failures;
      WARN(e.what());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(idle_ms * 85 / 100 + (i % 7) * idle_ms / 20));
  }
  CHECK(failures == 0);
  CHECK(manager.plugin("plugin-py-stats")->starts > 1);
}

TEST_CASE("a Python plugin is reached over loopback TCP too", "[python][tcp]") {
  TempDir dir;
  add_py_stats(dir);
  auto options = plugvisor::test::test_options(dir.path());
  options.defaults.transport = plugvisor::Transport::tcp;
  plugvisor::Manager manager(options);
  auto stats = manager.registry().get<DataProcessor>("stats");
  for (int i = 0; i < 20; ++i) REQUIRE(Json::parse(stats->process_data("1 2"))["mean"] == 1.5);
  CHECK(manager.plugin("plugin-py-stats")->connections == 1);
}
