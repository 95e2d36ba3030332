// The `plugvisor` command-line tool: one function per subcommand.
#pragma once

#include <CLI/CLI.hpp>

namespace plugvisor::cli {

/// Exit codes of every command (docs/cli.md).
enum ExitCode : int {
  exit_ok = 0,
  exit_failed = 1,  ///< the operation failed (a plugin error, a failed start...)
  exit_usage = 2,   ///< bad flags or arguments
};

// Each add_* adds one subcommand to `app`; its callback sets `exit_code`.
void add_list(CLI::App& app, int& exit_code);
void add_call(CLI::App& app, int& exit_code);
void add_validate(CLI::App& app, int& exit_code);
void add_config(CLI::App& app, int& exit_code);

}  // namespace plugvisor::cli
