// The driver of the conformance checker: the check groups (conformance/, one
// file per group of docs/protocol.md §18), run at once, reported in order.
#include "conformance.hpp"

#include "conformance/checker.hpp"

namespace plugvisor::cli {

namespace conformance {

std::vector<CheckResult> Checker::run() {
  check_capabilities();
  // Every other group launches plugins of its own and only reads what the
  // capabilities said, so the groups run at once, each on a fork: a run is
  // mostly waiting (for exits, idle timeouts, a connection left idle), and
  // it takes the longest group's time instead of the sum. The results are
  // reported in this order.
  const std::vector<void (*)(Checker&)> groups = {
      [](Checker& c) { c.check_usage(); },
      [](Checker& c) { c.check_live_plugin(); },  // H6, then the calls and connections on that plugin
      [](Checker& c) { c.check_durations(); },
      [](Checker& c) { c.check_defaults(); },
      [](Checker& c) { c.check_body_limit(); },
      [](Checker& c) { c.check_shutdown_endpoint(); },
      [](Checker& c) { c.check_stdin_eof(true); },
      [](Checker& c) { c.check_stdin_eof(false); },
      [](Checker& c) { c.check_sigterm(); },
      [](Checker& c) { c.check_idle(); },
      [](Checker& c) { c.check_tcp(); },
      [](Checker& c) { c.check_undeclared_transport(); },
      [](Checker& c) { c.check_live_lock(); },
      [](Checker& c) { c.check_stale_lock(); },
      [](Checker& c) { c.check_file_at_socket(); },
      [](Checker& c) { c.check_socket_paths(); },
  };
  std::vector<std::unique_ptr<Checker>> forks;
  std::vector<std::future<void>> running;  // after forks: waited for before they go
  for (auto group : groups) {
    forks.push_back(fork());
    running.push_back(start([group, &checker = *forks.back()] { group(checker); }));
  }
  for (auto& group : running) group.get();
  for (auto& forked : forks) absorb(*forked);
  // Last: the plugins kept up for the whole run (the live plugin and the
  // one without idleTimeout), and the connection left idle meanwhile.
  for (auto& forked : forks) {
    forked->check_long_idle();
    absorb(*forked);
  }
  return std::move(results_);
}

}  // namespace conformance

std::vector<CheckResult> check_conformance(const std::filesystem::path& plugin) {
  return conformance::Checker(plugin).run();
}

}  // namespace plugvisor::cli
