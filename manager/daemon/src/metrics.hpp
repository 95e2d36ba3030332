// /metrics: the Prometheus text exposition format 0.0.4.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "plugvisor/manager.hpp"

namespace plugvisor::detail {

/// The daemon's own figures beside the plugins'.
struct DaemonFigures {
  std::size_t rejected = 0;
  std::uint64_t reloads_ok = 0;
  std::uint64_t reloads_failed = 0;
  std::chrono::system_clock::time_point started;
};

std::string prometheus_text(const std::vector<PluginStatus>& plugins, const DaemonFigures& daemon);

}  // namespace plugvisor::detail
