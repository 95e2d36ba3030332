// The Go example plugin (examples/plugin-go-text, net/http.Server) through
// the real manager: a strict stock HTTP server must accept every request
// the manager sends.
#include <filesystem>
#include <set>

#include <catch2/catch.hpp>

#include "plugvisor/manager.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using plugvisor::DataProcessor;
using plugvisor::Json;
using plugvisor::PluginState;
using plugvisor::test::TempDir;
using plugvisor::test::wait_for_state;

namespace {

std::filesystem::path go_plugin() { return std::filesystem::path(PLUGVISOR_PLUGIN_DIR) / "plugin-go-text"; }

}  // namespace

TEST_CASE("the Go plugin's capabilities list its three dataProcessor types", "[go]") {
  TempDir dir;
  std::filesystem::create_symlink(go_plugin(), dir.path() / "plugin-go-text");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  CHECK(manager.rejections().empty());
  auto status = manager.plugin("plugin-go-text");
  REQUIRE(status);
  CHECK(status->capabilities.name == "go-text");
  std::set<std::string> types;
  for (const auto& info : manager.registry().list()) {
    if (info.provider == "plugin-go-text") types.insert(info.type);
  }
  CHECK(types == std::set<std::string>{"reverse", "title-case", "word-frequencies"});
}

TEST_CASE("every type of the Go plugin answers its calls through the manager", "[go]") {
  TempDir dir;
  std::filesystem::create_symlink(go_plugin(), dir.path() / "plugin-go-text");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  auto& registry = manager.registry();
  auto reverse = registry.get<DataProcessor>("reverse");
  CHECK(reverse->process_data("héllo") == "olléh");
  // 4- and 3-byte characters, each kept whole
  CHECK(reverse->process_data("a" "\xF0\x9F\x98\x80" "b" "\xE2\x82\xAC") == "\xE2\x82\xAC" "b" "\xF0\x9F\x98\x80" "a");
  CHECK(registry.get<DataProcessor>("title-case")->process_data("the QUICK brown fox") == "The Quick Brown Fox");
  auto counts = Json::parse(registry.get<DataProcessor>("word-frequencies")->process_data("a b a, A!"));
  CHECK(counts == Json{{"a", 3}, {"b", 1}});
  for (const char* type : {"reverse", "title-case", "word-frequencies"}) {
    auto processor = registry.get<DataProcessor>(type);
    processor->ping();
    CHECK(processor->supported_formats() == std::vector<std::string>{"text/plain"});
  }
  CHECK(reverse->process_data("") == "");  // an empty body, Content-Length: 0
  auto refused = plugvisor::test::error_of([&] { reverse->process_data(std::string("\xff\xfe", 2)); });
  CHECK(refused.code() == plugvisor::ErrorCode::invalid_input);
  CHECK_THAT(refused.what(), Catch::Contains("not UTF-8"));
}

TEST_CASE("the Go plugin idles out by itself, is relaunched by the next call, and stops when asked", "[go][idle]") {
  TempDir dir;
  std::filesystem::create_symlink(go_plugin(), dir.path() / "plugin-go-text");
  auto options = plugvisor::test::test_options(dir.path());
  options.defaults.idle_timeout = 500ms * plugvisor::test::timing_scale;
  plugvisor::Manager manager(options);
  auto reverse = manager.registry().get<DataProcessor>("reverse");
  CHECK(reverse->process_data("ab") == "ba");
  REQUIRE(wait_for_state(manager, "plugin-go-text", PluginState::idle));
  CHECK(manager.plugin("plugin-go-text")->last_exit == "idle");
  CHECK(std::filesystem::is_empty(manager.runtime_dir()));  // socket and lock removed

  CHECK(reverse->process_data("cd") == "dc");
  CHECK(manager.plugin("plugin-go-text")->starts == 2);
  manager.stop("plugin-go-text");  // POST /shutdown first
  auto stopped = manager.plugin("plugin-go-text");
  CHECK(stopped->pid == 0);
  CHECK_THAT(stopped->last_exit, Catch::StartsWith("asked") && Catch::Contains("code 0"));
  CHECK(stopped->crashes == 0);
  CHECK(std::filesystem::is_empty(manager.runtime_dir()));
  CHECK(plugvisor::test::wait_for_no_children().empty());
}
