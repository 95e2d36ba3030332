// The mock server's JSON file: routes, plugin settings and config types
// (docs/mock-server.md). Read once at start; every error names the member.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "plugvisor/contracts/mock.hpp"

namespace mockserver {

using plugvisor::Json;

/// Where a data-source parameter comes from: a path segment (:name), a query
/// parameter, a header, or a literal JSON scalar.
struct ParamSource {
  enum class From { path, query, header, literal };
  From from = From::literal;
  std::string name;
  Json value;
};

struct RouteAuth {
  std::vector<std::string> authenticators;  ///< empty: every one, in registry order
  plugvisor::mock::AuthMode mode = plugvisor::mock::AuthMode::first_decisive;
  Json settings = Json::object();
};

struct RouteData {
  std::string type;  ///< the dataSource type
  std::string query;
  std::vector<ParamSource> params;
  bool single = false;  ///< the first row as an object (404 if none), not the array
};

struct Route {
  std::string where;   ///< "routes[3]", for messages
  std::string method;  ///< upper-case
  std::vector<std::string> segments;  ///< the path split at '/'; ":name" captures
  std::string path;    ///< as written
  int status = 200;
  plugvisor::http::Fields headers;
  std::optional<Json> body;  ///< a string (text) or any JSON (application/json)
  std::optional<RouteAuth> auth;
  std::optional<RouteData> data;
  std::string description;
};

struct PluginPolicy {
  bool required = false;
  int priority = 0;
  std::optional<std::chrono::milliseconds> call_timeout;
};

struct RoutesFile {
  std::filesystem::path source;
  /// The API's name, for documentation ("title", default "Mock API").
  std::string title = "Mock API";
  std::vector<Route> routes;
  std::map<std::string, PluginPolicy> plugins;
  std::map<std::string, Json> config_types;
  std::chrono::milliseconds call_timeout{5000};
};

/// Reads the file. Throws plugvisor::Error(config) naming the file and the
/// member that is wrong, and saying what it should be.
RoutesFile load_routes_file(const std::filesystem::path& path);

/// Matches `path` against a route's segments; the captures, or nullopt.
std::optional<std::map<std::string, std::string>> match(const Route& route, std::string_view path);

}  // namespace mockserver
