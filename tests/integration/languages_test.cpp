// Plugins in C++, Python and Node.js side by side, through the same typed
// wrappers: the host cannot tell them apart.
#include <catch2/catch.hpp>

#include "plugvisor/manager.hpp"
#include "test_support.hpp"

using plugvisor::DataProcessor;

TEST_CASE("the registry holds C++, Python and Node plugins side by side, called through one interface",
          "[languages]") {
  plugvisor::ManagerOptions options = plugvisor::test::test_options(PLUGVISOR_PLUGIN_DIR);
  plugvisor::Manager manager(options);
  auto& registry = manager.registry();

  std::map<std::string, std::string> provider_of;
  for (const auto& info : registry.list()) provider_of[info.type] = info.provider;
  CHECK(provider_of["uppercase"] == "plugin-text-tools");
  CHECK(provider_of["stats"] == "plugin-py-stats");
  CHECK(provider_of["slugify"] == "plugin-node-text");

  std::shared_ptr<DataProcessor> cpp = registry.get<DataProcessor>("uppercase");
  std::shared_ptr<DataProcessor> python = registry.get<DataProcessor>("stats");
  std::shared_ptr<DataProcessor> node = registry.get<DataProcessor>("slugify");
  CHECK(cpp->process_data("mixed Case") == "MIXED CASE");
  auto stats = plugvisor::Json::parse(python->process_data("1 2 3 4"));
  CHECK(stats["count"] == 4);
  CHECK(stats["mean"] == 2.5);
  CHECK(node->process_data("Hello, World!") == "hello-world");
  for (const auto& processor : {cpp, python, node}) {
    processor->ping();
    CHECK_FALSE(processor->supported_formats().empty());
  }
  // All of them are counted as running plugins of this manager.
  int running = 0;
  for (const auto& plugin : manager.plugins()) running += plugin.pid > 0 ? 1 : 0;
  CHECK(running == 3);
}
