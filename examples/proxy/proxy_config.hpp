// The proxy's configuration: listen address, routes to upstreams, the body
// limit, plugin directories, config-type data and the filter chain.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "plugvisor/contracts/http.hpp"

namespace proxy {

/// One route: requests whose path starts with `prefix` go to `upstream`.
struct Route {
  std::string name;
  std::string prefix;
  /// "http://host:port" (or https), without a path.
  std::string upstream;
};

/// What to do with a body over BodyLimits::filter_limit.
enum class Oversize { pass, refuse };

struct BodyLimits {
  /// Bodies up to this size go through the body hooks.
  std::size_t filter_limit = 1 << 20;
  /// Larger bodies: passed on unfiltered (body hooks skipped), or refused
  /// (413 for a request, 502 for an upstream's response).
  Oversize oversize = Oversize::pass;
  /// No body larger than this is read at all (413 / 502).
  std::size_t max = 16 << 20;
};

struct ProxyConfig {
  std::string listen_host = "127.0.0.1";
  int listen_port = 8080;
  std::vector<Route> routes;
  BodyLimits body;
  std::chrono::milliseconds upstream_timeout{10000};
  std::vector<std::filesystem::path> plugin_dirs;
  std::map<std::string, plugvisor::Json> config_types;
  std::vector<plugvisor::http::FilterSpec> filters;
};

/// Reads a configuration file. Throws plugvisor::Error(config) naming the
/// file, the member and what to write instead. Relative plugin directories
/// are taken from the file's directory.
ProxyConfig load_config(const std::filesystem::path& file);

/// The same from a parsed document (`origin` names it in messages).
ProxyConfig parse_config(const plugvisor::Json& doc, const std::string& origin,
                         const std::filesystem::path& base_dir);

}  // namespace proxy
