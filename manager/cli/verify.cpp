// plugvisor verify: check PLUGIN.sig as the manager would.
#include <iostream>

#include "commands.hpp"
#include "plugvisor/daemon.hpp"
#include "plugvisor/manager.hpp"

namespace plugvisor::cli {

void add_verify(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand(
      "verify", "Check plugins' signatures against trusted public keys (exit 0 only if each is signed by one)");
  struct Args {
    std::vector<std::string> keys, plugins;
    std::string config;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("-k,--key", args->keys, "A trusted public key file (PEM, NAME.pub; repeatable)");
  cmd->add_option("-c,--config", args->config, "Trust the keys of this configuration file's \"trustedKeys\"");
  cmd->add_option("plugins", args->plugins, "The plugin executables to check")->required();
  cmd->add_flag("--json", args->json, "Print JSON: one {\"plugin\", \"status\", \"keyId\", \"note\"} per plugin");
  cmd->callback([args, &exit_code] {
    std::vector<std::filesystem::path> keys(args->keys.begin(), args->keys.end());
    if (!args->config.empty()) {
      auto config = load_configuration(args->config);
      keys.insert(keys.end(), config.manager.trusted_keys.begin(), config.manager.trusted_keys.end());
    }
    if (keys.empty()) {
      throw Error(ErrorCode::config, "no trusted keys: give the public key with --key NAME.pub, or a configuration "
                                     "with \"trustedKeys\" with --config FILE");
    }
    exit_code = exit_ok;
    Json out = Json::array();
    for (const auto& plugin : args->plugins) {
      SignatureStatus status = verify_plugin(plugin, keys);
      if (status.state != SignatureState::trusted) exit_code = exit_failed;
      Json entry = signature_json(status);
      entry["plugin"] = plugin;
      out.push_back(entry);
      if (args->json) continue;
      switch (status.state) {
        case SignatureState::trusted:
          std::cout << plugin << ": signed by trusted key " << status.key_id << "\n";
          break;
        case SignatureState::unsigned_plugin:
          std::cout << plugin << ": unsigned (no " << plugin << ".sig): sign it with plugvisor sign --key KEY "
                    << plugin << "\n";
          break;
        default:
          std::cout << plugin << ": " << to_string(status.state) << ": " << status.note << "\n";
      }
    }
    if (args->json) std::cout << out.dump(2) << "\n";
  });
}

}  // namespace plugvisor::cli
