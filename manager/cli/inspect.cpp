// plugvisor inspect: everything one plugin's `capabilities` declares, without a daemon.
#include <iostream>

#include "admin_format.hpp"
#include "commands.hpp"
#include "options.hpp"
#include "plugvisor/manager.hpp"
#include "table.hpp"
#include "transport/transport.hpp"

namespace plugvisor::cli {

namespace {

namespace fs = std::filesystem;

struct InspectArgs {
  std::string plugin;
  std::vector<std::string> dirs;
  std::vector<std::string> keys;  // trusted public keys for the signature check
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

/// A type's contract as the plugin describes it (or the built-in one), with
/// where the description came from and how it fits this build's declaration.
Json contract_json(const Capabilities& caps, const std::string& contract) {
  auto description = describe_contract(caps, contract);
  if (!description) return nullptr;
  Json out = description->to_json();
  out["describedBy"] = caps.contracts.contains(contract) ? "plugin" : "built-in";
  if (const ContractInfo* builtin = find_builtin_contract(contract); builtin && caps.contracts.contains(contract)) {
    auto fit = check_compatibility(builtin->description, &caps.contracts.at(contract));
    out["compatibility"] = {{"level", to_string(fit.level)}, {"reason", fit.reason}, {"missing", fit.missing}};
  }
  return out;
}

std::string methods_text(const Json& contract) {
  if (contract.is_null()) {
    return "(not described: the plugin publishes no description of this contract, and it is not built in; "
           "call its methods by name)";
  }
  std::string out;
  for (const auto& [name, m] : contract["methods"].items()) {
    out += (out.empty() ? "" : ", ") + name + " (" + m["input"].get<std::string>() + " -> " +
           m["output"].get<std::string>() + ")";
  }
  return out;
}

std::string indented(const Json& value) {
  std::string out = "    ";
  for (char c : value.dump(2)) out += c == '\n' ? std::string("\n    ") : std::string(1, c);
  return out;
}

// Integrity and permissions: the file's digest (to pin it), what the plugin
// declares, and what this machine would enforce if it were granted that.
Json security_of(const fs::path& path, const Capabilities& caps, const std::vector<std::string>& keys) {
  Permissions declared = caps.permissions.value_or(Permissions{});
  return {{"sha256", file_sha256(path)},
          {"signature", signature_json(verify_plugin(path, std::vector<fs::path>(keys.begin(), keys.end())))},
          {"declared", caps.permissions ? permissions_json(declared) : Json(nullptr)},
          {"enforcedHere", sandbox_json(sandbox_mechanisms(declared))}};
}

std::string permissions_text(const Json& p) {
  auto paths = [](const Json& list) { return list.empty() ? std::string("nothing") : joined(list); };
  return "network " + p["network"].get<std::string>() + "; read " + paths(p["read"]) + "; write " +
         paths(p["write"]) + "; memoryBytes " + p["memoryBytes"].dump() + ", cpuTime " +
         p["cpuTime"].get<std::string>() + ", processes " + p["processes"].dump() + " (0: no limit)";
}

std::string signature_text(const Json& s) {
  const std::string status = s["status"].get<std::string>();
  if (status == "unsigned") return "unsigned (no .sig file beside it)";
  if (status == "signed") return "signed by trusted key " + s["keyId"].get<std::string>();
  return status + ": " + s["note"].get<std::string>();
}

Json inspect_json(const fs::path& path, const Capabilities& caps, const std::vector<std::string>& keys) {
  Json types = Json::array();
  for (const auto& t : caps.types) {
    types.push_back({{"contract", t.contract},
                     {"type", t.type},
                     {"description", t.description},
                     {"jsonSchema", t.json_schema},
                     {"contractDescription", contract_json(caps, t.contract)}});
  }
  return {{"id", path.filename().string()},
          {"path", path.string()},
          {"name", caps.name},
          {"version", caps.version},
          {"description", caps.description},
          {"protocolVersion", protocol::version},
          {"transports", transports_json(caps.transports)},
          {"types", types},
          {"configTypes", caps.config_types},
          {"configSchemas", caps.config_schemas},
          {"security", security_of(path, caps, keys)}};
}

void print_inspect(const fs::path& path, const Capabilities& caps, const std::vector<std::string>& keys) {
  Table info({"plugin:", path.filename().string()});
  info.add({"path:", path.string()});
  info.add({"name:", caps.name});
  info.add({"version:", caps.version});
  info.add({"description:", caps.description.empty() ? "-" : caps.description});
  info.add({"protocol:", std::to_string(protocol::version)});
  auto chosen = detail::choose_transport(caps.transports, Transport::automatic);
  info.add({"transports:", joined(transports_json(caps.transports)) + " (by default the manager uses " +
                               std::string(to_string(chosen)) + ")"});
  info.add({"config types:", joined(Json(caps.config_types))});
  Json security = security_of(path, caps, keys);
  info.add({"sha256:", security["sha256"].get<std::string>()});
  info.add({"signature:", signature_text(security["signature"])});
  info.add({"permissions:", caps.permissions ? permissions_text(security["declared"])
                                             : "none declared (in a sandbox it gets only what every plugin gets)"});
  for (const auto& m : security["enforcedHere"]) {
    std::string text = m["mechanism"].get<std::string>() +
                       (m["enforced"].get<bool>() ? "" : " NOT ENFORCED HERE: " + m["note"].get<std::string>());
    info.add({"  " + m["what"].get<std::string>() + ":", text});
  }
  info.print(std::cout);
  for (const auto& t : caps.types) {
    std::cout << "\n" << t.contract << "/" << t.type << "\n";
    Json contract = contract_json(caps, t.contract);
    Table type({"  description:", t.description.empty() ? "-" : t.description});
    if (!contract.is_null()) {
      type.add({"  contract:", t.contract + " version " + std::to_string(contract["version"].get<int>()) + ", described by " +
                                   contract["describedBy"].get<std::string>()});
      if (contract.contains("compatibility")) {
        const Json& fit = contract["compatibility"];
        type.add({"  fits built-in:", fit["level"].get<std::string>() +
                                          (fit["reason"].get<std::string>().empty() ? "" : ": " + fit["reason"].get<std::string>())});
      }
    }
    type.add({"  methods:", methods_text(contract)});
    type.add({"  schema:", t.json_schema.is_null() ? "none" : ""});
    type.print(std::cout);
    if (!t.json_schema.is_null()) std::cout << indented(t.json_schema) << "\n";
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
  cmd->add_option("-k,--key", args->keys,
                  "A trusted public key file (NAME.pub) to check the signature against (repeatable); without "
                  "one, a signature shows as untrusted with its key id");
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
      std::cout << inspect_json(path, caps, args->keys).dump(2) << "\n";
    } else {
      print_inspect(path, caps, args->keys);
    }
    exit_code = exit_ok;
  });
}

}  // namespace plugvisor::cli
