// Reading and checking a configuration file; docs/configuration.md lists every key.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <sstream>

#include "process/integrity.hpp"
#include "jsonc.hpp"
#include "plugvisor/wire/address.hpp"
#include "plugvisor/manager.hpp"
#include "plugvisor/daemon.hpp"
#include "quote.hpp"
#include "sandbox/run_as.hpp"
#include "signing/signing_key.hpp"

extern char** environ;

namespace plugvisor {

namespace {

namespace fs = std::filesystem;
using detail::quote;
using detail::TextPosition;
using Keys = std::vector<std::string_view>;

// The keys of each object, in the order docs/configuration.md lists them.
const Keys top_keys{"pluginDirs", "runtimeDir", "trustedKeys", "signatures", "defaults", "plugins", "configTypes", "admin"};
const Keys settings_keys{
    "transport",
    "idleTimeout",
    "capabilitiesTimeout",
    "startTimeout",
    "callTimeout",
    "stopGrace",
    "termGrace",
    "maxBodyBytes",
    "start",
    "required",
    "restart",
    "limits",
    "logLinesPerSecond",
    "env",
    "permissions",
    "enforce",
    "user",
    "group",
};
const Keys plugin_only_keys{"enabled", "priority", "sha256"};
const Keys restart_keys{"initialBackoff", "maxBackoff", "maxFailures", "window", "coolDown"};
const Keys limits_keys{"memoryBytes", "cpuTime", "openFiles"};
const Keys admin_keys{"socket", "tcp", "token"};

/// One value of the document: what it is, where it is, and its name in messages.
struct Node {
  const Json& value;
  std::string pointer;  ///< JSON pointer, for positions
  std::string name;     ///< dotted, for messages: "defaults.restart.window"
};

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      bool same =
          std::tolower(static_cast<unsigned char>(a[i - 1])) == std::tolower(static_cast<unsigned char>(b[j - 1]));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string join(const Keys& keys) {
  std::string out;
  for (auto key : keys) out += (out.empty() ? "" : ", ") + std::string(key);
  return out;
}

std::string join(const std::vector<fs::path>& paths) {
  std::string out;
  for (const auto& path : paths) out += (out.empty() ? "" : ", ") + path.string();
  return out;
}

/// What a value is, for "must be X, not Y" messages.
std::string describe(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return value.get<bool>() ? "true" : "false";
    case Json::value_t::string:
      return "the string " + quote(value.get<std::string>(), 60);
    case Json::value_t::array:
      return "an array";
    case Json::value_t::object:
      return "an object";
    default:
      return "the number " + value.dump();
  }
}

/// `path` made absolute against `base`, without "." or ".." parts or a trailing slash.
fs::path resolve(const fs::path& path, const fs::path& base) {
  fs::path out = (path.is_absolute() ? path : base / path).lexically_normal();
  if (!out.has_filename() && out.has_relative_path()) out = out.parent_path();
  return out;
}

bool is_existing_dir(const fs::path& path) {
  std::error_code ec;
  return fs::is_directory(path, ec);
}

/// Why `address` is not a loopback HOST:PORT to listen on, or "" if it is one.
std::string tcp_address_problem(const std::string& address) {
  auto parsed = wire::parse_host_port(address, {.localhost = true, .any_port = true});
  if (!parsed) return parsed.problem;
  if (!parsed.address.loopback()) {
    return "is not a loopback address: the admin API has no TLS, so it listens on 127.0.0.1, [::1] or localhost "
           "only (put a TLS proxy in front to reach it from elsewhere)";
  }
  return "";
}

/// Why `token` cannot be a bearer token, or "" if it can.
std::string token_problem(const std::string& token) {
  bool printable = std::all_of(token.begin(), token.end(), [](char c) { return c > ' ' && c < 127; });
  return printable ? "" : "must be printable ASCII without spaces (it travels in an HTTP header)";
}

bool is_env_name(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

/// Reads values out of one document; every error names FILE:LINE:COL.
class Reader {
 public:
  Reader(std::string file, const detail::JsoncDocument& doc, fs::path base)
      : file_(std::move(file)), doc_(doc), base_(std::move(base)) {}

  [[noreturn]] void fail(TextPosition at, const std::string& reason) const {
    throw Error(ErrorCode::config,
                file_ + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) + ": " + reason);
  }
  /// Fails pointing at the node's key (its value for an array element).
  [[noreturn]] void fail_key(const Node& node, const std::string& reason) const {
    fail(doc_.key_position(node.pointer), reason);
  }
  /// Fails pointing at the node's value.
  [[noreturn]] void fail_value(const Node& node, const std::string& reason) const {
    fail(doc_.value_position(node.pointer), reason);
  }

  Node root() const { return {doc_.value, "", ""}; }

  Node child(const Node& parent, const std::string& key) const {
    return {parent.value.at(key), detail::child_pointer(parent.pointer, key),
            parent.name.empty() ? key : parent.name + "." + key};
  }

  Node element(const Node& parent, std::size_t index) const {
    return {parent.value.at(index), parent.pointer + "/" + std::to_string(index),
            parent.name + "[" + std::to_string(index) + "]"};
  }

  /// The keys of an object node, in the order they appear in the file.
  std::vector<std::string> members(const Node& node) const {
    std::vector<std::pair<std::pair<int, int>, std::string>> found;
    for (const auto& item : node.value.items()) {
      TextPosition at = doc_.key_position(detail::child_pointer(node.pointer, item.key()));
      found.push_back({{at.line, at.column}, item.key()});
    }
    std::sort(found.begin(), found.end());
    std::vector<std::string> out;
    for (auto& entry : found) out.push_back(std::move(entry.second));
    return out;
  }

  /// Checks that `node` is an object whose keys are all in `allowed`.
  void expect_object(const Node& node, const Keys& allowed, const std::string& what) const {
    if (!node.value.is_object()) fail_value(node, what + " must be an object, not " + describe(node.value));
    for (const auto& key : members(node)) {
      if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
      std::string reason = "unknown key " + quote(key) + " in " + what;
      std::string_view best;
      std::size_t best_distance = 3;
      for (auto candidate : allowed) {
        std::size_t distance = edit_distance(key, candidate);
        if (distance < best_distance) best = candidate, best_distance = distance;
      }
      if (!best.empty()) reason += "; did you mean " + quote(best) + "?";
      bool plugin_only = std::find(plugin_only_keys.begin(), plugin_only_keys.end(), key) != plugin_only_keys.end();
      if (plugin_only && best.empty()) {
        reason += "; " + quote(key) + " is allowed in a plugin entry under \"plugins\" only";
      }
      fail_key(child(node, key), reason + " (allowed: " + join(allowed) + ")");
    }
  }

  std::string text(const Node& node) const {
    if (!node.value.is_string()) fail_value(node, node.name + " must be a string, not " + describe(node.value));
    return node.value.get<std::string>();
  }

  bool flag(const Node& node) const {
    if (!node.value.is_boolean()) fail_value(node, node.name + " must be true or false, not " + describe(node.value));
    return node.value.get<bool>();
  }

  /// A whole number in [min, max].
  std::int64_t integer(const Node& node, std::int64_t min, std::int64_t max) const {
    if (!node.value.is_number_integer()) {
      fail_value(node, node.name + " must be a whole number, not " + describe(node.value));
    }
    if (node.value.is_number_unsigned() && node.value.get<std::uint64_t>() > static_cast<std::uint64_t>(max)) {
      fail_value(node, node.name + " must be at most " + std::to_string(max) + ", not " + node.value.dump());
    }
    auto value = node.value.get<std::int64_t>();
    if (value < min) {
      fail_value(node, node.name + (min == 0 ? " must not be negative" : " must be at least " + std::to_string(min)) +
                           ", not " + node.value.dump());
    }
    if (value > max) {
      fail_value(node, node.name + " must be at most " + std::to_string(max) + ", not " + node.value.dump());
    }
    return value;
  }

  /// A duration string; 0 is refused unless `zero_allowed`.
  std::chrono::milliseconds duration(const Node& node, bool zero_allowed = true) const {
    if (!node.value.is_string()) {
      fail_value(node, node.name + " must be a duration string such as \"30s\", not " + describe(node.value));
    }
    std::chrono::milliseconds value{};
    try {
      value = protocol::parse_duration(node.value.get<std::string>());
    } catch (const Error& e) {
      fail_value(node, node.name + ": " + e.what());
    }
    if (!zero_allowed && value.count() == 0) fail_value(node, node.name + " must be more than 0");
    return value;
  }

  /// A non-empty path, relative ones resolved against the file's directory.
  fs::path path(const Node& node) const {
    std::string value = text(node);
    if (value.empty()) fail_value(node, node.name + " must not be empty");
    return resolve(value, base_);
  }

  /// `value` resolved against the file's directory.
  fs::path resolved(const std::string& value) const { return resolve(value, base_); }

 private:
  std::string file_;
  const detail::JsoncDocument& doc_;
  fs::path base_;
};

// ---------------------------------------------------------------------------
// Signatures: the trusted keys, and the policy of each plugin directory

void read_signing(const Reader& r, const Node& root, ManagerOptions& options) {
  if (root.value.contains("trustedKeys")) {
    Node keys = r.child(root, "trustedKeys");
    if (!keys.value.is_array()) {
      r.fail_value(keys, "trustedKeys must be an array of public key files, not " + describe(keys.value));
    }
    for (std::size_t i = 0; i < keys.value.size(); ++i) {
      Node key = r.element(keys, i);
      fs::path path = r.path(key);
      try {
        detail::SigningKey::load_public(path);  // read now, so that a bad file is reported with its line
      } catch (const Error& e) {
        r.fail_value(key, key.name + ": " + e.what());
      }
      options.trusted_keys.push_back(path);
    }
  }
  if (!root.value.contains("signatures")) return;
  Node policies = r.child(root, "signatures");
  if (!policies.value.is_object()) {
    r.fail_value(policies, "signatures must be an object of plugin directory: \"optional\" or \"required\", not " +
                               describe(policies.value));
  }
  for (const auto& key : r.members(policies)) {
    Node entry = r.child(policies, key);
    if (key.empty()) r.fail_key(entry, "signatures has an empty directory name");
    fs::path dir = r.resolved(key);
    if (std::find(options.plugin_dirs.begin(), options.plugin_dirs.end(), dir) == options.plugin_dirs.end()) {
      r.fail_key(entry, "signatures: " + dir.string() + " is not a plugin directory (plugin directories: " +
                            join(options.plugin_dirs) + "); list it in pluginDirs or fix the name");
    }
    std::string value = r.text(entry);
    if (value == "optional") {
      options.signature_policies[dir] = SignaturePolicy::optional;
    } else if (value == "required") {
      options.signature_policies[dir] = SignaturePolicy::required;
    } else {
      r.fail_value(entry, entry.name + " must be \"optional\" or \"required\", not " + quote(value));
    }
  }
}

// ---------------------------------------------------------------------------
// Plugin settings: the same keys in "defaults" and in each plugin entry

void read_restart(const Reader& r, const Node& node, RestartPolicy& restart) {
  r.expect_object(node, restart_keys, node.name);
  for (const auto& key : r.members(node)) {
    Node n = r.child(node, key);
    if (key == "initialBackoff") restart.initial_backoff = r.duration(n);
    if (key == "maxBackoff") restart.max_backoff = r.duration(n);
    if (key == "maxFailures") restart.max_failures = static_cast<int>(r.integer(n, 1, INT_MAX));
    if (key == "window") restart.window = r.duration(n, false);
    if (key == "coolDown") restart.cool_down = r.duration(n);
  }
  if (restart.max_backoff < restart.initial_backoff) {
    r.fail_key(node, node.name + ": maxBackoff (" + protocol::format_duration(restart.max_backoff) +
                         ") is shorter than initialBackoff (" + protocol::format_duration(restart.initial_backoff) +
                         ")");
  }
}

void read_limits(const Reader& r, const Node& node, ResourceLimits& limits) {
  r.expect_object(node, limits_keys, node.name);
  for (const auto& key : r.members(node)) {
    Node n = r.child(node, key);
    if (key == "memoryBytes") limits.memory_bytes = static_cast<std::size_t>(r.integer(n, 0, INT64_MAX));
    if (key == "openFiles") limits.open_files = static_cast<std::size_t>(r.integer(n, 0, INT_MAX));
    if (key == "cpuTime") {
      auto cpu = r.duration(n);
      if (cpu.count() % 1000 != 0) {
        r.fail_value(n, n.name + " must be whole seconds (the kernel counts CPU time in seconds)");
      }
      limits.cpu_time = std::chrono::duration_cast<std::chrono::seconds>(cpu);
    }
  }
}

void read_env(const Reader& r, const Node& node, std::map<std::string, std::string>& env) {
  if (!node.value.is_object()) {
    r.fail_value(node, node.name + " must be an object of strings, not " + describe(node.value));
  }
  for (const auto& name : r.members(node)) {
    Node n = r.child(node, name);
    if (!is_env_name(name)) {
      r.fail_key(
          n, "invalid environment variable name " + quote(name) + " in " + node.name + " (use [A-Za-z_][A-Za-z0-9_]*)");
    }
    if (name == protocol::env_protocol) r.fail_key(n, std::string(protocol::env_protocol) + " is set by the manager");
    env[name] = r.text(n);
  }
}

// "permissions": the grant (docs/security.md); null: no sandbox. One parser
// for capabilities and configuration; its message gets the file position here.
void read_grant(const Reader& r, const Node& node, std::optional<Permissions>& grant) {
  if (node.value.is_null()) {
    grant.reset();
    return;
  }
  try {
    grant = parse_permissions(node.value);
  } catch (const Error& e) {
    r.fail_value(node, node.name + ": " + std::string(e.what()).substr(std::string("permissions: ").size()));
  }
}

/// Applies the settings keys of `node` (an object already checked for unknown keys) to `settings`.
void read_settings(const Reader& r, const Node& node, PluginSettings& settings) {
  for (const auto& key : r.members(node)) {
    Node n = r.child(node, key);
    if (key == "transport") {
      std::string value = r.text(n);
      if (value != "auto" && value != "unix" && value != "tcp") {
        r.fail_value(n, n.name + " must be \"auto\", \"unix\" or \"tcp\", not " + quote(value));
      }
      settings.transport = value == "tcp"    ? Transport::tcp
                           : value == "unix" ? Transport::unix_socket
                                             : Transport::automatic;
    }
    if (key == "idleTimeout") settings.idle_timeout = r.duration(n);
    if (key == "capabilitiesTimeout") settings.capabilities_timeout = r.duration(n, false);
    if (key == "startTimeout") settings.start_timeout = r.duration(n, false);
    if (key == "callTimeout") settings.call_timeout = r.duration(n, false);
    if (key == "stopGrace") settings.stop_grace = r.duration(n);
    if (key == "termGrace") settings.term_grace = r.duration(n);
    if (key == "maxBodyBytes") settings.max_body_bytes = static_cast<std::size_t>(r.integer(n, 1, INT64_MAX));
    if (key == "start") {
      std::string value = r.text(n);
      if (value != "lazy" && value != "eager") {
        r.fail_value(n, n.name + " must be \"lazy\" or \"eager\", not " + quote(value));
      }
      settings.start = value == "eager" ? StartPolicy::eager : StartPolicy::lazy;
    }
    if (key == "required") settings.required = r.flag(n);
    if (key == "restart") read_restart(r, n, settings.restart);
    if (key == "limits") read_limits(r, n, settings.limits);
    if (key == "logLinesPerSecond") settings.log_lines_per_second = static_cast<std::size_t>(r.integer(n, 0, INT_MAX));
    if (key == "env") read_env(r, n, settings.env);
    if (key == "permissions") read_grant(r, n, settings.grant);
    if (key == "enforce") {
      std::string value = r.text(n);
      if (value != "required" && value != "best-effort") {
        r.fail_value(n, n.name + " must be \"required\" or \"best-effort\", not " + quote(value));
      }
      settings.enforce = value == "required" ? Enforcement::required : Enforcement::best_effort;
    }
    if (key == "user" || key == "group") {
      std::string value = r.text(n);
      (key == "user" ? settings.user : settings.group) = value;
      try {
        if (!value.empty()) key == "user" ? detail::resolve_run_as(value, "0") : detail::resolve_run_as("0", value);
      } catch (const Error& e) {
        r.fail_value(n, n.name + ": " + e.what());
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Environment overrides

const std::string* variable(const std::map<std::string, std::string>& environment, const std::string& name) {
  auto it = environment.find(name);
  return it == environment.end() || it->second.empty() ? nullptr : &it->second;
}

[[noreturn]] void fail_variable(const std::string& name, const std::string& reason) {
  throw Error(ErrorCode::config, "environment variable " + name + ": " + reason);
}

void override_duration(const std::map<std::string, std::string>& environment, const std::string& name,
                       std::chrono::milliseconds& target) {
  const std::string* value = variable(environment, name);
  if (!value) return;
  try {
    target = protocol::parse_duration(*value);
  } catch (const Error& e) {
    fail_variable(name, e.what());
  }
  if (target.count() == 0) fail_variable(name, "must be more than 0");
}

/// A path from a variable: relative ones are resolved against the working directory.
fs::path env_path(const std::string& value) { return resolve(value, fs::current_path()); }


std::string read_file(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) throw Error(ErrorCode::config, file.string() + ": no such file");
  if (fs::is_directory(file, ec)) throw Error(ErrorCode::config, file.string() + ": is a directory, not a file");
  std::ifstream in(file, std::ios::binary);
  if (!in.is_open()) throw Error(ErrorCode::config, file.string() + ": cannot open it: " + std::strerror(errno));
  std::string text(std::istreambuf_iterator<char>(in), {});
  if (in.bad()) throw Error(ErrorCode::config, file.string() + ": cannot read it: " + std::strerror(errno));
  return text;
}

/// The file name in `dirs` closest to `id` (a likely typo), or "".
std::string nearest_file(const std::vector<fs::path>& dirs, const std::string& id) {
  std::string best;
  std::size_t best_distance = 4;
  try {
    for (const auto& dir : dirs) {
      for (const auto& entry : fs::directory_iterator(dir)) {
        std::string name = entry.path().filename().string();
        std::size_t distance = edit_distance(id, name);
        if (name.starts_with(".") || distance > best_distance) continue;
        if (distance < best_distance || name < best) best = name, best_distance = distance;
      }
    }
  } catch (const fs::filesystem_error&) {
    // only a hint: without it the error still says what is wrong
  }
  return best;
}

}  // namespace

Json plugin_settings_json(const PluginSettings& s) {
  using protocol::format_duration;
  return Json{
      {"transport", std::string(to_string(s.transport))},
      {"idleTimeout", format_duration(s.idle_timeout)},
      {"capabilitiesTimeout", format_duration(s.capabilities_timeout)},
      {"startTimeout", format_duration(s.start_timeout)},
      {"callTimeout", format_duration(s.call_timeout)},
      {"stopGrace", format_duration(s.stop_grace)},
      {"termGrace", format_duration(s.term_grace)},
      {"maxBodyBytes", s.max_body_bytes},
      {"start", s.start == StartPolicy::eager ? "eager" : "lazy"},
      {"required", s.required},
      {"restart",
       {{"initialBackoff", format_duration(s.restart.initial_backoff)},
        {"maxBackoff", format_duration(s.restart.max_backoff)},
        {"maxFailures", s.restart.max_failures},
        {"window", format_duration(s.restart.window)},
        {"coolDown", format_duration(s.restart.cool_down)}}},
      {"limits",
       {{"memoryBytes", s.limits.memory_bytes},
        {"cpuTime", format_duration(s.limits.cpu_time)},
        {"openFiles", s.limits.open_files}}},
      {"logLinesPerSecond", s.log_lines_per_second},
      {"env", s.env},
      {"permissions", s.grant ? permissions_json(*s.grant) : Json(nullptr)},
      {"enforce", std::string(to_string(s.enforce))},
      {"user", s.user},
      {"group", s.group},
  };
}


std::map<std::string, std::string> current_environment() {
  std::map<std::string, std::string> out;
  for (char** entry = environ; entry && *entry; ++entry) {
    std::string_view text(*entry);
    auto eq = text.find('=');
    if (eq != std::string_view::npos) out.emplace(text.substr(0, eq), text.substr(eq + 1));
  }
  return out;
}

static fs::path private_admin_directory() { return "/tmp/plugvisor-" + std::to_string(::getuid()); }

std::filesystem::path default_admin_socket(const std::map<std::string, std::string>& environment) {
  if (const std::string* xdg = variable(environment, "XDG_RUNTIME_DIR"); xdg && fs::path(*xdg).is_absolute()) {
    return resolve(*xdg, "/") / "plugvisor.sock";
  }
  // A directory, not a file in /tmp: another user cannot squat a path
  // inside a directory that is ours and 0700.
  return private_admin_directory() / "plugvisor.sock";
}

bool is_private_default_socket(const std::filesystem::path& socket) {
  return socket.parent_path() == private_admin_directory();
}

Configuration load_configuration(const fs::path& file, const std::map<std::string, std::string>& environment) {
  std::string text = read_file(file);
  fs::path source = resolve(file, fs::current_path());
  Configuration config = parse_configuration(text, file.string(), source.parent_path(), environment);
  config.source = source;
  return config;
}

namespace {

using Environment = std::map<std::string, std::string>;
using NamedNodes = std::vector<std::pair<std::string, Node>>;

bool has(const Node& node, const char* key) { return node.value.contains(key); }

/// Plugin directories: the file's, or PLUGVISOR_PLUGIN_DIRS instead.
void read_plugin_dirs(const Reader& r, const Node& root, const Environment& environment, ManagerOptions& options) {
  std::vector<std::pair<fs::path, Node>> file_dirs;
  if (has(root, "pluginDirs")) {
    Node dirs = r.child(root, "pluginDirs");
    if (!dirs.value.is_array()) r.fail_value(dirs, "pluginDirs must be an array of paths, not " + describe(dirs.value));
    if (dirs.value.empty()) r.fail_value(dirs, "pluginDirs is empty: list at least one plugin directory");
    for (std::size_t i = 0; i < dirs.value.size(); ++i) {
      Node dir = r.element(dirs, i);
      fs::path path = r.path(dir);
      for (const auto& [seen, where] : file_dirs) {
        if (seen == path) r.fail_value(dir, "plugin directory " + path.string() + " is listed twice");
      }
      file_dirs.emplace_back(path, dir);
    }
  }
  if (const std::string* value = variable(environment, "PLUGVISOR_PLUGIN_DIRS")) {
    std::stringstream parts(*value);
    for (std::string part; std::getline(parts, part, ':');) {
      if (part.empty()) fail_variable("PLUGVISOR_PLUGIN_DIRS", "has an empty entry in " + quote(*value));
      fs::path path = env_path(part);
      if (!is_existing_dir(path)) {
        fail_variable("PLUGVISOR_PLUGIN_DIRS", path.string() + " does not exist or is not a directory");
      }
      options.plugin_dirs.push_back(path);
    }
    if (value->back() == ':') fail_variable("PLUGVISOR_PLUGIN_DIRS", "has an empty entry in " + quote(*value));
    return;
  }
  if (file_dirs.empty()) r.fail_value(root, "no plugin directories: set \"pluginDirs\" or PLUGVISOR_PLUGIN_DIRS");
  for (const auto& [path, node] : file_dirs) {
    if (!is_existing_dir(path)) {
      r.fail_value(node, "plugin directory " + path.string() + " does not exist or is not a directory");
    }
    options.plugin_dirs.push_back(path);
  }
}

/// The runtime directory: the file's, or PLUGVISOR_RUNTIME_DIR instead.
void read_runtime_dir(const Reader& r, const Node& root, const Environment& environment, ManagerOptions& options) {
  if (const std::string* value = variable(environment, "PLUGVISOR_RUNTIME_DIR")) {
    options.runtime_parent = env_path(*value);
    if (!is_existing_dir(options.runtime_parent)) {
      fail_variable("PLUGVISOR_RUNTIME_DIR", options.runtime_parent.string() + " does not exist or is not a directory");
    }
    if (has(root, "runtimeDir")) r.path(r.child(root, "runtimeDir"));  // still checked for its type
  } else if (has(root, "runtimeDir")) {
    Node node = r.child(root, "runtimeDir");
    options.runtime_parent = r.path(node);
    if (!is_existing_dir(options.runtime_parent)) {
      r.fail_value(node, "runtimeDir " + options.runtime_parent.string() + " does not exist or is not a directory");
    }
  }
}

/// Defaults: built-in values, then the file's "defaults", then the environment.
void read_defaults(const Reader& r, const Node& root, const Environment& environment, ManagerOptions& options) {
  if (has(root, "defaults")) {
    Node defaults = r.child(root, "defaults");
    r.expect_object(defaults, settings_keys, "defaults");
    read_settings(r, defaults, options.defaults);
  }
  override_duration(environment, "PLUGVISOR_IDLE_TIMEOUT", options.defaults.idle_timeout);
  override_duration(environment, "PLUGVISOR_START_TIMEOUT", options.defaults.start_timeout);
  override_duration(environment, "PLUGVISOR_CALL_TIMEOUT", options.defaults.call_timeout);
}

/// One plugin entry: the defaults with the entry's keys applied.
PluginSettings read_plugin_entry(const Reader& r, const Node& entry, const PluginSettings& defaults) {
  static const Keys entry_keys = [] {
    Keys keys = settings_keys;
    keys.insert(keys.end(), plugin_only_keys.begin(), plugin_only_keys.end());
    return keys;
  }();
  r.expect_object(entry, entry_keys, "plugin entry " + entry.name);
  PluginSettings settings = defaults;
  read_settings(r, entry, settings);
  if (has(entry, "enabled")) settings.enabled = r.flag(r.child(entry, "enabled"));
  if (has(entry, "priority")) settings.priority = static_cast<int>(r.integer(r.child(entry, "priority"), INT_MIN, INT_MAX));
  if (has(entry, "sha256")) {
    Node pin = r.child(entry, "sha256");
    settings.sha256 = r.text(pin);
    if (!settings.sha256.empty() && !detail::is_sha256_hex(settings.sha256)) {
      r.fail_value(pin, pin.name + " must be 64 hex digits (plugvisor inspect prints a plugin's), not " +
                            quote(settings.sha256));
    }
  }
  return settings;
}

/// The "plugins" entries into options.per_plugin; returns their nodes by id.
NamedNodes read_plugin_entries(const Reader& r, const Node& root, ManagerOptions& options) {
  NamedNodes nodes;
  if (!has(root, "plugins")) return nodes;
  Node plugins = r.child(root, "plugins");
  if (!plugins.value.is_object()) {
    r.fail_value(plugins, "plugins must be an object of plugin entries by plugin id, not " + describe(plugins.value));
  }
  for (const auto& id : r.members(plugins)) {
    Node entry = r.child(plugins, id);
    if (!protocol::is_valid_name(id)) {
      r.fail_key(entry, "invalid plugin id " + quote(id) + ": plugin ids are file names of 1-64 of [A-Za-z0-9._-]");
    }
    options.per_plugin[id] = read_plugin_entry(r, entry, options.defaults);
    nodes.emplace_back(id, entry);
  }
  return nodes;
}

void read_config_types(const Reader& r, const Node& root, ManagerOptions& options) {
  if (!has(root, "configTypes")) return;
  Node types = r.child(root, "configTypes");
  if (!types.value.is_object()) {
    r.fail_value(types, "configTypes must be an object of data by config-type name, not " + describe(types.value));
  }
  for (const auto& type : r.members(types)) {
    if (!protocol::is_valid_name(type)) {
      r.fail_key(r.child(types, type), "invalid config-type name " + quote(type) + " (use 1-64 of [A-Za-z0-9._-])");
    }
    options.config_types[type] = types.value.at(type);
  }
}

/// A socket path no longer than a Unix socket path may be, or "".
std::string socket_path_problem(const fs::path& socket) {
  if (socket.string().size() <= protocol::max_socket_path) return "";
  return "longer than " + std::to_string(protocol::max_socket_path) + " bytes, the limit of a Unix socket path";
}

/// Admin endpoints: the file's, each replaced by its variable when set.
AdminOptions read_admin(const Reader& r, const Node& root, const Environment& environment) {
  AdminOptions admin;
  std::optional<Node> tcp_node;
  if (has(root, "admin")) {
    Node admin_node = r.child(root, "admin");
    r.expect_object(admin_node, admin_keys, "admin");
    if (has(admin_node, "socket")) {
      Node node = r.child(admin_node, "socket");
      admin.socket = r.path(node);
      if (auto problem = socket_path_problem(admin.socket); !problem.empty()) {
        r.fail_value(node, "admin.socket is " + problem);
      }
    }
    if (has(admin_node, "tcp")) {
      tcp_node.emplace(r.child(admin_node, "tcp"));
      admin.tcp_address = r.text(*tcp_node);
      if (auto problem = tcp_address_problem(admin.tcp_address); !admin.tcp_address.empty() && !problem.empty()) {
        r.fail_value(*tcp_node, "admin.tcp " + quote(admin.tcp_address) + " " + problem);
      }
    }
    if (has(admin_node, "token")) {
      Node node = r.child(admin_node, "token");
      admin.token = r.text(node);
      if (auto problem = token_problem(admin.token); !problem.empty()) r.fail_value(node, "admin.token " + problem);
    }
  }
  if (const std::string* value = variable(environment, "PLUGVISOR_ADMIN_SOCKET")) {
    admin.socket = env_path(*value);
    if (auto problem = socket_path_problem(admin.socket); !problem.empty()) {
      fail_variable("PLUGVISOR_ADMIN_SOCKET", problem);
    }
  }
  bool tcp_from_env = false;
  if (const std::string* value = variable(environment, "PLUGVISOR_ADMIN_TCP")) {
    if (auto problem = tcp_address_problem(*value); !problem.empty()) {
      fail_variable("PLUGVISOR_ADMIN_TCP", quote(*value) + " " + problem);
    }
    admin.tcp_address = *value;
    tcp_from_env = true;
  }
  if (const std::string* value = variable(environment, "PLUGVISOR_ADMIN_TOKEN")) {
    if (auto problem = token_problem(*value); !problem.empty()) fail_variable("PLUGVISOR_ADMIN_TOKEN", problem);
    admin.token = *value;
  }
  if (admin.socket.empty()) admin.socket = default_admin_socket(environment);
  if (!admin.tcp_address.empty() && admin.token.empty()) {
    std::string reason =
        "the admin TCP endpoint " + admin.tcp_address + " needs a token: set admin.token or PLUGVISOR_ADMIN_TOKEN";
    if (tcp_from_env) fail_variable("PLUGVISOR_ADMIN_TCP", reason);
    r.fail_key(*tcp_node, reason);
  }
  return admin;
}

/// Every plugin named must be in a plugin directory (existence only: nothing is probed).
void check_plugins_exist(const Reader& r, const NamedNodes& plugin_nodes, const ManagerOptions& options) {
  for (const auto& [id, node] : plugin_nodes) {
    // An init-capture: clang before 16 cannot capture a structured binding.
    bool found = std::any_of(options.plugin_dirs.begin(), options.plugin_dirs.end(), [&name = id](const fs::path& dir) {
      std::error_code ec;
      return fs::exists(dir / name, ec) && !fs::is_directory(dir / name, ec);
    });
    if (found) continue;
    std::string reason =
        "plugin " + quote(id) + " is not in any plugin directory (looked in " + join(options.plugin_dirs) + ")";
    if (auto near = nearest_file(options.plugin_dirs, id); !near.empty()) reason += "; did you mean " + quote(near) + "?";
    r.fail_key(node, reason + " A plugin's id is its file name.");
  }
}

}  // namespace

Configuration parse_configuration(std::string_view text, const std::string& name, const fs::path& base_dir,
                                  const std::map<std::string, std::string>& environment) {
  detail::JsoncDocument doc;
  try {
    doc = detail::parse_jsonc(text);
  } catch (const detail::JsoncError& e) {
    TextPosition at = e.position();
    throw Error(ErrorCode::config,
                name + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) + ": " + e.what());
  }
  Configuration config;
  const Reader r(name, doc, resolve(base_dir, fs::current_path()));
  const Node root = r.root();
  r.expect_object(root, top_keys, "the configuration");
  // In this order: the first problem reported is the first a reader meets.
  read_plugin_dirs(r, root, environment, config.manager);
  read_signing(r, root, config.manager);
  read_runtime_dir(r, root, environment, config.manager);
  read_defaults(r, root, environment, config.manager);
  NamedNodes plugin_nodes = read_plugin_entries(r, root, config.manager);
  read_config_types(r, root, config.manager);
  config.admin = read_admin(r, root, environment);
  check_plugins_exist(r, plugin_nodes, config.manager);
  return config;
}

Json configuration_json(const Configuration& configuration) {
  const ManagerOptions& options = configuration.manager;
  Json out = Json::object();
  out["pluginDirs"] = Json::array();
  for (const auto& dir : options.plugin_dirs) out["pluginDirs"].push_back(dir.string());
  if (!options.runtime_parent.empty()) out["runtimeDir"] = options.runtime_parent.string();
  out["defaults"] = plugin_settings_json(options.defaults);
  out["plugins"] = Json::object();
  for (const auto& [id, settings] : options.per_plugin) {
    Json entry = plugin_settings_json(settings);
    entry["enabled"] = settings.enabled;
    entry["priority"] = settings.priority;
    entry["sha256"] = settings.sha256;
    out["plugins"][id] = std::move(entry);
  }
  out["trustedKeys"] = Json::array();
  for (const auto& key : options.trusted_keys) out["trustedKeys"].push_back(key.string());
  out["signatures"] = Json::object();
  for (const auto& [dir, policy] : options.signature_policies) out["signatures"][dir.string()] = to_string(policy);
  out["configTypes"] = Json::object();
  for (const auto& [type, data] : options.config_types) out["configTypes"][type] = data;
  Json admin{{"socket", configuration.admin.socket.string()}};
  if (!configuration.admin.tcp_address.empty()) admin["tcp"] = configuration.admin.tcp_address;
  if (!configuration.admin.token.empty()) admin["token"] = configuration.admin.token;
  out["admin"] = std::move(admin);
  return out;
}

}  // namespace plugvisor
