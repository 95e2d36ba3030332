// bench-echo: the plugin under test. dataProcessor "echo" returns its input
// unchanged, so that a call costs the transport and nothing else.
#include "plugvisor/sdk.hpp"

namespace {

class Echo final : public plugvisor::DataProcessor {
 public:
  plugvisor::Bytes process_data(plugvisor::BytesView input) override { return plugvisor::Bytes(input); }
  std::vector<std::string> supported_formats() override { return {"application/octet-stream"}; }
};

}  // namespace

int main(int argc, char** argv) {
  plugvisor::sdk::Plugin plugin({.name = "bench-echo", .version = "1.0.0", .description = "echo, for make bench"});
  plugin.provide<plugvisor::DataProcessor>("echo", std::make_shared<Echo>(), {.description = "returns its input"});
  return plugin.run(argc, argv);
}
