// Comparing what a plugin declares with what the host grants.
#pragma once

#include <string>
#include <vector>

#include "plugvisor/manager.hpp"

namespace plugvisor::detail {

/// What `declared` asks beyond `granted`, one item each ("network outbound
/// (granted: loopback)", "write /var/lib (granted: /tmp)"); empty if nothing.
std::vector<std::string> permission_excess(const Permissions& declared, const Permissions& granted);

/// What the plugin runs with: `declared` (within `granted`), each limit the
/// smaller of the two that are set.
Permissions narrow(const Permissions& declared, const Permissions& granted);

/// True if `path` is `base` or lies below it (both absolute and normal).
bool path_within(const std::filesystem::path& path, const std::filesystem::path& base);

}  // namespace plugvisor::detail
