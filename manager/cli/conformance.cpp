// The driver of the conformance checker: the order of the check groups
// (conformance/, one file per group of docs/protocol.md §18).
#include "conformance.hpp"

#include "conformance/checker.hpp"

namespace plugvisor::cli {

namespace conformance {

std::vector<CheckResult> Checker::run() {
  check_capabilities();
  check_usage();
  check_live_plugin();  // the first launch with a valid configuration (H6)
  check_durations();
  check_defaults();
  check_body_limit();
  check_shutdown_endpoint();
  check_stdin_eof(true);
  check_stdin_eof(false);
  check_sigterm();
  check_idle();
  check_tcp();
  check_undeclared_transport();
  check_locks();
  check_socket_paths();
  check_long_idle();  // last: the live plugin's connection has been idle meanwhile
  return std::move(results_);
}

}  // namespace conformance

std::vector<CheckResult> check_conformance(const std::filesystem::path& plugin) {
  return conformance::Checker(plugin).run();
}

}  // namespace plugvisor::cli
