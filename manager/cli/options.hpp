// Manager options shared by the commands that run plugins.
#pragma once

#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "plugvisor/manager.hpp"

namespace plugvisor::cli {

/// Options for a short-lived manager over `dirs`, logging to the CLI's logger.
inline ManagerOptions manager_options(const std::vector<std::string>& dirs) {
  ManagerOptions options;
  for (const auto& dir : dirs) options.plugin_dirs.emplace_back(dir);
  options.logger = spdlog::default_logger();
  return options;
}

/// The transports a plugin serves as a JSON array: ["unix", "tcp"].
inline Json transports_json(const std::vector<Transport>& served) {
  Json out = Json::array();
  for (auto t : served) out.push_back(std::string(to_string(t)));
  return out;
}

}  // namespace plugvisor::cli
