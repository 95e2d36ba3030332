// The supervisor daemon's admin API (docs/admin-api.md), over its real Unix
// socket and loopback TCP, with real plugin processes behind it.
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>
#include <httplib.h>

#include "plugvisor/daemon.hpp"
#include "admin_clients.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using plugvisor::Daemon;
using plugvisor::DaemonOptions;
using plugvisor::ErrorCode;
using plugvisor::Json;
using plugvisor::test::error_of;
using plugvisor::test::TempDir;
using plugvisor::test::wait_for;

namespace {

using plugvisor::test::tcp_client;
using plugvisor::test::unix_client;

constexpr const char* token = "0123456789abcdef0123456789abcdef";

/// A plugin directory with the example and the fixture, and a configuration file beside it.
struct Setup : plugvisor::test::DaemonConfDir {
  TempDir plugins;

  Setup() {
    plugins.add_text_tools();
    plugins.add_fixture("fixture", "good");
    write(R"({"pluginDirs": ["PLUGINS"], "defaults": {"startTimeout": "5s", "stopGrace": "2s"},
              "admin": {"socket": "admin.sock", "tcp": "127.0.0.1:0", "token": "TOKEN"}})");
  }
  void write(std::string text) {
    for (auto at = text.find("PLUGINS"); at != std::string::npos; at = text.find("PLUGINS")) {
      text.replace(at, 7, plugins.path().string());
    }
    if (auto at = text.find("TOKEN"); at != std::string::npos) text.replace(at, 5, token);
    std::ofstream(file) << text;
  }
};

Json json_of(const httplib::Result& result) {
  REQUIRE(result);
  return Json::parse(result->body);
}

std::string error_code(const httplib::Result& result) {
  REQUIRE(result);
  Json doc = Json::parse(result->body, nullptr, false);
  return doc.is_object() && doc.contains("error") ? doc["error"].value("code", "") : "(no error body)";
}

Json plugin_named(httplib::Client& client, const std::string& id) {
  return json_of(client.Get(("/v1/plugins/" + id).c_str()));
}

}  // namespace

