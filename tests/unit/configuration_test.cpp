// Configuration files: what a good file becomes, and how each kind of bad
// input is reported (FILE:LINE:COL and the reason).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "jsonc.hpp"
#include "plugvisor/manager.hpp"
#include "plugvisor/daemon.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using Catch::Contains;
using Catch::StartsWith;
using plugvisor::Configuration;
using plugvisor::Error;
using plugvisor::ErrorCode;
using plugvisor::Json;
using plugvisor::load_configuration;
namespace fs = std::filesystem;

namespace {

using Environment = std::map<std::string, std::string>;

/// A temporary directory holding `plugins/` (with plugin-a and plugin-b) and the configuration file.
class ConfigDir {
 public:
  ConfigDir() {
    fs::create_directory(plugins());
    for (const char* name : {"plugin-a", "plugin-b"}) {
      std::ofstream(plugins() / name) << "#!/bin/sh\n";
      fs::permissions(plugins() / name, fs::perms::owner_all);
    }
  }
  fs::path root() const { return dir_.path(); }
  fs::path plugins() const { return dir_.path() / "plugins"; }

  /// Writes `text` (with PLUGINS replaced by the plugin directory) as the file; returns its path.
  fs::path write(std::string text, const std::string& name = "plugvisor.jsonc") const {
    for (auto at = text.find("PLUGINS"); at != std::string::npos; at = text.find("PLUGINS")) {
      text.replace(at, 7, plugins().string());
    }
    std::ofstream(dir_.path() / name) << text;
    return dir_.path() / name;
  }

 private:
  plugvisor::test::TempDir dir_;
};

/// The message of the Error(config) that loading `file` throws.
std::string load_error(const fs::path& file, const Environment& environment = {}) {
  try {
    load_configuration(file, environment);
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::config);
    return e.what();
  }
  FAIL("the configuration was accepted");
  return "";
}

/// "FILE:LINE:COL: " for `file`.
std::string at(const fs::path& file, int line, int column) {
  return file.string() + ":" + std::to_string(line) + ":" + std::to_string(column) + ": ";
}

}  // namespace

TEST_CASE("a configuration file with comments and every key becomes the expected options", "[configuration]") {
  ConfigDir dir;
  auto file = dir.write(R"({
  // plugin directories, searched in order
  "pluginDirs": ["PLUGINS"],
  "runtimeDir": "PLUGINS", /* any existing directory */
  "defaults": {
    "transport": "tcp", "idleTimeout": "2m", "startTimeout": "3s", "callTimeout": "4s",
    "capabilitiesTimeout": "5s", "stopGrace": "6s", "termGrace": "7s", "maxBodyBytes": 1024, "start": "eager",
    "required": true, "logLinesPerSecond": 0, "env": {"LEVEL": "debug"},
    "restart": {"initialBackoff": "50ms", "maxBackoff": "1s", "maxFailures": 2, "window": "30s", "coolDown": "0"},
    "limits": {"memoryBytes": 1048576, "cpuTime": "2m", "openFiles": 64}
  },
  "plugins": {
    "plugin-a": {"enabled": false, "priority": -3, "required": false},
  },
  "configTypes": {"text-tools.prefix": {"prefix": "> "}, "empty": null},
  "admin": {"socket": "/run/test/admin.sock", "tcp": "127.0.0.1:7070", "token": "s3cret"}
}
)");
  // The trailing comma after plugin-a is not JSON: take it out and check the rest.
  CHECK_THAT(load_error(file), StartsWith(at(file, 14, 3)) && Contains("invalid JSON"));
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  text.replace(text.find("},\n  },"), 7, "}\n  },");
  std::ofstream(file) << text;

  Configuration config = load_configuration(file, {});
  const auto& options = config.manager;
  CHECK(config.source == file);
  CHECK(options.plugin_dirs == std::vector<fs::path>{dir.plugins()});
  CHECK(options.runtime_parent == dir.plugins());
  const auto& d = options.defaults;
  CHECK(d.transport == plugvisor::Transport::tcp);
  CHECK(d.idle_timeout == 2min);
  CHECK(d.start_timeout == 3s);
  CHECK(d.call_timeout == 4s);
  CHECK(d.capabilities_timeout == 5s);
  CHECK(d.stop_grace == 6s);
  CHECK(d.term_grace == 7s);
  CHECK(d.max_body_bytes == 1024);
  CHECK(d.start == plugvisor::StartPolicy::eager);
  CHECK(d.required);
  CHECK(d.log_lines_per_second == 0);
  CHECK(d.env == Environment{{"LEVEL", "debug"}});
  CHECK(d.restart.initial_backoff == 50ms);
  CHECK(d.restart.max_backoff == 1s);
  CHECK(d.restart.max_failures == 2);
  CHECK(d.restart.window == 30s);
  CHECK(d.restart.cool_down == 0ms);
  CHECK(d.limits.memory_bytes == 1048576);
  CHECK(d.limits.cpu_time == 120s);
  CHECK(d.limits.open_files == 64);
  REQUIRE(options.per_plugin.size() == 1);
  CHECK(options.per_plugin.at("plugin-a").idle_timeout == 2min);
  CHECK_FALSE(options.per_plugin.at("plugin-a").required);
  CHECK_FALSE(config.manager.per_plugin.at("plugin-a").enabled);
  CHECK(config.manager.per_plugin.at("plugin-a").priority == -3);
  CHECK(options.config_types.at("text-tools.prefix") == Json{{"prefix", "> "}});
  CHECK(options.config_types.at("empty").is_null());
  CHECK(config.admin.socket == "/run/test/admin.sock");
  CHECK(config.admin.tcp_address == "127.0.0.1:7070");
  CHECK(config.admin.token == "s3cret");
  CHECK(options.logger == nullptr);
}

