// A plugin built against the installed SDK: shouts its input.
#include <plugvisor/sdk.hpp>

class Shout final : public plugvisor::DataProcessor {
 public:
  plugvisor::Bytes process_data(plugvisor::Bytes input) override { return input + "!"; }
  std::vector<std::string> supported_formats() override { return {"text/plain"}; }
};

int main(int argc, char** argv) {
  plugvisor::sdk::Plugin plugin({.name = "shout", .version = "1.0.0"});
  plugin.provide<plugvisor::DataProcessor>("shout", std::make_shared<Shout>());
  return plugin.run(argc, argv);
}
