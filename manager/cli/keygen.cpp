// plugvisor keygen: a new Ed25519 key pair for signing plugins.
#include <iostream>

#include "commands.hpp"
#include "plugvisor/manager.hpp"

namespace plugvisor::cli {

void add_keygen(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("keygen", "Create an Ed25519 key pair for signing plugins: NAME.key and NAME.pub");
  auto name = std::make_shared<std::string>();
  cmd->add_option("name", *name, "The files' path without extension: NAME.key (private, 0600) and NAME.pub")
      ->required();
  cmd->callback([name, &exit_code] {
    std::string id = generate_signing_key(*name + ".key", *name + ".pub");
    std::cout << "key " << id << ": private key " << *name << ".key (keep it secret; plugvisor sign --key "
              << *name << ".key PLUGIN), public key " << *name << ".pub (list it in \"trustedKeys\")\n";
    exit_code = exit_ok;
  });
}

}  // namespace plugvisor::cli
