// Running a helper program of the benchmark (the go-plugin host, a language's
// floor) and collecting what it printed.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace plugvisor::bench {

struct ChildOutput {
  std::string out;   // stdout
  std::string err;   // stderr
  int status = -1;   // exit code; 128 + signal if killed
};

/// Runs argv[0] (a path) with `argv` and `extra_env` ("NAME=value") added to
/// this environment, stdin from /dev/null; kills it (and its process group)
/// when it outlives `limit`. Throws only if it cannot be started.
ChildOutput run_child(const std::vector<std::string>& argv, std::chrono::seconds limit,
                      const std::vector<std::string>& extra_env = {});

}  // namespace plugvisor::bench
