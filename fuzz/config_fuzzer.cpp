// The configuration file (JSON with comments): anything must end in a
// Configuration or Error(config) with a position, never in a crash.
#include <cstdint>
#include <string_view>

#include "plugvisor/manager.hpp"
#include "plugvisor/daemon.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    auto config = plugvisor::parse_configuration(std::string_view(reinterpret_cast<const char*>(data), size),
                                                 "fuzz.jsonc", "/", {});
    (void)config;
  } catch (const plugvisor::Error&) {
  }
  return 0;
}
