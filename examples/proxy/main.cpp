// plugvisor-proxy: a reverse proxy whose traffic httpFilter plugins filter.
//
//   plugvisor-proxy --config proxy.json
//
// Prints "listening on HOST:PORT" once it accepts connections; stops on
// SIGINT or SIGTERM. examples/proxy/README.md documents the configuration.
#include <algorithm>
#include <csignal>
#include <iostream>
#include <set>
#include <thread>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "plugvisor/manager.hpp"
#include "proxy_server.hpp"

namespace {

// The proxy owns its process, so it may take over SIGINT/SIGTERM: a thread
// waits for them (sigwait) and stops the server, whose destructor then stops
// every plugin.
sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

// Starts the plugins of the configured filters now, so that no request pays
// for a launch within its filter's timeout. A plugin that cannot start is
// logged; its filter then fails per its failure mode.
void start_filter_plugins(plugvisor::Manager& manager, const proxy::ProxyConfig& config) {
  std::set<std::string> ids;
  for (const auto& info : manager.registry().list()) {
    if (info.contract != "httpFilter" || !info.active || info.provider == "internal") continue;
    for (const auto& spec : config.filters) {
      if (spec.type == info.type) ids.insert(info.provider);
    }
  }
  for (const auto& id : ids) {
    try {
      manager.start(id);
    } catch (const plugvisor::Error& e) {
      spdlog::warn("filter plugin {} did not start: {}", id, e.what());
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"plugvisor-proxy: a reverse proxy extended by httpFilter plugins"};
  std::string config_file;
  app.add_option("-c,--config", config_file, "the JSON configuration (examples/proxy/README.md)")->required();
  CLI11_PARSE(app, argc, argv);

  // Logs go to stderr: stdout carries only the "listening on" line.
  spdlog::set_default_logger(spdlog::stderr_color_mt("plugvisor-proxy"));
  sigset_t signals = stop_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts, so that all inherit it
  try {
    proxy::ProxyConfig config = proxy::load_config(config_file);
    plugvisor::ManagerOptions options;
    options.plugin_dirs = config.plugin_dirs;
    options.config_types = config.config_types;
    options.logger = spdlog::default_logger();
    // Filters sit on every request's path: they never idle out (a relaunch
    // would land inside a filter's timeout), and a call carries a body of up
    // to filterLimit, base64 at worst, twice (request and response).
    options.defaults.idle_timeout = std::chrono::milliseconds(0);
    options.defaults.max_body_bytes = std::max<std::size_t>(options.defaults.max_body_bytes,
                                                            3 * config.body.filter_limit + (1 << 20));
    plugvisor::Manager manager(std::move(options));
    for (const auto& rejection : manager.rejections()) {
      spdlog::warn("plugin {} rejected: {}", rejection.path.string(), rejection.reason);
    }
    manager.registry().declare<plugvisor::http::HttpFilter>();
    start_filter_plugins(manager, config);
    std::string host = config.listen_host;
    proxy::ProxyServer server(std::move(config), manager.registry());
    int port = server.bind();
    std::thread waiter([&] {
      int signal = 0;
      sigwait(&signals, &signal);
      server.stop();
    });
    std::cout << "listening on " << host << ":" << port << std::endl;
    server.serve();
    pthread_kill(waiter.native_handle(), SIGTERM);  // wakes the waiter if serve() ended otherwise
    waiter.join();
    return 0;
  } catch (const plugvisor::Error& e) {
    std::cerr << "plugvisor-proxy: " << plugvisor::to_string(e.code()) << ": " << e.what() << "\n";
    return 2;
  }
}
