// plugvisor list: every plugin found, or why it was turned down.
#include <iostream>

#include "commands.hpp"
#include "options.hpp"
#include "plugvisor/manager.hpp"
#include "table.hpp"

namespace plugvisor::cli {

namespace {

Json types_json(const Capabilities& caps) {
  Json out = Json::object();
  for (const auto& t : caps.types) out[t.contract].push_back(t.type);
  return out;
}

std::string types_text(const Capabilities& caps) {
  std::string out;
  std::string contract;
  for (const auto& t : caps.types) {
    if (t.contract != contract) {
      out += (out.empty() ? "" : "; ") + t.contract + ": ";
      contract = t.contract;
    } else {
      out += ", ";
    }
    out += t.type;
  }
  return out;
}

}  // namespace

void add_list(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("list", "List the plugins in plugin directories, or why each was rejected");
  auto dirs = std::make_shared<std::vector<std::string>>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("-d,--dir", *dirs, "A plugin directory (repeatable)")->required()->allow_extra_args(false);
  cmd->add_flag("--json", *json, "Print JSON");
  cmd->callback([dirs, json, &exit_code] {
    Manager manager(manager_options(*dirs));
    auto plugins = manager.plugins();
    auto rejections = manager.rejections();
    if (*json) {
      Json out{{"plugins", Json::array()}, {"rejected", Json::array()}};
      for (const auto& p : plugins) {
        out["plugins"].push_back({{"id", p.id},
                                  {"path", p.path.string()},
                                  {"name", p.capabilities.name},
                                  {"version", p.capabilities.version},
                                  {"description", p.capabilities.description},
                                  {"types", types_json(p.capabilities)},
                                  {"configTypes", p.capabilities.config_types}});
      }
      for (const auto& r : rejections) out["rejected"].push_back({{"path", r.path.string()}, {"reason", r.reason}});
      std::cout << out.dump(2) << "\n";
    } else {
      Table table({"PLUGIN", "VERSION", "PROVIDES"});
      for (const auto& p : plugins) table.add({p.id, p.capabilities.version, types_text(p.capabilities)});
      table.print(std::cout);
      if (!rejections.empty()) {
        std::cout << "\nREJECTED\n";
        for (const auto& r : rejections) std::cout << r.path.string() << ": " << r.reason << "\n";
      }
    }
    exit_code = exit_ok;
  });
}

}  // namespace plugvisor::cli