TEST_CASE("the daemon lists its plugins on a 0600 Unix socket, with health and the dashboard page",
          "[daemon][api]") {
  Setup setup;
  Daemon daemon(setup.options());
  struct stat st {};
  REQUIRE(::stat(setup.socket().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  auto client = unix_client(setup.socket());
  Json list = json_of(client->Get("/v1/plugins"));
  REQUIRE(list["plugins"].size() == 2);
  CHECK(list["plugins"][0]["id"] == "fixture");
  CHECK(list["plugins"][1]["id"] == "plugin-text-tools");
  CHECK(list["plugins"][1]["state"] == "registered");
  CHECK(list["plugins"][1]["pid"] == 0);
  CHECK(list["plugins"][1]["types"].size() == 4);
  CHECK(list["rejected"].empty());

  CHECK(json_of(client->Get("/healthz"))["status"] == "ok");
  auto page = client->Get("/");
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK(page->get_header_value("Content-Type").starts_with("text/html"));
  CHECK(page->body.find("<html") != std::string::npos);

  Json info = json_of(client->Get("/v1/daemon"));
  CHECK(info["pid"] == ::getpid());
  CHECK(info["config"] == setup.file.string());
  CHECK(info["tcp"] == daemon.admin_tcp());
}

TEST_CASE("over TCP every endpoint but the page and /healthz needs the bearer token", "[daemon][auth]") {
  Setup setup;
  Daemon daemon(setup.options());
  REQUIRE_THAT(daemon.admin_tcp(), Catch::StartsWith("127.0.0.1:"));
  auto client = tcp_client(daemon.admin_tcp());

  auto anonymous = client->Get("/v1/plugins");
  REQUIRE(anonymous);
  CHECK(anonymous->status == 401);
  CHECK(error_code(anonymous) == "unauthorized");
  CHECK(client->Post("/v1/plugins/fixture/restart", "{}", "application/json")->status == 401);
  CHECK(client->Get("/metrics")->status == 401);
  CHECK(plugvisor::test::child_pids().empty());  // the refused restart started nothing

  httplib::Headers wrong{{"Authorization", std::string("Bearer ") + std::string(32, 'x')}};
  CHECK(client->Get("/v1/plugins", wrong)->status == 401);
  CHECK(client->Get("/healthz")->status == 200);
  CHECK(client->Get("/")->status == 200);

  client->set_bearer_token_auth(token);
  CHECK(client->Get("/v1/plugins")->status == 200);
}

TEST_CASE("bad admin requests get the error body: unknown plugin 404, bad body 400, wrong method 405",
          "[daemon][api]") {
  Setup setup;
  Daemon daemon(setup.options());
  auto client = unix_client(setup.socket());

  auto unknown = client->Get("/v1/plugins/nope");
  CHECK(unknown->status == 404);
  CHECK(error_code(unknown) == "not_found");
  CHECK_THAT(unknown->body, Catch::Contains("nope"));
  CHECK(client->Post("/v1/plugins/nope/restart", "", "application/json")->status == 404);
  CHECK(client->Get("/v1/plugins/nope/logs")->status == 404);

  auto bad_action = client->Post("/v1/plugins/fixture/explode", "", "application/json");
  CHECK(bad_action->status == 404);
  CHECK_THAT(bad_action->body, Catch::Contains("start, stop, restart, enable or disable"));

  auto bad_body = client->Post("/v1/plugins/fixture/restart", "[1, 2", "application/json");
  CHECK(bad_body->status == 400);
  CHECK(error_code(bad_body) == "invalid_input");
  CHECK(client->Get("/v1/plugins/fixture/logs?after=soon")->status == 400);
  CHECK(client->Get("/v1/plugins/fixture/logs?limit=0")->status == 400);

  httplib::Headers deadline{{"X-Plugvisor-Deadline-Ms", "-5"}};
  auto bad_deadline = client->Post("/v1/call/dataProcessor/echo/processData", deadline, "x", "application/octet-stream");
  CHECK(bad_deadline->status == 400);
  CHECK_THAT(bad_deadline->body, Catch::Contains("X-Plugvisor-Deadline-Ms"));

  auto wrong_method = client->Get("/v1/reload");
  CHECK(wrong_method->status == 405);
  CHECK(wrong_method->get_header_value("Allow") == "POST");
  // One route table serves and answers 405: every route, the gate's included, names its method.
  for (const auto& [path, allowed] : std::vector<std::pair<std::string, std::string>>{
           {"/v1/call/dataProcessor/echo/processData", "POST"},
           {"/v1/plugins/fixture/restart", "POST"},
           {"/v1/registry", "GET"},
           {"/v1/plugins/fixture/logs/follow", "GET"},
           {"/metrics", "GET"},
           {"/healthz", "GET"}}) {
    INFO(path);
    auto answer = allowed == "GET" ? client->Delete(path.c_str()) : client->Get(path.c_str());
    CHECK(answer->status == 405);
    CHECK(answer->get_header_value("Allow") == allowed);
  }
  auto no_endpoint = client->Get("/v2/everything");
  CHECK(no_endpoint->status == 404);
  CHECK(error_code(no_endpoint) == "not_found");
  // None of it disturbed the daemon.
  CHECK(json_of(client->Get("/v1/plugins"))["plugins"].size() == 2);
}

TEST_CASE("the call broker calls the registry's provider and counts calls, errors and latency", "[daemon][call]") {
  Setup setup;
  Daemon daemon(setup.options());
  auto client = unix_client(setup.socket());

  auto upper = client->Post("/v1/call/dataProcessor/uppercase/processData", "hello", "application/octet-stream");
  REQUIRE(upper);
  CHECK(upper->status == 200);
  CHECK(upper->body == "HELLO");
  CHECK(upper->get_header_value("X-Plugvisor-Provider") == "plugin-text-tools");
  auto formats = client->Post("/v1/call/dataProcessor/uppercase/supportedFormats", "", "application/json");
  CHECK(formats->status == 200);
  CHECK(Json::parse(formats->body).is_array());

  auto failing = client->Post("/v1/call/dataProcessor/fail/processData", "x", "application/octet-stream");
  CHECK(failing->status == 500);
  CHECK(error_code(failing) == "internal");
  auto missing = client->Post("/v1/call/dataProcessor/nope/processData", "x", "application/octet-stream");
  CHECK(missing->status == 404);
  auto no_method = client->Post("/v1/call/dataProcessor/uppercase/explode", "x", "application/octet-stream");
  CHECK(no_method->status == 404);
  // Refused from the contract's description, before it reaches the plugin.
  CHECK_THAT(no_method->body, Catch::Contains("has no method 'explode'") && Catch::Contains("processData"));

  Json tools = plugin_named(*client, "plugin-text-tools");
  CHECK(tools["state"] == "ready");
  CHECK(tools["pid"].get<int>() > 0);
  CHECK(tools["calls"] == 2);  // processData, supportedFormats (the unknown method never left the daemon)
  CHECK(tools["errors"] == 0);
  CHECK(tools["latencyMs"]["p50"].is_number());
  CHECK(tools["latencyMs"]["p99"].get<double>() >= tools["latencyMs"]["p50"].get<double>());
  CHECK(tools["types"][0]["type"] == "uppercase");
  CHECK(tools["types"][0]["jsonSchema"].is_null());
  CHECK(tools["types"][1]["type"] == "prefix");
  CHECK(tools["types"][1]["jsonSchema"]["properties"].contains("prefix"));
  CHECK(tools["settings"]["startTimeout"] == "5s");
  Json fixture = plugin_named(*client, "fixture");
  CHECK(fixture["errors"] == 1);
}

TEST_CASE("timeouts of 2^40 s saturate to 'never': calls succeed and plugins stay up", "[daemon][call][deadline]") {
  // protocol.md 5.3: 2^40 s is a valid duration, past steady_clock's ~292 years.
  Setup setup;
  setup.write(R"({"pluginDirs": ["PLUGINS"],
                  "defaults": {"startTimeout": "1099511627776s", "callTimeout": "1099511627776s",
                               "idleTimeout": "1099511627776s", "stopGrace": "2s"},
                  "admin": {"socket": "admin.sock"}})");
  Daemon daemon(setup.options());
  auto client = unix_client(setup.socket());
  auto upper = client->Post("/v1/call/dataProcessor/uppercase/processData", "hello", "application/octet-stream");
  REQUIRE(upper);
  CHECK(upper->status == 200);
  CHECK(upper->body == "HELLO");
  auto echo = client->Post("/v1/call/dataProcessor/echo/processData", "x", "application/octet-stream");
  REQUIRE(echo);
  CHECK(echo->status == 200);
  // The admin API's own bound on the header still holds, through the shared parser.
  httplib::Headers huge{{"X-Plugvisor-Deadline-Ms", "9223372036854775807"}};
  auto refused = client->Post("/v1/call/dataProcessor/echo/processData", huge, "x", "application/octet-stream");
  CHECK(refused->status == 400);
  CHECK_THAT(refused->body, Catch::Contains("86400000"));
}

TEST_CASE("restart, stop, start, disable and enable act on one plugin and leave the others alone",
          "[daemon][actions]") {
  Setup setup;
  Daemon daemon(setup.options());
  auto client = unix_client(setup.socket());
  REQUIRE(client->Post("/v1/call/dataProcessor/echo/processData", "x", "application/octet-stream")->status == 200);
  REQUIRE(client->Post("/v1/call/dataProcessor/uppercase/processData", "x", "application/octet-stream")->status ==
          200);
  int tools_pid = plugin_named(*client, "plugin-text-tools")["pid"];
  int pid = plugin_named(*client, "fixture")["pid"];

  Json restarted = json_of(client->Post("/v1/plugins/fixture/restart", "{}", "application/json"));
  CHECK(restarted["state"] == "ready");
  CHECK(restarted["pid"] != pid);
  CHECK(restarted["starts"] == 2);

  Json stopped = json_of(client->Post("/v1/plugins/fixture/stop", "", "application/json"));
  CHECK(stopped["state"] == "stopped");
  CHECK(stopped["pid"] == 0);
  CHECK_THAT(stopped["lastExit"].get<std::string>(), Catch::StartsWith("asked"));
  CHECK(json_of(client->Post("/v1/plugins/fixture/start", "", "application/json"))["state"] == "ready");

  Json disabled = json_of(client->Post("/v1/plugins/fixture/disable", "", "application/json"));
  CHECK(disabled["state"] == "disabled");
  CHECK(disabled["enabled"] == false);
  auto refused = client->Post("/v1/call/dataProcessor/echo/processData", "x", "application/octet-stream");
  CHECK(refused->status == 503);
  CHECK_THAT(refused->body, Catch::Contains("disabled"));
  CHECK(json_of(client->Post("/v1/plugins/fixture/enable", "", "application/json"))["enabled"] == true);
  CHECK(client->Post("/v1/call/dataProcessor/echo/processData", "y", "application/octet-stream")->body == "y");

  CHECK(plugin_named(*client, "plugin-text-tools")["pid"] == tools_pid);
}

TEST_CASE("a plugin's log keeps its output and state changes, and the follow stream goes on across a restart",
          "[daemon][logs]") {
  Setup setup;
  Daemon daemon(setup.options());
  auto client = unix_client(setup.socket());
  REQUIRE(client->Post("/v1/call/dataProcessor/echo/processData", "x", "application/octet-stream")->status == 200);

  Json logs = json_of(client->Get("/v1/plugins/fixture/logs"));
  REQUIRE(!logs["lines"].empty());
  CHECK(logs["lines"][0]["stream"] == "event");
  CHECK_THAT(logs.dump(), Catch::Contains("state registered -> starting") && Catch::Contains("-> ready (pid"));
  std::uint64_t next = logs["next"];
  CHECK(next == logs["lines"].back()["seq"].get<std::uint64_t>());
  CHECK(json_of(client->Get(("/v1/plugins/fixture/logs?after=" + std::to_string(next)).c_str()))["lines"].empty());

  // Follow, in another thread, while the plugin restarts.
  std::mutex mutex;
  std::string streamed;
  std::atomic<bool> done{false};
  std::thread follower([&] {
    auto follow = unix_client(setup.socket());
    // From `next` on: the lines the restart makes arrive whenever the stream starts.
    follow->Get(("/v1/plugins/fixture/logs/follow?after=" + std::to_string(next)).c_str(),
                [&](const char* data, std::size_t size) {
      std::lock_guard lock(mutex);
      streamed.append(data, size);
      return !done.load();
    });
  });
  int old_pid = plugin_named(*client, "fixture")["pid"];
  REQUIRE(client->Post("/v1/plugins/fixture/restart", "", "application/json")->status == 200);
  int new_pid = plugin_named(*client, "fixture")["pid"];
  const std::string ready_again = "-> ready (pid " + std::to_string(new_pid) + ")";
  bool seen = wait_for([&] {
    std::lock_guard lock(mutex);
    return streamed.find(ready_again) != std::string::npos;
  }, 10s);
  done = true;
  // One more line ends the follower's read loop.
  client->Post("/v1/plugins/fixture/stop", "", "application/json");
  follower.join();
  CHECK(seen);
  CHECK(new_pid != old_pid);
  std::lock_guard lock(mutex);
  CHECK_THAT(streamed, Catch::Contains("\"stream\":\"event\"") && Catch::Contains("-> stopping"));
  // Every streamed line is one JSON object.
  std::istringstream lines(streamed);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) CHECK(Json::parse(line, nullptr, false).is_object());
  }
}