TEST_CASE("a minimal configuration file gets the built-in defaults", "[configuration]") {
  ConfigDir dir;
  auto file = dir.write(R"({"pluginDirs": ["PLUGINS"]})");
  Configuration config = load_configuration(file, {});
  plugvisor::PluginSettings builtin;
  CHECK(config.manager.defaults.idle_timeout == builtin.idle_timeout);
  CHECK(config.manager.defaults.call_timeout == builtin.call_timeout);
  CHECK(config.manager.defaults.restart.max_failures == builtin.restart.max_failures);
  CHECK(config.manager.per_plugin.empty());
  CHECK(config.manager.per_plugin.empty());
  CHECK(config.manager.runtime_parent.empty());
  CHECK(config.admin.tcp_address.empty());
  CHECK(config.admin.token.empty());
  // A UTF-8 byte order mark is allowed.
  CHECK(load_configuration(dir.write("\xEF\xBB\xBF{\"pluginDirs\": [\"PLUGINS\"]}"), {}).manager.plugin_dirs.size() ==
        1);
}

TEST_CASE("a plugin entry in the configuration starts from the defaults and overrides only the keys it gives",
          "[configuration]") {
  ConfigDir dir;
  auto file = dir.write(R"({
    "pluginDirs": ["PLUGINS"],
    "defaults": {"idleTimeout": "1m", "callTimeout": "9s", "env": {"A": "1", "B": "2"},
                 "restart": {"maxFailures": 7, "window": "2m"}, "limits": {"openFiles": 10}},
    "plugins": {
      "plugin-a": {"idleTimeout": "0", "env": {"B": "3", "C": "4"}, "restart": {"maxFailures": 1},
                   "limits": {"memoryBytes": 4096}},
      "plugin-b": {"priority": 5}
    }
  })");
  Configuration config = load_configuration(file, {});
  const auto& a = config.manager.per_plugin.at("plugin-a");
  CHECK(a.idle_timeout == 0ms);
  CHECK(a.call_timeout == 9s);
  CHECK(a.env == Environment{{"A", "1"}, {"B", "3"}, {"C", "4"}});
  CHECK(a.restart.max_failures == 1);
  CHECK(a.restart.window == 2min);
  CHECK(a.limits.open_files == 10);
  CHECK(a.limits.memory_bytes == 4096);
  CHECK(config.manager.per_plugin.at("plugin-a").enabled);
  CHECK(config.manager.per_plugin.at("plugin-a").priority == 0);
  const auto& b = config.manager.per_plugin.at("plugin-b");
  CHECK(b.idle_timeout == 1min);
  CHECK(b.env == Environment{{"A", "1"}, {"B", "2"}});
  CHECK(config.manager.per_plugin.at("plugin-b").priority == 5);
}

TEST_CASE("relative paths in a configuration file are resolved against the file's directory", "[configuration]") {
  ConfigDir dir;
  fs::create_directory(dir.root() / "etc");
  auto file = dir.write(R"({"pluginDirs": ["../plugins/"], "runtimeDir": "..", "admin": {"socket": "admin.sock"}})",
                        "etc/plugvisor.jsonc");
  Configuration config = load_configuration(file, {});
  CHECK(config.manager.plugin_dirs == std::vector<fs::path>{dir.plugins()});
  CHECK(config.manager.runtime_parent == dir.root());
  CHECK(config.admin.socket == dir.root() / "etc" / "admin.sock");
}

