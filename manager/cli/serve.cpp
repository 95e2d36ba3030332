// plugvisor serve: the manager as a long-running supervisor with its admin API.
#include <signal.h>

#include <cstdio>
#include <iostream>

#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "plugvisor/daemon.hpp"

namespace plugvisor::cli {

namespace {

std::string join(const std::vector<std::string>& ids) {
  std::string out;
  for (const auto& id : ids) out += (out.empty() ? "" : ", ") + id;
  return out.empty() ? "none" : out;
}

// Serves until SIGTERM or SIGINT; SIGHUP reloads. The signals are blocked
// before the daemon starts any thread, so only this loop receives them.
int serve(DaemonOptions options) {
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGHUP, SIGTERM, SIGINT}) sigaddset(&signals, sig);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto logger = spdlog::default_logger();
  if (logger->level() > spdlog::level::info) logger->set_level(spdlog::level::info);  // a daemon reports its plugins
  Daemon daemon(std::move(options));
  std::cout << "admin socket: " << daemon.admin_socket().string() << "\n";
  if (!daemon.admin_tcp().empty()) std::cout << "dashboard:    http://" << daemon.admin_tcp() << "/\n";
  std::cout.flush();

  while (true) {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig != SIGHUP) {
      logger->info("{}: stopping every plugin, then exiting", sigabbrev_np(sig) ? sigabbrev_np(sig) : "signal");
      return exit_ok;
    }
    try {
      ReloadResult result = daemon.reload();
      logger->info("SIGHUP reload: added {}; removed {}; changed {}; {} unchanged", join(result.added),
                   join(result.removed), join(result.changed), result.unchanged.size());
    } catch (const Error& e) {
      // Already logged by the daemon; the running configuration stays.
    } catch (const std::exception& e) {
      // Whatever else a reload throws, SIGHUP never stops the daemon.
      logger->error("SIGHUP reload failed, the running configuration stays: {}", e.what());
    }
  }
}

}  // namespace

void add_serve(CLI::App& app, int& exit_code) {
  auto* command = app.add_subcommand(
      "serve", "Run the supervisor daemon: plugins plus the admin API, dashboard and metrics (docs/admin-api.md)");
  auto config = std::make_shared<std::string>();
  auto dirs = std::make_shared<std::vector<std::string>>();
  command->add_option("-c,--config", *config, "The configuration file (docs/configuration.md)");
  command->add_option("-d,--dir", *dirs, "A plugin directory, searched before the file's; repeat for several");
  command->callback([config, dirs, &exit_code] {
    DaemonOptions options;
    options.config_file = *config;
    for (const auto& dir : *dirs) options.plugin_dirs.emplace_back(dir);
    options.logger = spdlog::default_logger();
    exit_code = serve(std::move(options));
  });
}

}  // namespace plugvisor::cli