TEST_CASE("/metrics is Prometheus text with states, counters and latency histograms", "[daemon][metrics]") {
  Setup setup;
  Daemon daemon(setup.options());
  auto client = unix_client(setup.socket());
  for (int i = 0; i < 3; ++i) {
    client->Post("/v1/call/dataProcessor/uppercase/processData", "abc", "application/octet-stream");
  }
  client->Post("/v1/call/dataProcessor/fail/processData", "x", "application/octet-stream");
  auto metrics = client->Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->get_header_value("Content-Type").starts_with("text/plain; version=0.0.4"));

  // The text format, line by line: comments, or NAME{LABELS} VALUE.
  const std::regex sample(R"re(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? [-+0-9.eEInfa]+$)re");
  const std::regex comment(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*$)");
  std::istringstream text(metrics->body);
  int samples = 0;
  for (std::string line; std::getline(text, line);) {
    INFO(line);
    CHECK((std::regex_match(line, sample) || std::regex_match(line, comment)));
    samples += line.starts_with("#") ? 0 : 1;
  }
  CHECK(samples > 30);
  const std::string& body = metrics->body;
  CHECK_THAT(body, Catch::Contains(R"(plugvisor_plugin_state{plugin="plugin-text-tools",state="ready"} 1)"));
  CHECK_THAT(body, Catch::Contains(R"(plugvisor_plugin_state{plugin="fixture",state="registered"} 0)"));
  CHECK_THAT(body, Catch::Contains(
                       R"(plugvisor_calls_total{plugin="plugin-text-tools",contract="dataProcessor",type="uppercase"} 3)"));
  CHECK_THAT(body, Catch::Contains(
                       R"(plugvisor_call_errors_total{plugin="fixture",contract="dataProcessor",type="fail",code="internal"} 1)"));
  CHECK_THAT(body, Catch::Contains(R"(plugvisor_call_duration_seconds_bucket{plugin="plugin-text-tools",contract="dataProcessor",type="uppercase",le="+Inf"} 3)"));
  CHECK_THAT(body, Catch::Contains(R"(plugvisor_plugin_starts_total{plugin="plugin-text-tools"} 1)"));
}

