// A plugin's `capabilities` output, as the manager parses it: anything a
// plugin prints must end in Capabilities or Error(start_failed), never in a
// crash (stack depth, invalid UTF-8, numbers out of range).
#include <cstdint>
#include <string>

#include "discovery/capabilities.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    auto capabilities = plugvisor::detail::parse_capabilities(std::string(reinterpret_cast<const char*>(data), size));
    (void)capabilities;
  } catch (const plugvisor::Error&) {
  }
  return 0;
}
