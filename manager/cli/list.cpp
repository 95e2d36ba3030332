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

const ContractFit* fit_of(const PluginStatus& p, const std::string& contract) {
  for (const auto& fit : p.contracts) {
    if (fit.contract == contract) return &fit;
  }
  return nullptr;
}

Json contracts_json(const PluginStatus& p) {
  Json out = Json::object();
  for (const auto& fit : p.contracts) {
    auto description = describe_contract(p.capabilities, fit.contract);
    out[fit.contract] = {{"version", fit.version},
                         {"described", p.capabilities.contracts.contains(fit.contract)},
                         {"compatibility", to_string(fit.compatibility.level)},
                         {"reason", fit.compatibility.reason},
                         {"methods", description ? description->to_json()["methods"] : Json(nullptr)}};
  }
  return out;
}

// "dataProcessor: a, b; greeter (partial): c": a contract that does not
// fully fit this build's declaration of it is marked.
std::string types_text(const PluginStatus& p) {
  const Capabilities& caps = p.capabilities;
  std::string out;
  std::string contract;
  for (const auto& t : caps.types) {
    if (t.contract != contract) {
      const ContractFit* fit = fit_of(p, t.contract);
      std::string mark = fit && fit->compatibility.level != Compatibility::Level::full
                             ? " (" + std::string(to_string(fit->compatibility.level)) + ")"
                             : "";
      out += (out.empty() ? "" : "; ") + t.contract + mark + ": ";
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
                                  {"transport", std::string(to_string(p.transport))},
                                  {"transports", transports_json(p.capabilities.transports)},
                                  {"types", types_json(p.capabilities)},
                                  {"contracts", contracts_json(p)},
                                  {"configTypes", p.capabilities.config_types},
                                  {"security", security_json(p)}});
      }
      for (const auto& r : rejections) out["rejected"].push_back({{"path", r.path.string()}, {"reason", r.reason}});
      std::cout << out.dump(2) << "\n";
    } else {
      Table table({"PLUGIN", "VERSION", "TRANSPORT", "PROVIDES"});
      std::vector<std::string> notes;
      for (const auto& p : plugins) {
        table.add({p.id, p.capabilities.version, std::string(to_string(p.transport)), types_text(p)});
        for (const auto& fit : p.contracts) {
          if (!fit.compatibility.reason.empty()) notes.push_back(p.id + ": " + fit.compatibility.reason);
        }
      }
      table.print(std::cout);
      if (!notes.empty()) {
        std::cout << "\nNOTES\n";
        for (const auto& note : notes) std::cout << note << "\n";
      }
      if (!rejections.empty()) {
        std::cout << "\nREJECTED\n";
        for (const auto& r : rejections) std::cout << r.path.string() << ": " << r.reason << "\n";
      }
    }
    exit_code = exit_ok;
  });
}

}  // namespace plugvisor::cli