TEST_CASE("a reload applies added, removed and changed plugins, a broken file changes nothing", "[daemon][reload]") {
  Setup setup;
  Daemon daemon(setup.options());
  auto client = unix_client(setup.socket());
  REQUIRE(client->Post("/v1/call/dataProcessor/uppercase/processData", "a", "application/octet-stream")->status ==
          200);
  REQUIRE(client->Post("/v1/call/dataProcessor/echo/processData", "a", "application/octet-stream")->status == 200);
  int tools_pid = plugin_named(*client, "plugin-text-tools")["pid"];
  int fixture_pid = plugin_named(*client, "fixture")["pid"];

  SECTION("a broken file is refused with its line; the running configuration stays") {
    setup.write("{\n  \"pluginDirs\": [\"PLUGINS\"],\n  \"defualts\": {}\n}\n");
    auto refused = client->Post("/v1/reload", "", "application/json");
    CHECK(refused->status == 400);
    CHECK(error_code(refused) == "config");
    CHECK_THAT(refused->body, Catch::Contains("plugvisor.jsonc:3:") && Catch::Contains("did you mean"));
    CHECK(plugin_named(*client, "plugin-text-tools")["pid"] == tools_pid);
    CHECK(client->Post("/v1/call/dataProcessor/uppercase/processData", "b", "application/octet-stream")->body == "B");
    CHECK_THAT(json_of(client->Get("/v1/daemon"))["lastReloadError"].get<std::string>(), Catch::Contains("defualts"));
    CHECK_THAT(client->Get("/metrics")->body, Catch::Contains(R"(plugvisor_reloads_total{result="error"} 1)"));
  }
  SECTION("a number out of range is refused like any broken file, shown and counted") {
    setup.write("{\"pluginDirs\": [\"PLUGINS\"],\n \"configTypes\": {\"a.b\": 1e999999}}\n");
    auto refused = client->Post("/v1/reload", "", "application/json");
    CHECK(refused->status == 400);
    CHECK(error_code(refused) == "config");
    CHECK_THAT(refused->body, Catch::Contains("plugvisor.jsonc:2:25:") && Catch::Contains("1e999999"));
    // What SIGHUP runs: an Error(config), which serve logs and survives.
    try {
      daemon.reload();
      FAIL("the reload was accepted");
    } catch (const plugvisor::Error& e) {
      CHECK(e.code() == plugvisor::ErrorCode::config);
      CHECK_THAT(e.what(), Catch::Contains("plugvisor.jsonc:2:25:"));
    }
    CHECK(plugin_named(*client, "plugin-text-tools")["pid"] == tools_pid);
    CHECK(client->Post("/v1/call/dataProcessor/uppercase/processData", "b", "application/octet-stream")->body == "B");
    CHECK_THAT(json_of(client->Get("/v1/daemon"))["lastReloadError"].get<std::string>(),
               Catch::Contains("plugvisor.jsonc:2:25:"));
    CHECK_THAT(client->Get("/metrics")->body, Catch::Contains(R"(plugvisor_reloads_total{result="error"} 2)"));
  }
  SECTION("added, removed, changed and unchanged plugins") {
    setup.plugins.add_fixture("second", "good");
    std::filesystem::remove(setup.plugins.path() / "fixture");
    setup.write(R"({"pluginDirs": ["PLUGINS"], "defaults": {"startTimeout": "5s", "stopGrace": "2s"},
                    "plugins": {"plugin-text-tools": {"priority": 3, "idleTimeout": "7m"}},
                    "admin": {"socket": "admin.sock", "tcp": "127.0.0.1:0", "token": "TOKEN"}})");
    Json result = json_of(client->Post("/v1/reload", "", "application/json"));
    CHECK(result["added"] == Json::array({"second"}));
    CHECK(result["removed"] == Json::array({"fixture"}));
    CHECK(result["changed"] == Json::array({"plugin-text-tools"}));
    CHECK(result["unchanged"].empty());
    CHECK(result["needsRestart"].empty());
    CHECK(::kill(fixture_pid, 0) != 0);  // the removed plugin was stopped
    Json tools = plugin_named(*client, "plugin-text-tools");
    CHECK(tools["settings"]["idleTimeout"] == "7m");
    CHECK(tools["priority"] == 3);
    CHECK(tools["calls"] == 1);  // statistics carry over the change
    CHECK(client->Post("/v1/call/dataProcessor/uppercase/processData", "c", "application/octet-stream")->body == "C");
    CHECK(client->Post("/v1/call/dataProcessor/echo/processData", "d", "application/octet-stream")->body == "d");
    CHECK(client->Get("/v1/plugins/fixture")->status == 404);

    // The same file again: nothing changes, nothing restarts.
    int pid = plugin_named(*client, "plugin-text-tools")["pid"];
    Json again = json_of(client->Post("/v1/reload", "", "application/json"));
    CHECK(again["unchanged"].size() == 2);
    CHECK(again["changed"].empty());
    CHECK(plugin_named(*client, "plugin-text-tools")["pid"] == pid);
  }
}