TEST_CASE("comment markers inside strings of a configuration file are kept", "[configuration][jsonc]") {
  ConfigDir dir;
  auto file = dir.write(R"({
    "pluginDirs": ["PLUGINS"], // a comment "with quotes"
    "defaults": {"env": {"URL": "http://x/*y*/", "Q": "say \"//\" twice"}}, /* "a" // b */
    "configTypes": {"t": "/* not a comment */"}
  })");
  Configuration config = load_configuration(file, {});
  CHECK(config.manager.defaults.env.at("URL") == "http://x/*y*/");
  CHECK(config.manager.defaults.env.at("Q") == "say \"//\" twice");
  CHECK(config.manager.config_types.at("t") == "/* not a comment */");
  CHECK(plugvisor::detail::strip_comments("[1, // x\n/* y\n z */ 2]") == "[1,     \n    \n      2]");
}

TEST_CASE("malformed JSON in a configuration file is reported with its line and column", "[configuration][errors]") {
  ConfigDir dir;
  SECTION("a missing comma") {
    auto file = dir.write("{\n  \"pluginDirs\": [\"PLUGINS\"]\n  \"defaults\": {}\n}\n");
    // At the start of the token that should have been a comma.
    CHECK_THAT(load_error(file), StartsWith(at(file, 3, 3)) && Contains("invalid JSON") && Contains("expected '}'"));
  }
  SECTION("a trailing comma after a comment") {
    auto file = dir.write("{\n  \"pluginDirs\": [\"PLUGINS\"], // dirs\n  /* nothing */\n}\n");
    CHECK_THAT(load_error(file), StartsWith(at(file, 4, 1)) && Contains("invalid JSON"));
  }
  SECTION("an unterminated block comment") {
    auto file = dir.write("{\n  \"pluginDirs\": [\"x\"] /* open\n}\n");
    CHECK_THAT(load_error(file), StartsWith(at(file, 2, 23)) && Contains("unterminated /* comment"));
  }
  SECTION("a key given twice") {
    auto file = dir.write("{\n  \"pluginDirs\": [\"PLUGINS\"],\n  \"pluginDirs\": []\n}\n");
    CHECK_THAT(load_error(file), StartsWith(at(file, 3, 3)) && Contains("duplicate key \"pluginDirs\""));
  }
  SECTION("columns count characters, not bytes") {
    auto file = dir.write("{\"configTypes\": {\"t\": \"\xc3\xa9\xc3\xa9\"} \"x\": 1}");
    CHECK_THAT(load_error(file), StartsWith(at(file, 1, 29)));
  }
  SECTION("an empty file") {
    auto file = dir.write("");
    CHECK_THAT(load_error(file), StartsWith(at(file, 1, 1)) && Contains("invalid JSON"));
  }
  SECTION("a number out of range (nlohmann's out_of_range, not parse_error)") {
    auto file = dir.write("{\n  \"pluginDirs\": [\"PLUGINS\"],\n  \"configTypes\": {\"a.b\": 1e999999}\n}\n");
    // At the start of the number.
    CHECK_THAT(load_error(file), StartsWith(at(file, 3, 26)) && Contains("invalid JSON") && Contains("1e999999"));
  }
}

