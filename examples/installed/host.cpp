// A host built against the installed manager: calls the plugin next to it.
#include <iostream>

#include <plugvisor/manager.hpp>
#include <spdlog/spdlog.h>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  spdlog::set_level(spdlog::level::warn);  // spdlog's default logger writes to stdout
  plugvisor::Manager manager({.plugin_dirs = {argv[1]}});
  std::cout << manager.registry().get<plugvisor::DataProcessor>("shout")->process_data("installed") << "\n";
  return 0;
}
