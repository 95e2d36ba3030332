// custom-contract-host: a host application that defines its own extension
// point (the greeter contract, greeter.hpp) and uses it through plugvisor:
// an in-process provider, a C++ plugin, an older build of it and a Python
// plugin, all behind one std::shared_ptr<Greeter>.
//
//   custom-contract-host PLUGIN_DIR     greet through every provider
//   custom-contract-host --describe     print the contract's description (greeter.json)
#include <iostream>
#include <string_view>

#include <spdlog/spdlog.h>

#include "greeter.hpp"
#include "plugvisor/manager.hpp"

namespace {

/// An in-process provider: the same interface, called directly.
class PlainGreeter final : public greetings::Greeter {
 public:
  greetings::Greeting greet(const greetings::Person& person) override { return book_.hello(person); }
  std::vector<std::string> languages() override { return greetings::PhraseBook::known_languages(); }
  plugvisor::Bytes banner(plugvisor::BytesView text) override { return greetings::PhraseBook::framed(text); }
  greetings::Greeting farewell(const greetings::Person& person) override { return book_.goodbye(person); }

 private:
  greetings::PhraseBook book_{""};
};

void show_providers(const plugvisor::Registry& registry) {
  std::cout << "providers of greeter:\n";
  for (const auto& info : registry.list()) {
    if (info.contract != "greeter") continue;
    std::cout << "  " << info.type << " (" << info.provider << ", version " << info.version << "): "
              << plugvisor::to_string(info.compatibility.level)
              << (info.compatibility.reason.empty() ? "" : " - " + info.compatibility.reason) << "\n";
  }
}

void greet_through(const plugvisor::Registry& registry, const std::string& type) {
  std::shared_ptr<greetings::Greeter> greeter = registry.get<greetings::Greeter>(type);
  auto languages = greeter->languages();
  greetings::Person ada{"Ada", languages.back(), {"Dr"}};
  std::cout << type << ":\n";
  std::cout << "  languages: " << plugvisor::Json(languages).dump() << "\n";
  std::cout << "  greet:     " << greeter->greet(ada).text << "\n";
  std::cout << "  banner:    " << plugvisor::Json(greeter->banner("hi")).dump() << "\n";
  if (registry.supports<greetings::Greeter>(type, &greetings::Greeter::farewell)) {
    std::cout << "  farewell:  " << greeter->farewell(ada).text << "\n";
  } else {
    std::cout << "  farewell:  not supported by this provider (an older build)\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string_view(argv[1]) == "--describe") {
    std::cout << plugvisor::describe<greetings::Greeter>().to_json().dump(2) << "\n";
    return 0;
  }
  if (argc != 2) {
    std::cerr << "usage: custom-contract-host PLUGIN_DIR | --describe\n";
    return 2;
  }
  spdlog::set_level(spdlog::level::warn);
  try {
    plugvisor::ManagerOptions options;
    options.plugin_dirs.emplace_back(argv[1]);
    options.config_types["greeter.cheerful"] = {{"mark", "!!"}};
    plugvisor::Manager manager(std::move(options));
    plugvisor::Registry& registry = manager.registry();
    registry.declare<greetings::Greeter>({.validate_inputs = true});
    registry.add_internal<greetings::Greeter>("plain", std::make_shared<PlainGreeter>());

    show_providers(registry);
    for (const auto& provided : registry.all<greetings::Greeter>()) greet_through(registry, provided.type);

    std::cout << "errors, as a host sees them:\n";
    try {
      registry.get<greetings::Greeter>("classic")->farewell({"Ada", std::nullopt, {}});
    } catch (const plugvisor::Error& e) {
      std::cout << "  " << plugvisor::to_string(e.code()) << ": " << e.what() << "\n";
    }
    try {
      registry.get<greetings::Greeter>("formal")->greet({"Ada", "english", {}});
    } catch (const plugvisor::Error& e) {
      std::cout << "  " << plugvisor::to_string(e.code()) << ": " << e.what() << "\n";
    }
    return 0;
  } catch (const plugvisor::Error& e) {
    std::cerr << "custom-contract-host: " << plugvisor::to_string(e.code()) << ": " << e.what() << "\n";
    return 1;
  }
}
