// plugvisor logs: a plugin's recent log from a running daemon, or a follow of it.
#include <iostream>

#include "admin_client.hpp"
#include "admin_format.hpp"
#include "commands.hpp"
#include "plugvisor/manager.hpp"

namespace plugvisor::cli {

namespace {

struct LogsArgs {
  AdminTarget target;
  std::string plugin;
  std::size_t lines = 100;
  bool follow = false;
  bool json = false;
};

/// One log line as `TIME STREAM TEXT`, or its JSON object on one line.
void print_line(const Json& line, bool json) {
  if (json) {
    std::cout << line.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
  } else {
    std::cout << cell(line, "time") << " " << cell(line, "stream") << " " << line.value("text", "") << "\n";
  }
}

void run_logs(const LogsArgs& args) {
  AdminClient client(resolve_endpoint(args.target, current_environment()));
  const std::string base = "/v1/plugins/" + url_segment(args.plugin) + "/logs";
  // The last N of the kept lines (at most 1000, the ring's size).
  Json kept = client.get(base + "?limit=1000");
  const Json lines = kept.value("lines", Json::array());
  std::uint64_t after = kept.value("next", std::uint64_t{0});
  std::size_t first = lines.size() > args.lines ? lines.size() - args.lines : 0;
  for (std::size_t i = first; i < lines.size(); ++i) print_line(lines[i], args.json);
  if (!lines.empty()) after = std::max(after, lines.back().value("seq", std::uint64_t{0}));
  std::cout.flush();
  if (!args.follow) return;
  client.follow(base + "/follow?after=" + std::to_string(after), [&](const Json& line) {
    if (line.value("stream", "") == "heartbeat") return true;
    print_line(line, args.json);
    std::cout.flush();
    return true;
  });
  std::cerr << "plugvisor: the log stream ended: the plugin was removed by a reload, or the daemon stopped\n";
}

}  // namespace

void add_logs(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("logs", "Show a plugin's recent log from a running daemon; -f follows it");
  auto args = std::make_shared<LogsArgs>();
  cmd->add_option("plugin", args->plugin, "The plugin's id (see `plugvisor status`)")->required();
  cmd->add_option("-n,--lines", args->lines, "Show the last N kept lines (the daemon keeps 1000)")
      ->capture_default_str();
  cmd->add_flag("-f,--follow", args->follow, "Keep printing new lines as they come, across restarts, until interrupted");
  cmd->add_flag("--json", args->json, "Print each line as a JSON object (NDJSON)");
  add_admin_options(cmd, args->target);
  cmd->callback([args, &exit_code] {
    run_admin_command(exit_code, [&] {
      run_logs(*args);
      exit_code = exit_ok;
    });
  });
}

}  // namespace plugvisor::cli
