// plugvisor status, enable, disable, restart, start, stop, reload: a running
// daemon's plugins, through its admin API (docs/admin-api.md).
#include <iostream>

#include "admin_client.hpp"
#include "admin_format.hpp"
#include "commands.hpp"
#include "plugvisor/manager.hpp"
#include "table.hpp"

namespace plugvisor::cli {

namespace {

/// Actions and reloads wait for stops (up to a plugin's stopGrace + termGrace) and
/// starts (its startTimeout): bound them generously.
constexpr std::chrono::seconds action_timeout{600};

AdminClient connect(const AdminTarget& target) { return AdminClient(resolve_endpoint(target, current_environment())); }

std::string plugin_path(const std::string& id) { return "/v1/plugins/" + url_segment(id); }

/// "plugvisor 0.1.0, pid 4242, up 1h02m, config FILE" and the listeners.
void print_daemon_header(const Json& daemon, std::size_t plugins, std::size_t rejected) {
  std::cout << "daemon: plugvisor " << cell(daemon, "version") << ", pid " << cell(daemon, "pid") << ", up "
            << format_uptime(daemon.value("uptimeSeconds", Json())) << ", config " << cell(daemon, "config")
            << ", socket " << cell(daemon, "adminSocket");
  if (daemon.contains("tcp") && daemon["tcp"].is_string()) std::cout << ", tcp " << daemon["tcp"].get<std::string>();
  std::cout << "\n"
            << plugins << (plugins == 1 ? " plugin, " : " plugins, ") << rejected << " rejected, "
            << daemon.value("reloads", 0) << (daemon.value("reloads", 0) == 1 ? " reload" : " reloads") << "\n";
  std::string reload_error = daemon.value("lastReloadError", "");
  if (!reload_error.empty()) std::cout << "last reload failed: " << reload_error << "\n";
  std::cout << "\n";
}

void print_status_table(const Json& daemon, const Json& list) {
  const Json plugins = list.value("plugins", Json::array());
  const Json rejected = list.value("rejected", Json::array());
  print_daemon_header(daemon, plugins.size(), rejected.size());
  Table table({"PLUGIN", "STATE", "PID", "UPTIME", "RESTARTS", "CALLS", "ERRORS", "P50", "P99", "LAST EXIT"});
  for (const auto& p : plugins) {
    const Json latency = p.value("latencyMs", Json::object());
    table.add({cell(p, "id"), cell(p, "state"), p.value("pid", 0) > 0 ? cell(p, "pid") : "-",
               format_uptime(p.value("uptimeSeconds", Json())), cell(p, "restarts"), cell(p, "calls"),
               cell(p, "errors"), format_ms(latency.value("p50", Json())), format_ms(latency.value("p99", Json())),
               cell(p, "lastExit")});
  }
  table.print(std::cout);
  if (!rejected.empty()) {
    std::cout << "\nREJECTED\n";
    for (const auto& r : rejected) std::cout << cell(r, "path") << ": " << cell(r, "reason") << "\n";
  }
}

/// `settings` flattened to "key.sub  value" rows.
void add_settings(Table& table, const Json& settings, const std::string& prefix) {
  for (const auto& [key, value] : settings.items()) {
    if (value.is_object() && !value.empty()) {
      add_settings(table, value, prefix + key + ".");
    } else {
      table.add({prefix + key, value.is_string() ? value.get<std::string>() : value.dump()});
    }
  }
}

void print_plugin_detail(const Json& p) {
  const Json latency = p.value("latencyMs", Json::object());
  std::string started = cell(p, "startedAt");
  if (started != "-") started += " (up " + format_uptime(p.value("uptimeSeconds", Json())) + ")";
  Table info({"plugin:", cell(p, "id")});
  info.add({"path:", cell(p, "path")});
  info.add({"name:", cell(p, "name") + " " + cell(p, "version")});
  info.add({"description:", cell(p, "description")});
  info.add({"state:", cell(p, "state") + (p.value("enabled", true) ? "" : " (disabled: enable it to call it)")});
  info.add({"pid:", p.value("pid", 0) > 0 ? cell(p, "pid") : "-"});
  info.add({"started:", started});
  info.add({"start policy:", cell(p, "start")});
  info.add({"priority:", cell(p, "priority")});
  info.add({"starts:", cell(p, "starts")});
  info.add({"restarts:", cell(p, "restarts")});
  info.add({"idle exits:", cell(p, "idleExits")});
  info.add({"crashes:", cell(p, "crashes")});
  info.add({"recent failures:", cell(p, "recentFailures")});
  info.add({"last exit:", cell(p, "lastExit")});
  info.add({"last error:", cell(p, "lastError")});
  info.add({"calls:", cell(p, "calls") + " (" + cell(p, "errors") + " failed)"});
  info.add({"latency:", "p50 " + format_ms(latency.value("p50", Json())) + ", p90 " +
                            format_ms(latency.value("p90", Json())) + ", p99 " +
                            format_ms(latency.value("p99", Json()))});
  info.add({"dropped log lines:", cell(p, "droppedLogLines")});
  info.add({"config types:", joined(p.value("configTypes", Json::array()))});
  info.print(std::cout);

  std::cout << "\nTYPES\n";
  Table types({"CONTRACT", "TYPE", "CALLS", "ERRORS", "P50", "P99", "SCHEMA", "DESCRIPTION"});
  for (const auto& t : p.value("types", Json::array())) {
    const Json type_latency = t.value("latencyMs", Json::object());
    bool schema = t.contains("jsonSchema") && !t["jsonSchema"].is_null();
    types.add({cell(t, "contract"), cell(t, "type"), cell(t, "calls"), cell(t, "errors"),
               format_ms(type_latency.value("p50", Json())), format_ms(type_latency.value("p99", Json())),
               schema ? "yes" : "-", cell(t, "description")});
  }
  types.print(std::cout);

  if (p.contains("settings") && p["settings"].is_object()) {
    std::cout << "\nSETTINGS\n";
    Table settings({"KEY", "VALUE"});
    add_settings(settings, p["settings"], "");
    settings.print(std::cout);
  }
}

/// "plugin-text-tools: ready (pid 4242)", with the last error when it failed.
void print_plugin_line(const Json& p) {
  std::cout << cell(p, "id") << ": " << cell(p, "state");
  if (p.value("pid", 0) > 0) std::cout << " (pid " << p["pid"] << ")";
  std::string state = p.value("state", "");
  std::string error = p.value("lastError", "");
  if ((state == "crashed" || state == "failed") && !error.empty()) std::cout << "; last error: " << error;
  std::cout << "\n";
}

void add_status(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("status", "Show the plugins of a running daemon (`plugvisor serve`), or one in detail");
  auto target = std::make_shared<AdminTarget>();
  auto plugin = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("plugin", *plugin, "One plugin's id, for its detailed view");
  cmd->add_flag("--json", *json, "Print JSON");
  add_admin_options(cmd, *target);
  cmd->callback([target, plugin, json, &exit_code] {
    run_admin_command(exit_code, [&] {
      AdminClient client = connect(*target);
      if (!plugin->empty()) {
        Json p = client.get(plugin_path(*plugin));
        if (*json) {
          std::cout << p.dump(2) << "\n";
        } else {
          print_plugin_detail(p);
        }
      } else {
        Json list = client.get("/v1/plugins");
        Json daemon = client.get("/v1/daemon");
        if (*json) {
          Json out = list;
          out["daemon"] = daemon;
          std::cout << out.dump(2) << "\n";
        } else {
          print_status_table(daemon, list);
        }
      }
      exit_code = exit_ok;
    });
  });
}

void add_action(CLI::App& app, int& exit_code, const std::string& action, const std::string& help) {
  auto* cmd = app.add_subcommand(action, help);
  auto target = std::make_shared<AdminTarget>();
  auto plugin = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("plugin", *plugin, "The plugin's id (see `plugvisor status`)")->required();
  cmd->add_flag("--json", *json, "Print the plugin's status as JSON");
  add_admin_options(cmd, *target);
  cmd->callback([target, plugin, json, action, &exit_code] {
    run_admin_command(exit_code, [&] {
      AdminClient client = connect(*target);
      Json p = client.post(plugin_path(*plugin) + "/" + action, Json::object(), action_timeout);
      if (*json) {
        std::cout << p.dump(2) << "\n";
      } else {
        print_plugin_line(p);
      }
      exit_code = exit_ok;
    });
  });
}

void add_reload(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("reload", "Make a running daemon read its configuration file again (as SIGHUP does)");
  auto target = std::make_shared<AdminTarget>();
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "Print JSON");
  add_admin_options(cmd, *target);
  cmd->callback([target, json, &exit_code] {
    run_admin_command(exit_code, [&] {
      AdminClient client = connect(*target);
      Json out = client.post("/v1/reload", Json::object(), action_timeout);
      if (*json) {
        std::cout << out.dump(2) << "\n";
      } else {
        Table table({"added:", joined(out.value("added", Json::array()))});
        table.add({"removed:", joined(out.value("removed", Json::array()))});
        table.add({"changed:", joined(out.value("changed", Json::array()))});
        table.add({"unchanged:", joined(out.value("unchanged", Json::array()))});
        table.add({"rejected:", cell(out, "rejected")});
        if (out.contains("needsRestart") && !out["needsRestart"].empty()) {
          table.add({"needs restart:", joined(out["needsRestart"]) + " (read but not applied: restart the daemon)"});
        }
        table.print(std::cout);
      }
      exit_code = exit_ok;
    });
  });
}

}  // namespace

void add_daemon_commands(CLI::App& app, int& exit_code) {
  add_status(app, exit_code);
  add_action(app, exit_code, "enable", "Accept calls for a disabled plugin again (an eager one is started)");
  add_action(app, exit_code, "disable", "Stop a plugin and refuse its calls until it is enabled");
  add_action(app, exit_code, "restart", "Stop a plugin, forget its failures (closing an open circuit) and start it");
  add_action(app, exit_code, "start", "Start a plugin now if it is not running");
  add_action(app, exit_code, "stop", "Stop a plugin's process; its next call starts it again");
  add_reload(app, exit_code);
}

}  // namespace plugvisor::cli
