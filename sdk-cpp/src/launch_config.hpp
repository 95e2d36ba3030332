// The launch configuration a plugin receives through --config.
#pragma once

#include <string>

#include "plugvisor/sdk.hpp"

namespace plugvisor::sdk::detail {

/// Everything --config carries: what handlers see (Config) plus the transport.
struct LaunchConfig {
  Config config;
  std::string transport;  // "unix" or "tcp"
  std::string address;    // socket path, or host:port for tcp
  std::string token;
  std::size_t max_body_bytes = 64 * 1024 * 1024;
};

/// Parses and checks the --config JSON text. Throws Error(config) with a
/// message naming the field and what it should be.
LaunchConfig parse_launch_config(const std::string& text);

}  // namespace plugvisor::sdk::detail
