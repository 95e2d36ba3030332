// The conformance checker behind `plugvisor validate`: runs a plugin
// executable, whatever its language, against the rules of docs/protocol.md.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace plugvisor::cli {

/// How much a rule weighs: a MUST fails the run, a SHOULD only warns.
enum class Weight { must, should };

/// The outcome of one check.
struct CheckResult {
  std::string id;       ///< the rule's id in the checklist of docs/protocol.md (e.g. "A3")
  std::string rule;     ///< what the document requires
  std::string section;  ///< where, e.g. "§9"
  Weight weight = Weight::must;
  /// na: the rule does not apply to this plugin (a check of the Unix socket
  /// on a plugin that serves only TCP); it does not fail the run.
  enum Status { pass, fail, skip, na } status = pass;
  std::string saw;  ///< what the checker saw (on failure or skip), or why it does not apply
};

/// Runs every check against the executable at `plugin`, over each transport
/// it declares it serves (capabilities "transports"): the whole set over the
/// one the manager would pick, the transport checks over the other. Each
/// check launches the plugin afresh where it needs to; every process is
/// reaped before return.
std::vector<CheckResult> check_conformance(const std::filesystem::path& plugin);

}  // namespace plugvisor::cli
