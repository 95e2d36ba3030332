// mock-server: an HTTP mock server driven by a JSON routes file and extended
// by plugins (docs/mock-server.md): httpHandler, authenticator,
// templateFunctions, responseGenerator and dataSource providers, from the
// contract packages plugvisor ships (contracts/http, contracts/mock).
//
//   mock-server ROUTES.json --plugin-dir DIR [--host 127.0.0.1] [--port 8080]
//   mock-server --describe-contracts     the five contracts' descriptions
#include <csignal>
#include <functional>
#include <set>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "mock_server.hpp"
#include "plugvisor/manager.hpp"

namespace {

namespace mock = plugvisor::mock;

plugvisor::ManagerOptions manager_options(const mockserver::RoutesFile& routes,
                                          const std::vector<std::string>& plugin_dirs) {
  plugvisor::ManagerOptions options;
  for (const auto& dir : plugin_dirs) options.plugin_dirs.emplace_back(dir);
  // Every plugin starts with the server, so that the start policy below is
  // decided before the first request, not on it.
  options.defaults.start = plugvisor::StartPolicy::eager;
  options.defaults.call_timeout = routes.call_timeout;
  for (const auto& [id, policy] : routes.plugins) {
    plugvisor::PluginSettings settings = options.defaults;
    settings.required = policy.required;
    settings.priority = policy.priority;
    if (policy.call_timeout) settings.call_timeout = *policy.call_timeout;
    options.per_plugin[id] = settings;
  }
  options.config_types = routes.config_types;
  // The routes, for plugins that document them (plugin-api-docs), unless the
  // file gives mock.routes itself.
  if (!options.config_types.count("mock.routes")) {
    plugvisor::Json list = plugvisor::Json::array();
    for (const auto& route : routes.routes) {
      list.push_back({{"method", route.method}, {"path", route.path}, {"description", route.description},
                      {"auth", route.auth.has_value()}, {"dataSource", route.data ? route.data->type : ""}});
    }
    options.config_types["mock.routes"] = {{"title", routes.title}, {"routes", std::move(list)}};
  }
  return options;
}

// The start policy: a required plugin that is missing, rejected or fails to
// start stops the server (the Manager throws for a failed start); any other
// plugin that fails to start is skipped: disabled and taken out of the
// registry, so that no chain calls it.
void apply_start_policy(plugvisor::Manager& manager, const mockserver::RoutesFile& routes) {
  for (const auto& [id, policy] : routes.plugins) {
    if (!policy.required) continue;
    if (!manager.plugin(id)) {
      std::string why = "it is not in the plugin directories";
      for (const auto& rejection : manager.rejections()) {
        if (rejection.path.filename() == id) why = "it was rejected: " + rejection.reason;
      }
      throw plugvisor::Error(plugvisor::ErrorCode::start_failed,
                             "required plugin " + id + " cannot be used: " + why + " (fix it, or set plugins." + id +
                                 ".required to false in " + routes.source.string() + ")");
    }
  }
  for (const auto& status : manager.plugins()) {
    // Failed to start: every eager start is over, so a plugin that failed
    // at least once and is not ready now failed its start; it may already be
    // crashed, failed, or starting again after its backoff (a slow machine).
    const bool failed_to_start = status.crashes > 0 && status.state != plugvisor::PluginState::ready &&
                                 status.state != plugvisor::PluginState::disabled;
    if (!failed_to_start) continue;
    manager.disable(status.id);
    std::size_t removed = manager.registry().remove_provider(status.id);
    spdlog::warn("plugin {} skipped ({} type(s) out of the chains): it failed to start: {}", status.id, removed,
                 status.last_error);
  }
}

void warn_unknown_functions(const mockserver::RoutesFile& routes, const plugvisor::Registry& registry) {
  std::set<std::string> known;
  for (const auto& provider : registry.ranked<mock::TemplateFunctions>()) {
    try {
      for (const auto& function : provider.object->functions()) known.insert(function.name);
    } catch (const plugvisor::Error& e) {
      spdlog::warn("templateFunctions type '{}' of {} cannot list its functions: {}", provider.type, provider.provider, e.what());
    }
  }
  for (const auto& route : routes.routes) {
    if (!route.body) continue;
    std::function<void(const plugvisor::Json&)> check = [&](const plugvisor::Json& value) {
      if (value.is_string()) {
        for (const auto& call : mock::Templates::parse(value.get_ref<const std::string&>())) {
          if (!known.count(call.function)) {
            spdlog::warn("{} ({}): template function '{}' is not offered by any plugin; the route answers 500 until one is",
                         route.where, route.path, call.function);
          }
        }
      } else if (value.is_structured()) {
        for (const auto& item : value) check(item);
      }
    };
    check(*route.body);
  }
}

plugvisor::Json describe_contracts() {
  plugvisor::Json out = plugvisor::Json::object();
  for (const auto& d : {plugvisor::describe<plugvisor::http::HttpHandler>(), plugvisor::describe<mock::Authenticator>(),
                        plugvisor::describe<mock::TemplateFunctions>(), plugvisor::describe<mock::ResponseGenerator>(),
                        plugvisor::describe<mock::DataSource>()}) {
    out[d.name] = d.to_json();
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mock-server: an HTTP mock server driven by a routes file and extended by plugvisor plugins"};
  std::string routes_path;
  std::vector<std::string> plugin_dirs;
  std::string host = "127.0.0.1";
  int port = 8080;
  bool describe = false;
  app.add_option("routes", routes_path, "the routes file (JSON, docs/mock-server.md)");
  app.add_option("-d,--plugin-dir", plugin_dirs, "a directory of plugins (repeatable)");
  app.add_option("--host", host, "the address to listen on")->capture_default_str();
  app.add_option("-p,--port", port, "the port (0: any free port)")->capture_default_str()->check(CLI::Range(0, 65535));
  app.add_flag("--describe-contracts", describe, "print the five contracts' descriptions as JSON and exit");
  CLI11_PARSE(app, argc, argv);
  if (describe) {
    std::cout << describe_contracts().dump(2) << "\n";
    return 0;
  }
  if (routes_path.empty()) {
    std::cerr << "mock-server: give the routes file (mock-server ROUTES.json -d PLUGIN_DIR); see --help\n";
    return 2;
  }
  // Logs (the server's, the manager's, the plugins') go to stderr: stdout
  // carries the one "listening on" line, for scripts and tests to read.
  spdlog::set_default_logger(spdlog::stderr_color_mt("mock-server"));
  // SIGINT/SIGTERM are taken by a thread with sigwait: blocked before any
  // thread starts, so that every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  try {
    auto routes = mockserver::load_routes_file(routes_path);
    plugvisor::Manager manager(manager_options(routes, plugin_dirs));
    auto& registry = manager.registry();
    registry.declare<plugvisor::http::HttpHandler>();
    registry.declare<mock::Authenticator>();
    registry.declare<mock::TemplateFunctions>();
    registry.declare<mock::ResponseGenerator>();
    registry.declare<mock::DataSource>();
    apply_start_policy(manager, routes);
    warn_unknown_functions(routes, registry);

    mockserver::MockServer server(routes, registry);
    int bound = server.bind(host, port);
    std::thread waiter([&] {
      int received = 0;
      sigwait(&signals, &received);
      spdlog::info("signal {}: stopping", received);
      server.stop();
    });
    std::cout << "mock-server listening on http://" << host << ":" << bound << " (" << routes.routes.size()
              << " routes, " << manager.plugins().size() << " plugins)" << std::endl;
    server.serve();
    pthread_kill(waiter.native_handle(), SIGTERM);  // wakes the waiter when serve() ended otherwise
    waiter.join();
    return 0;
  } catch (const plugvisor::Error& e) {
    std::cerr << "mock-server: " << plugvisor::to_string(e.code()) << ": " << e.what() << "\n";
    return 1;
  }
}
