// The launch configuration a plugin reads from --config: anything must end in
// a LaunchConfig or Error(config).
#include <cstdint>
#include <string>

#include "launch_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    auto launch = plugvisor::sdk::detail::parse_launch_config(std::string(reinterpret_cast<const char*>(data), size));
    (void)launch;
  } catch (const plugvisor::Error&) {
  }
  return 0;
}