TEST_CASE("a second daemon on the same admin socket refuses to start and names the first", "[daemon][lock]") {
  Setup setup;
  Daemon first(setup.options());
  auto error = error_of([&] { Daemon second(setup.options()); });
  CHECK(error.code() == ErrorCode::unavailable);
  CHECK_THAT(error.what(), Catch::Contains("another plugvisor daemon (pid " + std::to_string(::getpid()) + ")") &&
                               Catch::Contains(setup.socket().string()));
  // The first one is untouched.
  CHECK(json_of(unix_client(setup.socket())->Get("/healthz"))["status"] == "ok");
}

TEST_CASE("a daemon whose configuration names a missing directory or plugin does not start", "[daemon][config]") {
  Setup setup;
  SECTION("missing directory") {
    setup.write(R"({"pluginDirs": ["/nonexistent/plugins"], "admin": {"socket": "admin.sock"}})");
    auto error = error_of([&] { Daemon daemon(setup.options()); });
    CHECK(error.code() == ErrorCode::config);
    CHECK_THAT(error.what(), Catch::Contains("/nonexistent/plugins"));
  }
  SECTION("missing plugin") {
    setup.write(R"({"pluginDirs": ["PLUGINS"], "plugins": {"plugin-text-tool": {}}, "admin": {"socket": "admin.sock"}})");
    auto error = error_of([&] { Daemon daemon(setup.options()); });
    CHECK(error.code() == ErrorCode::config);
    CHECK_THAT(error.what(), Catch::Contains("did you mean \"plugin-text-tools\"?"));
  }
  CHECK(!std::filesystem::exists(setup.socket()));
}

