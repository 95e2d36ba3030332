// The scrubbed environment a plugin runs with.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace plugvisor::detail {

/// The manager's own values of the allowlisted variables (PATH, HOME, LANG,
/// LC_*, TZ, TMPDIR, USER, LOGNAME, sanitizer options), then `extra`, then
/// PLUGVISOR_PROTOCOL=1, as "NAME=value" strings.
std::vector<std::string> plugin_environment(const std::map<std::string, std::string>& extra);

}  // namespace plugvisor::detail
