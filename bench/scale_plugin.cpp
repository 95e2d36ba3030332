// bench-scale: the plugin the scale section registers by the thousand, as
// symlinks of this one program. Each link is a plugin of its own, named after
// the link (scale-0042), and provides dataProcessor type "<that name>", which
// echoes its input: the broker can then reach any one of them by its type.
#include <string>

#include "echo_processor.hpp"

using plugvisor::bench::Echo;

int main(int argc, char** argv) {
  std::string name = argc > 0 ? argv[0] : "bench-scale";
  name = name.substr(name.find_last_of('/') + 1);
  if (!plugvisor::protocol::is_valid_name(name)) name = "bench-scale";
  plugvisor::sdk::Plugin plugin({.name = name, .version = "1.0.0", .description = "echo by its own name, for make bench"});
  plugin.provide<plugvisor::DataProcessor>(name, std::make_shared<Echo>(), {.description = "returns its input"});
  return plugin.run(argc, argv);
}
