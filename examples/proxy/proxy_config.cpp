// Reading the proxy's JSON configuration (docs in examples/proxy/README.md).
#include "proxy_config.hpp"

#include "plugvisor/wire/address.hpp"

#include <fstream>
#include <regex>
#include <sstream>

namespace proxy {

namespace {

using plugvisor::Error;
using plugvisor::ErrorCode;
using plugvisor::Json;

[[noreturn]] void bad(const std::string& where, const std::string& what) {
  throw Error(ErrorCode::config, where + ": " + what);
}

void only_members(const Json& j, const std::string& where, std::initializer_list<std::string_view> known) {
  if (!j.is_object()) bad(where, std::string("must be an object, not ") + j.type_name());
  for (const auto& [key, value] : j.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      std::string list;
      for (auto name : known) list += (list.empty() ? "" : ", ") + std::string(name);
      bad(where, "unknown member \"" + key + "\" (known: " + list + ")");
    }
  }
}

std::string text(const Json& j, const std::string& where) {
  if (!j.is_string()) bad(where, std::string("must be a string, not ") + j.type_name());
  return j.get<std::string>();
}

long long integer(const Json& j, const std::string& where, long long low, long long high) {
  if (!j.is_number_integer() || j.get<long long>() < low || j.get<long long>() > high) {
    bad(where, "must be an integer from " + std::to_string(low) + " to " + std::to_string(high) + ", not " + j.dump());
  }
  return j.get<long long>();
}

std::chrono::milliseconds duration(const Json& j, const std::string& where) {
  try {
    return plugvisor::protocol::parse_duration(text(j, where));
  } catch (const Error& e) {
    bad(where, e.what());
  }
}

std::string upstream_url(const Json& j, const std::string& where) {
  static const std::regex url(R"(^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$)");
  std::string value = text(j, where);
  if (!std::regex_match(value, url)) bad(where, "must be a URL like http://127.0.0.1:9000 (no path), not \"" + value + "\"");
  return value;
}

plugvisor::http::FilterSpec filter_spec(const Json& j, const std::string& where) {
  using namespace plugvisor::http;
  only_members(j, where, {"type", "priority", "hooks", "paths", "timeout", "failure", "breaker"});
  FilterSpec spec;
  if (!j.contains("type")) bad(where, "type is missing: name the httpFilter type to run");
  spec.type = text(j.at("type"), where + ".type");
  if (j.contains("priority")) spec.priority = static_cast<int>(integer(j.at("priority"), where + ".priority", -1000000, 1000000));
  if (j.contains("hooks")) {
    const Json& hooks = j.at("hooks");
    if (!hooks.is_array()) bad(where + ".hooks", "must be an array of hook names");
    HookSet set;
    for (const auto& name : hooks) {
      auto hook = hook_from_string(name.is_string() ? name.get<std::string>() : "");
      if (!hook) {
        bad(where + ".hooks", name.dump() + " is not a hook (requestHeaders, requestBody, generateResponse, "
                                             "responseHeaders, responseBody)");
      }
      set.add(*hook);
    }
    spec.hooks = set;
  }
  if (j.contains("paths")) {
    if (!j.at("paths").is_array()) bad(where + ".paths", "must be an array of patterns such as \"/api/*\"");
    for (const auto& pattern : j.at("paths")) spec.paths.push_back(text(pattern, where + ".paths[]"));
  }
  if (j.contains("timeout")) spec.timeout = duration(j.at("timeout"), where + ".timeout");
  if (j.contains("failure")) {
    std::string mode = text(j.at("failure"), where + ".failure");
    if (mode == "fail-open") {
      spec.failure = FailureMode::fail_open;
    } else if (mode == "fail-closed") {
      spec.failure = FailureMode::fail_closed;
    } else {
      bad(where + ".failure", "must be \"fail-open\" or \"fail-closed\", not \"" + mode + "\"");
    }
  }
  if (j.contains("breaker")) {
    const Json& breaker = j.at("breaker");
    only_members(breaker, where + ".breaker", {"failures", "coolDown"});
    if (breaker.contains("failures")) {
      spec.breaker_failures = static_cast<int>(integer(breaker.at("failures"), where + ".breaker.failures", 0, 1000000));
    }
    if (breaker.contains("coolDown")) spec.breaker_cool_down = duration(breaker.at("coolDown"), where + ".breaker.coolDown");
  }
  return spec;
}

void read_body_limits(const Json& j, BodyLimits& body) {
  only_members(j, "body", {"filterLimit", "oversize", "max"});
  constexpr long long gib = 1LL << 30;
  if (j.contains("filterLimit")) body.filter_limit = static_cast<std::size_t>(integer(j.at("filterLimit"), "body.filterLimit", 0, gib));
  if (j.contains("max")) body.max = static_cast<std::size_t>(integer(j.at("max"), "body.max", 1, gib));
  if (j.contains("oversize")) {
    std::string mode = text(j.at("oversize"), "body.oversize");
    if (mode != "pass" && mode != "refuse") bad("body.oversize", "must be \"pass\" or \"refuse\", not \"" + mode + "\"");
    body.oversize = mode == "pass" ? Oversize::pass : Oversize::refuse;
  }
  if (body.filter_limit > body.max) bad("body", "filterLimit may not exceed max");
}

}  // namespace

