// bench-echo: the plugin under test. dataProcessor "echo" returns its input
// unchanged, so that a call costs the transport and nothing else.
#include "echo_processor.hpp"

using plugvisor::bench::Echo;

int main(int argc, char** argv) {
  plugvisor::sdk::Plugin plugin({.name = "bench-echo", .version = "1.0.0", .description = "echo, for make bench"});
  plugin.provide<plugvisor::DataProcessor>("echo", std::make_shared<Echo>(), {.description = "returns its input"});
  return plugin.run(argc, argv);
}