TEST_CASE("a configuration file nested one level deeper than the JSON limit is refused naming the file and the limit",
          "[configuration][errors][hostile]") {
  ConfigDir dir;
  // configTypes' data is any JSON: `levels` arrays inside the top object and configTypes' (2 levels).
  auto nested = [&](std::size_t levels) {
    return dir.write("{\n  \"pluginDirs\": [\"PLUGINS\"],\n  \"configTypes\": {\"a.b\": " +
                     std::string(levels, '[') + std::string(levels, ']') + "}\n}\n");
  };
  const std::size_t limit = plugvisor::protocol::max_json_depth;
  auto file = nested(limit - 2);  // exactly at the limit: it loads
  CHECK(load_configuration(file).manager.config_types.at("a.b").is_array());
  // One deeper: refused at its innermost `[` (line 3; the first `[` is column 26).
  const int column = static_cast<int>(26 + limit - 2);
  file = nested(limit - 1);
  CHECK_THAT(load_error(file),
             StartsWith(at(file, 3, column)) && Contains("nested deeper than " + std::to_string(limit) + " levels"));
  file = nested(200'000);  // far deeper: refused the same way, no stack overflow
  CHECK_THAT(load_error(file), StartsWith(at(file, 3, column)));
}

TEST_CASE("an unknown configuration key is an error naming the key and the allowed keys", "[configuration][errors]") {
  ConfigDir dir;
  SECTION("at the top level") {
    auto file = dir.write("{\n  \"pluginDirs\": [\"PLUGINS\"],\n  \"pluginDir\": \"x\"\n}\n");
    CHECK_THAT(load_error(file),
               StartsWith(at(file, 3, 3)) && Contains("unknown key \"pluginDir\" in the configuration") &&
                   Contains("did you mean \"pluginDirs\"?") &&
                   Contains("allowed: pluginDirs, runtimeDir, trustedKeys, signatures, defaults, plugins, configTypes, admin"));
  }
  SECTION("in defaults") {
    auto file = dir.write("{\n  \"pluginDirs\": [\"PLUGINS\"],\n  \"defaults\": {\"idleTimout\": \"5m\"}\n}\n");
    CHECK_THAT(load_error(file), StartsWith(at(file, 3, 16)) && Contains("unknown key \"idleTimout\" in defaults") &&
                                     Contains("did you mean \"idleTimeout\"?") && Contains("logLinesPerSecond"));
  }
  SECTION("a plugin-only key in defaults") {
    auto file = dir.write("{\"pluginDirs\": [\"PLUGINS\"],\n\"defaults\": {\"priority\": 1}}");
    CHECK_THAT(load_error(file), StartsWith(at(file, 2, 14)) &&
                                     Contains("\"priority\" is allowed in a plugin entry under \"plugins\" only"));
  }
  SECTION("in a plugin entry") {
    auto file = dir.write(
        "{\n  \"pluginDirs\": [\"PLUGINS\"],\n  \"plugins\": {\n    \"plugin-a\": {\"enable\": false}\n  }\n}\n");
    CHECK_THAT(load_error(file), StartsWith(at(file, 4, 18)) &&
                                     Contains("unknown key \"enable\" in plugin entry plugins.plugin-a") &&
                                     Contains("did you mean \"enabled\"?") && Contains("priority"));
  }
  SECTION("with escapes, slashes and tildes in the key") {
    auto file = dir.write("{\"pluginDirs\": [\"PLUGINS\"],\n\"defaults\": {\"\\\"x\\\\\": 1, \"a/b~c\": 2}}");
    CHECK_THAT(load_error(file), StartsWith(at(file, 2, 14)) && Contains(R"(unknown key "\"x\\")"));
    file = dir.write("{\"pluginDirs\": [\"PLUGINS\"],\n\"defaults\": {\"env\": {}, \"a/b~c\": 2}}");
    CHECK_THAT(load_error(file), StartsWith(at(file, 2, 25)) && Contains(R"(unknown key "a/b~c")"));
  }
  SECTION("in restart, limits and admin") {
    auto file = dir.write("{\"pluginDirs\": [\"PLUGINS\"], \"defaults\": {\"restart\": {\"retries\": 3}}}");
    CHECK_THAT(load_error(file), Contains("unknown key \"retries\" in defaults.restart") &&
                                     Contains("allowed: initialBackoff, maxBackoff, maxFailures, window, coolDown"));
    file = dir.write("{\"pluginDirs\": [\"PLUGINS\"], \"defaults\": {\"limits\": {\"memory\": 3}}}");
    CHECK_THAT(load_error(file), Contains("unknown key \"memory\" in defaults.limits"));
    file = dir.write("{\"pluginDirs\": [\"PLUGINS\"],\n\"admin\": {\"port\": 3}}");
    CHECK_THAT(load_error(file), StartsWith(at(file, 2, 11)) && Contains("unknown key \"port\" in admin"));
  }
}

TEST_CASE("a bad duration in the configuration is reported at its value with the accepted forms",
          "[configuration][errors]") {
  ConfigDir dir;
  auto file =
      dir.write("{\n  \"pluginDirs\": [\"PLUGINS\"],\n  \"defaults\": {\n    \"idleTimeout\": \"5 minutes\"\n  }\n}\n");
  CHECK_THAT(load_error(file), StartsWith(at(file, 4, 20)) && Contains("defaults.idleTimeout") &&
                                   Contains("invalid duration '5 minutes'") && Contains("250ms, 10s, 5m, 1h"));
  file = dir.write("{\"pluginDirs\": [\"PLUGINS\"], \"plugins\": {\"plugin-a\": {\"callTimeout\": \"0\"}}}");
  CHECK_THAT(load_error(file), Contains("plugins.plugin-a.callTimeout must be more than 0"));
  file = dir.write("{\"pluginDirs\": [\"PLUGINS\"], \"defaults\": {\"limits\": {\"cpuTime\": \"1500ms\"}}}");
  CHECK_THAT(load_error(file), Contains("defaults.limits.cpuTime must be whole seconds"));
  file = dir.write("{\"pluginDirs\": [\"PLUGINS\"], \"defaults\": {\"restart\": {\"maxBackoff\": \"10ms\"}}}");
  CHECK_THAT(load_error(file), Contains("maxBackoff (10ms) is shorter than initialBackoff (100ms)"));
}

TEST_CASE("a configuration value of the wrong type is reported with what was expected", "[configuration][errors]") {
  ConfigDir dir;
  auto check = [&](const std::string& fragment, const std::string& expected) {
    auto file = dir.write("{\"pluginDirs\": [\"PLUGINS\"],\n " + fragment + "}");
    INFO(fragment);
    CHECK_THAT(load_error(file), StartsWith(file.string() + ":2:") && Contains(expected));
  };
  check(R"("defaults": {"callTimeout": 30})",
        "defaults.callTimeout must be a duration string such as \"30s\", not the number 30");
  check(R"("defaults": {"maxBodyBytes": "64MB"})",
        "defaults.maxBodyBytes must be a whole number, not the string \"64MB\"");
  check(R"("defaults": {"maxBodyBytes": 1.5})", "must be a whole number, not the number 1.5");
  check(R"("defaults": {"transport": "http"})", "defaults.transport must be \"auto\", \"unix\" or \"tcp\", not \"http\"");
  check(R"("defaults": {"start": "now"})", "defaults.start must be \"lazy\" or \"eager\"");
  check(R"("defaults": {"required": "yes"})", "defaults.required must be true or false");
  check(R"("defaults": {"env": {"A": 1}})", "defaults.env.A must be a string, not the number 1");
  check(R"("defaults": {"env": {"A=B": "1"}})", "invalid environment variable name \"A=B\"");
  check(R"("defaults": [])", "defaults must be an object, not an array");
  check(R"("plugins": {"plugin-a": {"priority": true}})", "plugins.plugin-a.priority must be a whole number, not true");
  check(R"("plugins": {"plugin-a": {"enabled": 0}})",
        "plugins.plugin-a.enabled must be true or false, not the number 0");
  check(R"("plugins": [])", "plugins must be an object of plugin entries by plugin id, not an array");
  check(R"("plugins": {"../evil": {}})", "invalid plugin id \"../evil\"");
  check(R"("configTypes": {"bad name": 1})", "invalid config-type name \"bad name\"");
  check(R"("admin": {"token": 42})", "admin.token must be a string, not the number 42");

  auto file = dir.write("{\"pluginDirs\": \"PLUGINS\"}");
  CHECK_THAT(load_error(file), StartsWith(at(file, 1, 16)) && Contains("pluginDirs must be an array of paths"));
  file = dir.write("[1]");
  CHECK_THAT(load_error(file),
             StartsWith(at(file, 1, 1)) && Contains("the configuration must be an object, not an array"));
}

TEST_CASE("negative and out-of-range numbers in the configuration are refused", "[configuration][errors]") {
  ConfigDir dir;
  auto file = dir.write("{\"pluginDirs\": [\"PLUGINS\"],\n\"defaults\": {\"limits\": {\"memoryBytes\": -1}}}");
  CHECK_THAT(load_error(file),
             StartsWith(at(file, 2, 40)) && Contains("defaults.limits.memoryBytes must not be negative, not -1"));
  file = dir.write("{\"pluginDirs\": [\"PLUGINS\"], \"defaults\": {\"restart\": {\"maxFailures\": 0}}}");
  CHECK_THAT(load_error(file), Contains("defaults.restart.maxFailures must be at least 1, not 0"));
  file = dir.write("{\"pluginDirs\": [\"PLUGINS\"], \"plugins\": {\"plugin-a\": {\"priority\": 4294967296}}}");
  CHECK_THAT(load_error(file), Contains("priority must be at most 2147483647"));
  file = dir.write("{\"pluginDirs\": [\"PLUGINS\"], \"defaults\": {\"logLinesPerSecond\": -5}}");
  CHECK_THAT(load_error(file), Contains("defaults.logLinesPerSecond must not be negative"));
}

TEST_CASE("a missing plugin directory in the configuration is reported at its entry", "[configuration][errors]") {
  ConfigDir dir;
  auto file = dir.write("{\n  \"pluginDirs\": [\n    \"PLUGINS\",\n    \"nowhere\"\n  ]\n}\n");
  CHECK_THAT(load_error(file),
             StartsWith(at(file, 4, 5)) && Contains("plugin directory " + (dir.root() / "nowhere").string() +
                                                    " does not exist or is not a directory"));
  file = dir.write("{\"pluginDirs\": []}");
  CHECK_THAT(load_error(file), StartsWith(at(file, 1, 16)) && Contains("pluginDirs is empty"));
  file = dir.write("{}");
  CHECK_THAT(load_error(file), StartsWith(at(file, 1, 1)) && Contains("no plugin directories"));
  file = dir.write("{\"pluginDirs\": [\"PLUGINS\", \"PLUGINS/\"]}");
  CHECK_THAT(load_error(file), Contains("is listed twice"));
  file = dir.write("{\"pluginDirs\": [\"PLUGINS\"],\n\"runtimeDir\": \"/nonexistent/run\"}");
  CHECK_THAT(load_error(file), StartsWith(at(file, 2, 15)) && Contains("runtimeDir /nonexistent/run does not exist"));
}

TEST_CASE("a plugin named in the configuration must be in a plugin directory", "[configuration][errors]") {
  ConfigDir dir;
  auto file = dir.write(
      "{\n  \"pluginDirs\": [\"PLUGINS\"],\n  \"plugins\": {\n    \"plugin-a\": {},\n    \"plugin-c\": {}\n  }\n}\n");
  CHECK_THAT(load_error(file), StartsWith(at(file, 5, 5)) &&
                                   Contains("plugin \"plugin-c\" is not in any plugin directory") &&
                                   Contains(dir.plugins().string()) && Contains("did you mean \"plugin-a\"?") &&
                                   Contains("A plugin's id is its file name."));
  fs::create_directory(dir.plugins() / "plugin-c");
  CHECK_THAT(load_error(file), Contains("plugin \"plugin-c\" is not in any plugin directory"));
}

TEST_CASE("the configuration's admin TCP endpoint must be on loopback and have a token", "[configuration][admin]") {
  ConfigDir dir;
  auto with_admin = [&](const std::string& admin) {
    return dir.write("{\"pluginDirs\": [\"PLUGINS\"],\n \"admin\": " + admin + "}");
  };
  for (const char* address : {"127.0.0.1:7070", "127.1.2.3:1", "[::1]:65535", "localhost:7070", "127.0.0.1:0"}) {
    INFO(address);
    auto config = load_configuration(with_admin(std::string("{\"tcp\": \"") + address + "\", \"token\": \"t\"}"), {});
    CHECK(config.admin.tcp_address == address);
  }
  auto file = with_admin(R"({"tcp": "0.0.0.0:7070", "token": "t"})");
  CHECK_THAT(load_error(file), StartsWith(at(file, 2, 19)) && Contains("is not a loopback address"));
  // Names other than localhost are not looked up (wire::parse_host_port, one rule for every HOST:PORT).
  CHECK_THAT(load_error(with_admin(R"({"tcp": "example.com:80", "token": "t"})")), Contains("not an IP address"));
  CHECK_THAT(load_error(with_admin(R"({"tcp": "::1:80", "token": "t"})")), Contains("without brackets"));
  for (const char* address : {"10.0.0.1:80", "[::]:80", "[fe80::1]:80"}) {
    INFO(address);
    CHECK_THAT(load_error(with_admin(std::string("{\"tcp\": \"") + address + "\", \"token\": \"t\"}")),
               Contains("is not a loopback address"));
  }
  CHECK_THAT(load_error(with_admin(R"({"tcp": "127.0.0.1", "token": "t"})")), Contains("is not HOST:PORT"));
  CHECK_THAT(load_error(with_admin(R"({"tcp": "127.0.0.1:+80", "token": "t"})")), Contains("invalid port"));
  CHECK_THAT(load_error(with_admin(R"({"tcp": "127.0.0.1:", "token": "t"})")), Contains("invalid port"));
  CHECK_THAT(load_error(with_admin(R"({"tcp": "127.0.0.1:99999", "token": "t"})")), Contains("invalid port"));
  file = with_admin(R"({"tcp": "127.0.0.1:7070"})");
  CHECK_THAT(load_error(file), StartsWith(at(file, 2, 12)) && Contains("needs a token"));
  // The token may come from the environment instead.
  auto config = load_configuration(file, {{"PLUGVISOR_ADMIN_TOKEN", "from-env"}});
  CHECK(config.admin.token == "from-env");
  CHECK_THAT(load_error(with_admin(R"({"tcp": "127.0.0.1:7070", "token": "two words"})")),
             Contains("admin.token must be printable"));
  // An empty "tcp" is no TCP endpoint.
  CHECK(load_configuration(with_admin(R"({"tcp": ""})"), {}).admin.tcp_address.empty());
}

TEST_CASE("the configuration's admin socket defaults to XDG_RUNTIME_DIR else a per-user private directory in /tmp",
          "[configuration][admin]") {
  ConfigDir dir;
  auto file = dir.write(R"({"pluginDirs": ["PLUGINS"]})");
  CHECK(load_configuration(file, {{"XDG_RUNTIME_DIR", "/run/user/1000"}}).admin.socket ==
        "/run/user/1000/plugvisor.sock");
  // A directory of the user's, not a file anyone could create first in /tmp.
  const std::string private_socket = "/tmp/plugvisor-" + std::to_string(::getuid()) + "/plugvisor.sock";
  CHECK(load_configuration(file, {}).admin.socket == private_socket);
  CHECK(load_configuration(file, {{"XDG_RUNTIME_DIR", "relative"}}).admin.socket == private_socket);
}

TEST_CASE("environment variables override the configuration file", "[configuration][environment]") {
  ConfigDir dir;
  fs::create_directory(dir.root() / "other");
  std::ofstream(dir.root() / "other" / "plugin-c") << "";
  auto file = dir.write(R"({
    "pluginDirs": ["PLUGINS"],
    "defaults": {"idleTimeout": "1m", "startTimeout": "1s", "callTimeout": "1s"},
    "plugins": {"plugin-c": {}, "plugin-x": {"callTimeout": "7s"}},
    "admin": {"socket": "/run/a.sock", "tcp": "127.0.0.1:1", "token": "file"}
  })");
  std::ofstream(dir.plugins() / "plugin-x") << "";
  Environment environment{
      {"PLUGVISOR_PLUGIN_DIRS", dir.plugins().string() + ":" + (dir.root() / "other").string()},
      {"PLUGVISOR_RUNTIME_DIR", dir.root().string()},
      {"PLUGVISOR_IDLE_TIMEOUT", "2h"},
      {"PLUGVISOR_START_TIMEOUT", "20s"},
      {"PLUGVISOR_CALL_TIMEOUT", "3m"},
      {"PLUGVISOR_ADMIN_SOCKET", "/run/b.sock"},
      {"PLUGVISOR_ADMIN_TCP", "[::1]:9"},
      {"PLUGVISOR_ADMIN_TOKEN", "env"},
      {"PLUGVISOR_UNRELATED", "ignored"},
  };
  Configuration config = load_configuration(file, environment);
  CHECK(config.manager.plugin_dirs == std::vector<fs::path>{dir.plugins(), dir.root() / "other"});
  CHECK(config.manager.runtime_parent == dir.root());
  CHECK(config.manager.defaults.idle_timeout == 2h);
  CHECK(config.manager.defaults.start_timeout == 20s);
  CHECK(config.manager.defaults.call_timeout == 3min);
  // A plugin entry inherits the overridden defaults; its own keys still win.
  CHECK(config.manager.per_plugin.at("plugin-c").call_timeout == 3min);
  CHECK(config.manager.per_plugin.at("plugin-x").call_timeout == 7s);
  CHECK(config.admin.socket == "/run/b.sock");
  CHECK(config.admin.tcp_address == "[::1]:9");
  CHECK(config.admin.token == "env");
  // An empty variable counts as unset.
  auto plain = dir.write(R"({"pluginDirs": ["PLUGINS"], "defaults": {"idleTimeout": "1m"}})", "plain.jsonc");
  Configuration unset = load_configuration(plain, {{"PLUGVISOR_PLUGIN_DIRS", ""}, {"PLUGVISOR_IDLE_TIMEOUT", ""}});
  CHECK(unset.manager.plugin_dirs == std::vector<fs::path>{dir.plugins()});
  CHECK(unset.manager.defaults.idle_timeout == 1min);
}

TEST_CASE("a bad environment value for the configuration is an error naming the variable",
          "[configuration][environment][errors]") {
  ConfigDir dir;
  auto file = dir.write(R"({"pluginDirs": ["PLUGINS"]})");
  auto check = [&](const std::string& name, const std::string& value, const std::string& reason) {
    INFO(name << "=" << value);
    CHECK_THAT(load_error(file, {{name, value}}),
               StartsWith("environment variable " + name + ": ") && Contains(reason));
  };
  check("PLUGVISOR_IDLE_TIMEOUT", "5x", "invalid duration '5x'");
  check("PLUGVISOR_START_TIMEOUT", "0", "must be more than 0");
  check("PLUGVISOR_CALL_TIMEOUT", "-1s", "invalid duration");
  check("PLUGVISOR_PLUGIN_DIRS", "/nonexistent/dir", "/nonexistent/dir does not exist or is not a directory");
  check("PLUGVISOR_PLUGIN_DIRS", dir.plugins().string() + "::/x", "has an empty entry");
  check("PLUGVISOR_RUNTIME_DIR", "/nonexistent/run", "does not exist");
  check("PLUGVISOR_ADMIN_TCP", "0.0.0.0:1", "is not a loopback address");
  check("PLUGVISOR_ADMIN_TOKEN", "a b", "must be printable ASCII");
  check("PLUGVISOR_ADMIN_SOCKET", "/" + std::string(200, 's'), "longer than 107 bytes");
  CHECK_THAT(load_error(file, {{"PLUGVISOR_ADMIN_TCP", "127.0.0.1:1"}}),
             StartsWith("environment variable PLUGVISOR_ADMIN_TCP: ") && Contains("needs a token"));
}

TEST_CASE("the effective configuration reads back to itself", "[configuration]") {
  ConfigDir dir;
  auto file = dir.write(R"({
    "pluginDirs": ["PLUGINS"],
    "defaults": {"idleTimeout": "90s", "env": {"A": "1"}, "limits": {"cpuTime": "1h"}},
    "plugins": {"plugin-b": {"enabled": false, "priority": 2, "transport": "tcp"}},
    "configTypes": {"x": [1, {"y": null}]},
    "admin": {"tcp": "localhost:8080", "token": "t0k"}
  })");
  Json first = plugvisor::configuration_json(load_configuration(file, {}));
  CHECK(first["defaults"]["idleTimeout"] == "90s");
  CHECK(first["plugins"]["plugin-b"]["idleTimeout"] == "90s");
  CHECK(first["plugins"]["plugin-b"]["enabled"] == false);
  CHECK(first["admin"]["token"] == "t0k");
  auto copy = dir.write(first.dump(2), "copy.json");
  CHECK(plugvisor::configuration_json(load_configuration(copy, {})) == first);
}

