// Parsing and checking what `PLUGIN capabilities` prints.
#pragma once

#include <string>

#include "plugvisor/manager.hpp"
#include "signing/signature_file.hpp"

namespace plugvisor::detail {

/// Parses a capabilities document. Throws Error(start_failed) saying which
/// field is wrong and quoting what was there.
Capabilities parse_capabilities(const std::string& text);

/// What probing a plugin found.
struct ProbeResult {
  Capabilities capabilities;
  /// The SHA-256 of the file that ran.
  std::string sha256;
};

/// Runs `path capabilities` as the manager does: the file opened once, its
/// digest checked against settings.sha256 and its signature against
/// `signature` (before any of its code runs), executed through the descriptor,
/// inside the sandbox of settings.grant if any. Throws Error(start_failed).
ProbeResult probe_plugin(const std::filesystem::path& path, const PluginSettings& settings,
                         const SignatureCheck& signature);

/// The smaller of two limits where 0 means none.
std::size_t smaller_limit(std::size_t a, std::size_t b);

}  // namespace plugvisor::detail
