// The admin API's JSON for plugins, log lines and times (docs/admin-api.md).
#pragma once

#include <chrono>
#include <string>

#include "plugvisor/manager.hpp"

namespace plugvisor::detail {

/// RFC 3339 in UTC: "2026-12-01T10:00:00Z", or with milliseconds ".123Z".
std::string rfc3339(std::chrono::system_clock::time_point time, bool millis = false);

/// A PLUGIN object; `detailed` adds jsonSchema per type and the settings.
Json plugin_json(const PluginStatus& status, bool detailed);

Json log_line_json(const LogLine& line);

}  // namespace plugvisor::detail