TEST_CASE("a configuration file that cannot be read is an error naming it", "[configuration][errors]") {
  ConfigDir dir;
  CHECK_THAT(load_error(dir.root() / "missing.jsonc"), Contains("missing.jsonc: no such file"));
  CHECK_THAT(load_error(dir.plugins()), Contains("is a directory"));
}

TEST_CASE("a grant, its enforcement and a pin in the configuration are read, checked and read back",
          "[configuration][sandbox]") {
  ConfigDir dir;
  const std::string pin(64, 'a');
  auto file = dir.write(R"({
    "pluginDirs": ["PLUGINS"],
    "defaults": {"permissions": {"network": "none"}, "enforce": "required"},
    "plugins": {"plugin-a": {"sha256": ")" + pin + R"(",
                             "permissions": {"network": "outbound", "read": ["/srv/data/"], "write": ["/var/cache/a"],
                                             "memoryBytes": 1048576, "cpuTime": "1m", "processes": 8}},
                "plugin-b": {"permissions": null}}
  })");
  auto config = load_configuration(file, {});
  const auto& defaults = config.manager.defaults;
  REQUIRE(defaults.grant);
  CHECK(defaults.grant->network == plugvisor::NetworkAccess::none);
  CHECK(defaults.enforce == plugvisor::Enforcement::required);
  const auto& a = config.manager.per_plugin.at("plugin-a");
  CHECK(a.sha256 == pin);
  REQUIRE(a.grant);
  CHECK(a.grant->network == plugvisor::NetworkAccess::outbound);
  CHECK(a.grant->read == std::vector<fs::path>{"/srv/data"});
  CHECK(a.grant->write == std::vector<fs::path>{"/var/cache/a"});
  CHECK(a.grant->memory_bytes == 1048576);
  CHECK(a.grant->cpu_time == std::chrono::seconds(60));
  CHECK(a.grant->processes == 8);
  CHECK(a.enforce == plugvisor::Enforcement::required);  // from the defaults
  CHECK_FALSE(config.manager.per_plugin.at("plugin-b").grant);  // null: no sandbox

  Json first = plugvisor::configuration_json(config);
  CHECK(first["plugins"]["plugin-a"]["sha256"] == pin);
  CHECK(first["plugins"]["plugin-a"]["permissions"]["network"] == "outbound");
  CHECK(first["plugins"]["plugin-b"]["permissions"].is_null());
  auto copy = dir.write(first.dump(2), "copy.json");
  CHECK(plugvisor::configuration_json(load_configuration(copy, {})) == first);
}

