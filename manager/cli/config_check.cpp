// plugvisor config check: read and check a configuration file; start nothing.
#include <iostream>

#include "commands.hpp"
#include "plugvisor/daemon.hpp"
#include "plugvisor/manager.hpp"

namespace plugvisor::cli {

namespace {

void print_summary(const std::string& file, const Configuration& config) {
  const ManagerOptions& options = config.manager;
  std::string dirs;
  for (const auto& dir : options.plugin_dirs) dirs += (dirs.empty() ? "" : ", ") + dir.string();
  std::string plugins;
  for (const auto& [id, entry] : config.manager.per_plugin) {
    plugins += (plugins.empty() ? " (" : ", ") + id + (entry.enabled ? "" : ": disabled");
  }
  std::string types;
  for (const auto& entry : options.config_types) types += (types.empty() ? " (" : ", ") + entry.first;
  std::string admin = "socket " + config.admin.socket.string();
  if (!config.admin.tcp_address.empty()) admin += ", tcp " + config.admin.tcp_address + " (token set)";

  std::cout << file << ": ok\n"
            << "plugin dirs:   " << dirs << "\n"
            << "plugins:       " << config.manager.per_plugin.size() << (config.manager.per_plugin.size() == 1 ? " entry" : " entries")
            << (plugins.empty() ? "" : plugins + ")") << "\n"
            << "config types:  " << options.config_types.size() << (types.empty() ? "" : types + ")") << "\n"
            << "admin:         " << admin << "\n";
}

}  // namespace

void add_config(CLI::App& app, int& exit_code) {
  auto* command = app.add_subcommand("config", "Work with configuration files (docs/configuration.md)");
  command->require_subcommand(1);
  auto* check = command->add_subcommand(
      "check", "Check a configuration file and the environment's overrides without starting anything (exit 2 if bad)");
  auto file = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  check->add_option("file", *file, "The configuration file")->required();
  check->add_flag("--json", *json, "Print the effective configuration as JSON (the admin token redacted)");
  check->callback([file, json, &exit_code] {
    Configuration config = load_configuration(*file);  // Error(config): main prints it and exits 2
    if (*json) {
      Json out = configuration_json(config);
      if (out["admin"].contains("token")) out["admin"]["token"] = "<redacted>";
      std::cout << out.dump(2) << "\n";
    } else {
      print_summary(*file, config);
    }
    exit_code = exit_ok;
  });
}

}  // namespace plugvisor::cli