ProxyConfig parse_config(const Json& doc, const std::string& origin, const std::filesystem::path& base_dir) {
  try {
    only_members(doc, "the configuration",
                 {"listen", "routes", "body", "upstreamTimeout", "pluginDirs", "configTypes", "filters"});
    ProxyConfig config;
    if (doc.contains("listen")) {
      std::string listen = text(doc.at("listen"), "listen");
      // plugvisor's one HOST:PORT rule (wire/address.hpp): IP literals, [IPv6], localhost; port 0: any free one.
      auto parsed = plugvisor::wire::parse_host_port(listen, {.localhost = true, .any_port = true});
      if (!parsed) bad("listen", "\"" + listen + "\" " + parsed.problem);
      config.listen_host = parsed.address.host;
      config.listen_port = parsed.address.port;
    }
    if (!doc.contains("routes") || !doc.at("routes").is_array() || doc.at("routes").empty()) {
      bad("routes", "give at least one route: [{\"name\": \"api\", \"prefix\": \"/\", \"upstream\": \"http://127.0.0.1:9000\"}]");
    }
    for (std::size_t i = 0; i < doc.at("routes").size(); ++i) {
      const Json& r = doc.at("routes")[i];
      std::string where = "routes[" + std::to_string(i) + "]";
      only_members(r, where, {"name", "prefix", "upstream"});
      Route route;
      route.prefix = r.contains("prefix") ? text(r.at("prefix"), where + ".prefix") : "/";
      if (route.prefix.empty() || route.prefix[0] != '/') bad(where + ".prefix", "must start with '/'");
      if (!r.contains("upstream")) bad(where, "upstream is missing (e.g. \"http://127.0.0.1:9000\")");
      route.upstream = upstream_url(r.at("upstream"), where + ".upstream");
      route.name = r.contains("name") ? text(r.at("name"), where + ".name") : route.prefix;
      config.routes.push_back(std::move(route));
    }
    if (doc.contains("body")) read_body_limits(doc.at("body"), config.body);
    if (doc.contains("upstreamTimeout")) config.upstream_timeout = duration(doc.at("upstreamTimeout"), "upstreamTimeout");
    if (doc.contains("pluginDirs")) {
      if (!doc.at("pluginDirs").is_array()) bad("pluginDirs", "must be an array of directories");
      for (const auto& dir : doc.at("pluginDirs")) {
        std::filesystem::path path = text(dir, "pluginDirs[]");
        config.plugin_dirs.push_back(path.is_absolute() ? path : base_dir / path);
      }
    }
    if (doc.contains("configTypes")) {
      if (!doc.at("configTypes").is_object()) bad("configTypes", "must be an object from config type to its data");
      for (const auto& [name, data] : doc.at("configTypes").items()) config.config_types[name] = data;
    }
    if (doc.contains("filters")) {
      if (!doc.at("filters").is_array()) bad("filters", "must be an array of filters");
      for (std::size_t i = 0; i < doc.at("filters").size(); ++i) {
        config.filters.push_back(filter_spec(doc.at("filters")[i], "filters[" + std::to_string(i) + "]"));
      }
    }
    return config;
  } catch (const Error& e) {
    throw Error(ErrorCode::config, origin + ": " + e.what());
  }
}

ProxyConfig load_config(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw Error(ErrorCode::config, "cannot read the configuration " + file.string());
  std::stringstream text;
  text << in.rdbuf();
  Json doc;
  try {
    doc = plugvisor::protocol::parse_json(text.str());
  } catch (const Json::exception& e) {
    throw Error(ErrorCode::config, file.string() + " is not JSON: " + e.what());
  } catch (const Error& e) {
    throw Error(ErrorCode::config, file.string() + ": " + e.what());
  }
  return parse_config(doc, file.string(), file.parent_path());
}

}  // namespace proxy
