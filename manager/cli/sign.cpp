// plugvisor sign: write PLUGIN.sig, signing the executable's digest and id.
#include <iostream>

#include "commands.hpp"
#include "plugvisor/manager.hpp"

namespace plugvisor::cli {

void add_sign(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("sign", "Sign plugin executables with an Ed25519 private key: writes PLUGIN.sig");
  auto key = std::make_shared<std::string>();
  auto plugins = std::make_shared<std::vector<std::string>>();
  cmd->add_option("-k,--key", *key, "The private key file (PEM; plugvisor keygen writes NAME.key)")->required();
  cmd->add_option("plugins", *plugins, "The plugin executables to sign")->required();
  cmd->callback([key, plugins, &exit_code] {
    for (const auto& plugin : *plugins) {
      std::string id = sign_plugin(plugin, *key);
      std::cout << plugin << ".sig: signed " << plugin << " (SHA-256 " << file_sha256(plugin) << ") with key " << id
                << "\n";
    }
    exit_code = exit_ok;
  });
}

}  // namespace plugvisor::cli
