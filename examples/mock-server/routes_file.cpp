#include "routes_file.hpp"

#include <cctype>
#include <climits>
#include <cstdint>
#include <fstream>
#include <functional>
#include <sstream>

namespace mockserver {

using plugvisor::Error;
using plugvisor::ErrorCode;

namespace {

// Bounds: the file is the operator's, but a typo should not cost memory.
constexpr std::size_t max_file_bytes = 4 * 1024 * 1024;
constexpr std::size_t max_routes = 10000;

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}
  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw Error(ErrorCode::config, file_ + ": " + where + " " + what);
  }
  const Json& object(const Json& j, const std::string& where) const {
    if (!j.is_object()) fail(where, std::string("must be an object, not ") + j.type_name());
    return j;
  }
  std::string string(const Json& j, const std::string& where) const {
    if (!j.is_string()) fail(where, std::string("must be a string, not ") + j.type_name());
    return j.get<std::string>();
  }
  void only(const Json& j, const std::string& where, std::initializer_list<std::string_view> keys) const {
    for (const auto& [key, value] : j.items()) {
      bool known = false;
      for (auto k : keys) known = known || key == k;
      if (!known) {
        std::string list;
        for (auto k : keys) list += (list.empty() ? "" : ", ") + std::string(k);
        fail(where, "has an unknown member \"" + key + "\" (known: " + list + ")");
      }
    }
  }
  std::chrono::milliseconds duration(const Json& j, const std::string& where) const {
    try {
      return plugvisor::protocol::parse_duration(string(j, where));
    } catch (const Error& e) {
      fail(where, e.what());
    }
  }

 private:
  std::string file_;
};

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  std::size_t i = 1;
  while (i <= path.size()) {
    std::size_t slash = path.find('/', i);
    if (slash == std::string_view::npos) slash = path.size();
    out.emplace_back(path.substr(i, slash - i));
    i = slash + 1;
  }
  return out;
}

ParamSource read_param(const Reader& r, const Json& j, const std::string& where) {
  if (!j.is_object()) {
    if (j.is_structured()) r.fail(where, "must be a scalar or {\"path\"|\"query\"|\"header\": NAME}");
    return ParamSource{ParamSource::From::literal, "", j};
  }
  r.only(j, where, {"path", "query", "header"});
  if (j.size() != 1) r.fail(where, "must have exactly one of path, query, header");
  auto [key, value] = *j.items().begin();
  std::string name = r.string(value, where + "." + key);
  if (key == "path") return {ParamSource::From::path, name, nullptr};
  if (key == "query") return {ParamSource::From::query, name, nullptr};
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return {ParamSource::From::header, name, nullptr};
}

Route read_route(const Reader& r, const Json& j, const std::string& where) {
  r.object(j, where);
  r.only(j, where, {"method", "path", "status", "headers", "body", "auth", "dataSource", "description"});
  Route route;
  route.where = where;
  route.method = j.contains("method") ? r.string(j.at("method"), where + ".method") : "GET";
  for (auto& c : route.method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (!j.contains("path")) r.fail(where, "needs a path, such as \"/users/:id\"");
  route.path = r.string(j.at("path"), where + ".path");
  if (route.path.empty() || route.path.front() != '/') r.fail(where + ".path", "must start with '/'");
  route.segments = split_path(route.path);
  if (j.contains("status")) {
    const auto& status = j.at("status");
    if (!status.is_number_integer() || status.get<long long>() < 100 || status.get<long long>() > 599) {
      r.fail(where + ".status", "must be an integer from 100 to 599");
    }
    route.status = status.get<int>();
  }
  if (j.contains("headers")) {
    try {
      route.headers = Json{{"status", 200}, {"headers", j.at("headers")}}.get<plugvisor::http::Response>().headers;
    } catch (const Error& e) {
      r.fail(where + ".headers", e.what());
    }
  }
  if (j.contains("body")) route.body = j.at("body");
  if (j.contains("description")) route.description = r.string(j.at("description"), where + ".description");
  if (j.contains("auth")) {
    const auto& auth = r.object(j.at("auth"), where + ".auth");
    r.only(auth, where + ".auth", {"authenticators", "mode", "settings"});
    RouteAuth out;
    if (auth.contains("authenticators")) {
      const auto& list = auth.at("authenticators");
      if (!list.is_array()) r.fail(where + ".auth.authenticators", "must be an array of authenticator types");
      for (const auto& type : list) out.authenticators.push_back(r.string(type, where + ".auth.authenticators[]"));
    }
    if (auth.contains("mode")) {
      auto mode = plugvisor::mock::auth_mode_from_string(r.string(auth.at("mode"), where + ".auth.mode"));
      if (!mode) r.fail(where + ".auth.mode", "must be \"first\" (first decisive answer wins) or \"all\" (all must pass)");
      out.mode = *mode;
    }
    if (auth.contains("settings")) out.settings = auth.at("settings");
    route.auth = out;
  }
  if (j.contains("dataSource")) {
    const auto& data = r.object(j.at("dataSource"), where + ".dataSource");
    r.only(data, where + ".dataSource", {"type", "query", "params", "single"});
    RouteData out;
    if (!data.contains("type") || !data.contains("query")) r.fail(where + ".dataSource", "needs a type and a query");
    out.type = r.string(data.at("type"), where + ".dataSource.type");
    out.query = r.string(data.at("query"), where + ".dataSource.query");
    if (data.contains("params")) {
      const auto& params = data.at("params");
      if (!params.is_array()) r.fail(where + ".dataSource.params", "must be an array (bound to ? in order)");
      for (std::size_t i = 0; i < params.size(); ++i) {
        out.params.push_back(read_param(r, params[i], where + ".dataSource.params[" + std::to_string(i) + "]"));
      }
    }
    if (data.contains("single")) {
      if (!data.at("single").is_boolean()) r.fail(where + ".dataSource.single", "must be true or false");
      out.single = data.at("single").get<bool>();
    }
    for (const auto& param : out.params) {
      if (param.from != ParamSource::From::path) continue;
      bool captured = false;
      for (const auto& segment : route.segments) captured = captured || segment == ":" + param.name;
      if (!captured) r.fail(where + ".dataSource.params", "names path parameter '" + param.name + "', which " + route.path + " does not capture");
    }
    route.data = out;
  }
  // Template tags are checked now (syntax); the functions exist once plugins run.
  if (route.body) {
    std::function<void(const Json&)> check = [&](const Json& value) {
      if (value.is_string()) {
        try {
          plugvisor::mock::Templates::parse(value.get_ref<const std::string&>());
        } catch (const Error& e) {
          r.fail(where + ".body", e.what());
        }
      } else if (value.is_structured()) {
        for (const auto& item : value) check(item);
      }
    };
    check(*route.body);
  }
  return route;
}

}  // namespace