TEST_CASE("the admin API shows each plugin's digest, pin, permissions and what enforces them",
          "[daemon][api][sandbox]") {
  Setup setup;
  const std::string fixture_sha = plugvisor::file_sha256(setup.plugins.path() / "fixture");
  const auto build = std::filesystem::path(PLUGVISOR_FIXTURE_PATH).parent_path().parent_path().parent_path();
  setup.plugins.add_fixture("boxed", "sandboxed");
  const std::string declared = Json{{"read", {build.string()}}}.dump();
  setup.write(R"({"pluginDirs": ["PLUGINS"], "defaults": {"startTimeout": "5s", "stopGrace": "2s"},
                  "plugins": {"fixture": {"sha256": ")" + fixture_sha + R"("},
                              "boxed": {"permissions": {"network": "loopback", "read": [")" + build.string() + R"("]},
                                        "env": {"PLUGVISOR_FIXTURE_PERMISSIONS": )" + Json(declared).dump() + R"(}}},
                  "admin": {"socket": "admin.sock"}})");
  Daemon daemon(setup.options());
  auto client = unix_client(setup.socket());

  Json fixture = plugin_named(*client, "fixture")["security"];
  CHECK(fixture["sha256"] == fixture_sha);
  CHECK(fixture["pinned"] == true);
  CHECK(fixture["sandboxed"] == false);
  Json boxed = plugin_named(*client, "boxed")["security"];
  CHECK(boxed["sandboxed"] == true);
  CHECK(boxed["pinned"] == false);
  CHECK(boxed["enforce"] == "best-effort");
  CHECK(boxed["declared"]["network"] == "none");  // it declares files only: no network
  CHECK(boxed["granted"]["network"] == "loopback");
  CHECK(boxed["effective"]["network"] == "none");
  std::set<std::string> enforced;
  for (const auto& m : boxed["mechanisms"]) {
    if (m["enforced"] == true) enforced.insert(m["what"].get<std::string>() + " by " + m["mechanism"].get<std::string>());
  }
  CHECK(enforced.count("network none by network namespace without interfaces") == 1);
  CHECK(enforced.count("system calls by seccomp-bpf") == 1);
  // Sandboxed, it serves calls through the daemon, and its own error reaches the caller.
  auto answer = client->Post("/v1/call/dataProcessor/attempt/processData", "read /etc/shadow", "application/octet-stream");
  REQUIRE(answer);
  CHECK(answer->status == 500);
  CHECK_THAT(answer->body, Catch::Contains("read /etc/shadow: Permission denied"));

  Json tools = plugin_named(*client, "plugin-text-tools")["security"];
  CHECK(tools["sha256"] == plugvisor::file_sha256(setup.plugins.path() / "plugin-text-tools"));
  CHECK(tools["pinned"] == false);
  CHECK(tools["sandboxed"] == false);
  CHECK(tools["mechanisms"].empty());
}
