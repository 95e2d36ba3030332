// The `plugvisor` command-line tool: one function per subcommand.
#pragma once

#include <CLI/CLI.hpp>

namespace plugvisor::cli {

/// Exit codes of every command (docs/cli.md).
enum ExitCode : int {
  exit_ok = 0,
  exit_failed = 1,  ///< the operation failed (a plugin error, a failed start...)
  exit_usage = 2,   ///< bad flags or arguments
  exit_unreachable = 3,  ///< no daemon answers on the admin socket or address
};

// Each add_* adds one subcommand to `app`; its callback sets `exit_code`.
void add_list(CLI::App& app, int& exit_code);
void add_call(CLI::App& app, int& exit_code);
void add_validate(CLI::App& app, int& exit_code);
void add_config(CLI::App& app, int& exit_code);
/// serve: run the supervisor daemon until SIGTERM/SIGINT (SIGHUP reloads).
void add_serve(CLI::App& app, int& exit_code);
/// status, enable, disable, restart, start, stop, reload: talk to a running daemon.
void add_daemon_commands(CLI::App& app, int& exit_code);
void add_logs(CLI::App& app, int& exit_code);
void add_inspect(CLI::App& app, int& exit_code);
/// keygen, sign, verify: Ed25519 signatures of plugin executables (docs/security.md).
void add_keygen(CLI::App& app, int& exit_code);
void add_sign(CLI::App& app, int& exit_code);
void add_verify(CLI::App& app, int& exit_code);

}  // namespace plugvisor::cli
