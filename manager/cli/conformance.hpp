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
  enum Status { pass, fail, skip } status = pass;
  std::string saw;  ///< what the checker saw (on failure or skip)
};

/// Runs every check against the executable at `plugin`. Each check launches
/// the plugin afresh where it needs to; every process is reaped before return.
std::vector<CheckResult> check_conformance(const std::filesystem::path& plugin);

}  // namespace plugvisor::cli
