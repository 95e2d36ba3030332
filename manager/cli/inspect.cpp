// plugvisor inspect: everything one plugin's `capabilities` declares, without a daemon.
#include <iostream>

#include "admin_format.hpp"
#include "commands.hpp"
#include "plugvisor/manager.hpp"
#include "table.hpp"

namespace plugvisor::cli {

namespace {

namespace fs = std::filesystem;

struct InspectArgs {
  std::string plugin;
  std::vector<std::string> dirs;
  std::string timeout = "5s";
  bool json = false;
};

/// The executable: PLUGIN itself when it names a path, else the first file
/// of that name in the -d directories (as discovery would find it).
fs::path find_plugin(const InspectArgs& args) {
  std::error_code ec;
  if (args.plugin.find('/') == std::string::npos) {
    for (const auto& dir : args.dirs) {
      fs::path candidate = fs::path(dir) / args.plugin;
      if (fs::is_regular_file(candidate, ec)) return candidate;
    }
  }
  if (fs::is_regular_file(args.plugin, ec)) return args.plugin;
  if (args.dirs.empty()) {
    throw Error(ErrorCode::not_found,
                "no file " + args.plugin + ": give the plugin's path, or its directory with -d DIR");
  }
  std::string dirs;
  for (const auto& dir : args.dirs) dirs += (dirs.empty() ? "" : ", ") + dir;
  throw Error(ErrorCode::not_found, "no plugin " + args.plugin + " in " + dirs +
                                        " (a plugin's id is its file name; `plugvisor list -d DIR` shows them)");
}

const char* encoding_name(Encoding encoding) {
  switch (encoding) {
    case Encoding::none:
      return "none";
    case Encoding::json:
      return "json";
    case Encoding::bytes:
      return "bytes";
  }
  return "?";
}

/// The methods of a contract this build knows, as JSON; null for an unknown contract.
Json methods_json(const std::string& contract) {
  const ContractInfo* info = find_contract(contract);
  if (!info) return nullptr;
  Json out = Json::array();
  for (const auto& m : info->methods) {
    out.push_back({{"name", std::string(m.name)}, {"input", encoding_name(m.input)}, {"output", encoding_name(m.output)}});
  }
  return out;
}

std::string methods_text(const std::string& contract) {
  Json methods = methods_json(contract);
  if (methods.is_null()) return "(a contract this build does not know)";
  std::string out;
  for (const auto& m : methods) {
    out += (out.empty() ? "" : ", ") + m["name"].get<std::string>() + " (" + m["input"].get<std::string>() + " -> " +
           m["output"].get<std::string>() + ")";
  }
  return out;
}

Json inspect_json(const fs::path& path, const Capabilities& caps) {
  Json types = Json::array();
  for (const auto& t : caps.types) {
    types.push_back({{"contract", t.contract},
                     {"type", t.type},
                     {"description", t.description},
                     {"jsonSchema", t.json_schema},
                     {"methods", methods_json(t.contract)}});
  }
  return {{"id", path.filename().string()},
          {"path", path.string()},
          {"name", caps.name},
          {"version", caps.version},
          {"description", caps.description},
          {"protocolVersion", protocol::version},
          {"types", types},
          {"configTypes", caps.config_types}};
}

void print_inspect(const fs::path& path, const Capabilities& caps) {
  Table info({"plugin:", path.filename().string()});
  info.add({"path:", path.string()});
  info.add({"name:", caps.name});
  info.add({"version:", caps.version});
  info.add({"description:", caps.description.empty() ? "-" : caps.description});
  info.add({"protocol:", std::to_string(protocol::version)});
  info.add({"config types:", joined(Json(caps.config_types))});
  info.print(std::cout);
  for (const auto& t : caps.types) {
    std::cout << "\n" << t.contract << "/" << t.type << "\n";
    Table type({"  description:", t.description.empty() ? "-" : t.description});
    type.add({"  methods:", methods_text(t.contract)});
    type.add({"  schema:", t.json_schema.is_null() ? "none" : ""});
    type.print(std::cout);
    if (!t.json_schema.is_null()) {
      std::string schema = t.json_schema.dump(2);
      std::string indented = "    ";
      for (char c : schema) indented += c == '\n' ? std::string("\n    ") : std::string(1, c);
      std::cout << indented << "\n";
    }
  }
}

}  // namespace

void add_inspect(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("inspect", "Show what one plugin declares: types, descriptions, JSON schemas, config types");
  auto args = std::make_shared<InspectArgs>();
  cmd->add_option("plugin", args->plugin, "The plugin: its executable's path, or its id (file name) in a -d directory")
      ->required();
  cmd->add_option("-d,--dir", args->dirs, "A plugin directory to find the plugin in (repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--timeout", args->timeout, "How long `capabilities` may take")->capture_default_str();
  cmd->add_flag("--json", args->json, "Print JSON");
  cmd->callback([args, &exit_code] {
    auto timeout = protocol::parse_duration(args->timeout);  // Error(config): exit 2
    fs::path path = find_plugin(*args);
    Capabilities caps;
    try {
      caps = probe_capabilities(path, timeout);
    } catch (const Error& e) {
      throw Error(e.code(), "cannot inspect " + path.string() + ": " + e.what());
    }
    if (args->json) {
      std::cout << inspect_json(path, caps).dump(2) << "\n";
    } else {
      print_inspect(path, caps);
    }
    exit_code = exit_ok;
  });
}

}  // namespace plugvisor::cli