RoutesFile load_routes_file(const std::filesystem::path& path) {
  const std::string file = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorCode::config, file + ": cannot be read (does it exist?)");
  std::string text;
  text.resize(max_file_bytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > max_file_bytes) throw Error(ErrorCode::config, file + ": larger than 4 MiB");
  Json doc;
  try {
    doc = plugvisor::protocol::parse_json(text);
  } catch (const Json::exception& e) {
    throw Error(ErrorCode::config, file + ": not JSON: " + e.what());
  } catch (const Error& e) {
    throw Error(ErrorCode::config, file + ": " + e.what());
  }
  Reader r(file);
  r.object(doc, "the document");
  r.only(doc, "the document", {"title", "callTimeout", "plugins", "configTypes", "routes"});
  RoutesFile out;
  if (doc.contains("title")) out.title = r.string(doc.at("title"), "title");
  out.source = std::filesystem::absolute(path);
  if (doc.contains("callTimeout")) out.call_timeout = r.duration(doc.at("callTimeout"), "callTimeout");
  if (doc.contains("plugins")) {
    for (const auto& [id, entry] : r.object(doc.at("plugins"), "plugins").items()) {
      const std::string where = "plugins." + id;
      r.object(entry, where);
      r.only(entry, where, {"required", "priority", "callTimeout"});
      PluginPolicy policy;
      if (entry.contains("required")) {
        if (!entry.at("required").is_boolean()) r.fail(where + ".required", "must be true or false");
        policy.required = entry.at("required").get<bool>();
      }
      if (entry.contains("priority")) {
        const auto& p = entry.at("priority");
        if (!p.is_number_integer() || p.get<long long>() < INT32_MIN || p.get<long long>() > INT32_MAX) {
          r.fail(where + ".priority", "must be a whole number (higher runs first)");
        }
        policy.priority = p.get<int>();
      }
      if (entry.contains("callTimeout")) policy.call_timeout = r.duration(entry.at("callTimeout"), where + ".callTimeout");
      out.plugins[id] = policy;
    }
  }
  if (doc.contains("configTypes")) {
    for (const auto& [name, data] : r.object(doc.at("configTypes"), "configTypes").items()) out.config_types[name] = data;
  }
  if (!doc.contains("routes") || !doc.at("routes").is_array()) r.fail("routes", "must be an array of routes");
  const auto& routes = doc.at("routes");
  if (routes.size() > max_routes) r.fail("routes", "has more than 10000 entries");
  for (std::size_t i = 0; i < routes.size(); ++i) {
    out.routes.push_back(read_route(r, routes[i], "routes[" + std::to_string(i) + "]"));
  }
  return out;
}

std::optional<std::map<std::string, std::string>> match(const Route& route, std::string_view path) {
  if (path.empty() || path.front() != '/') return std::nullopt;
  std::map<std::string, std::string> captures;
  std::size_t i = 1;
  for (std::size_t k = 0; k < route.segments.size(); ++k) {
    if (i > path.size()) return std::nullopt;
    std::size_t slash = path.find('/', i);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view segment = path.substr(i, slash - i);
    const auto& expected = route.segments[k];
    if (expected.size() > 1 && expected.front() == ':') {
      if (segment.empty()) return std::nullopt;
      captures[expected.substr(1)] = std::string(segment);
    } else if (segment != expected) {
      return std::nullopt;
    }
    i = slash + 1;
  }
  if (i <= path.size()) return std::nullopt;  // more segments than the route has
  return captures;
}

}  // namespace mockserver
