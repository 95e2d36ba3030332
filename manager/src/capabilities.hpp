// Parsing and checking what `PLUGIN capabilities` prints.
#pragma once

#include <string>

#include "plugvisor/manager.hpp"

namespace plugvisor::detail {

/// Parses a capabilities document. Throws Error(start_failed) saying which
/// field is wrong and quoting what was there.
Capabilities parse_capabilities(const std::string& text);

}  // namespace plugvisor::detail
