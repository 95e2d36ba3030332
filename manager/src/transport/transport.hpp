// Which transport the manager reaches a plugin by: the setting resolved
// against the transports the plugin declares it serves.
#pragma once

#include <string>

#include "plugvisor/manager.hpp"

namespace plugvisor::detail {

/// Parses the "transports" member of a capabilities document (absent or
/// null: both). Throws Error(start_failed) naming what is wrong.
std::vector<Transport> parse_transports(const Json& doc);

/// The transport to use for a plugin that serves `served` under `setting`:
/// the one named, or for `automatic` the Unix socket if served, else TCP.
/// Throws Error(config) when the setting names one the plugin does not serve.
Transport choose_transport(const std::vector<Transport>& served, Transport setting);

/// "unix, tcp": the transports a plugin serves, for messages and listings.
std::string transports_text(const std::vector<Transport>& served);

}  // namespace plugvisor::detail