TEST_CASE("a bad grant, enforcement or pin in the configuration is reported at its value", "[configuration][errors][sandbox]") {
  ConfigDir dir;
  auto check = [&](const std::string& fragment, const std::string& expected) {
    auto file = dir.write("{\"pluginDirs\": [\"PLUGINS\"],\n " + fragment + "}");
    INFO(fragment);
    CHECK_THAT(load_error(file), StartsWith(file.string() + ":2:") && Contains(expected));
  };
  check(R"("defaults": {"permissions": {"network": "all"}})",
        "defaults.permissions: \"network\" must be \"none\", \"loopback\" or \"outbound\", not \"all\"");
  check(R"("defaults": {"permissions": {"read": ["relative/dir"]}})", "is not absolute");
  check(R"("defaults": {"permissions": {"cpuTime": "1500ms"}})", "\"cpuTime\" must be whole seconds");
  check(R"("defaults": {"permissions": {"processes": -1}})", "\"processes\" must be a whole number of at least 0");
  check(R"("defaults": {"permissions": {"netwrok": "none"}})", "unknown key \"netwrok\"");
  check(R"("defaults": {"permissions": "none"})", "must be an object");
  check(R"("defaults": {"enforce": "strict"})", "defaults.enforce must be \"required\" or \"best-effort\", not \"strict\"");
  check(R"("plugins": {"plugin-a": {"sha256": "abc"}})", "plugins.plugin-a.sha256 must be 64 hex digits");
  check(R"("defaults": {"sha256": ")" + std::string(64, 'a') + R"("})",
        "\"sha256\" is allowed in a plugin entry under \"plugins\" only");
}
