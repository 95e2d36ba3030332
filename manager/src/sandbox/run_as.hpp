// The user and group a sandboxed plugin runs as when the manager is root.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "plugvisor/manager.hpp"

namespace plugvisor::detail {

/// A resolved user and group.
struct RunAs {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string text;  ///< "nobody (65534:65534)", for messages
};

/// Resolves `user` (a name or a number; empty: "nobody") and `group` (empty:
/// the user's primary group; a number needs no entry). Throws
/// Error(config) naming the one that does not exist.
RunAs resolve_run_as(const std::string& user, const std::string& group);

/// Who a plugin with a grant runs as: nullopt when the manager is not root
/// (it runs as the manager's user), else resolve_run_as(settings).
std::optional<RunAs> plugin_run_as(const PluginSettings& settings);

}  // namespace plugvisor::detail
