// Declared transports (docs/protocol.md 4.2): the manager reaches each plugin
// over one it serves, and refuses a setting the plugin cannot meet.
#include <catch2/catch.hpp>

#include "discovery/capabilities.hpp"
#include "plugvisor/manager.hpp"
#include "test_support.hpp"

using plugvisor::DataProcessor;
using plugvisor::Error;
using plugvisor::ErrorCode;
using plugvisor::Transport;
using plugvisor::test::TempDir;

namespace {

// A Python plugin on the standard library's http.server (tests/fixtures/broken_plugin.py) in `mode`.
void add_python_plugin(TempDir& dir, const std::string& name, const std::string& mode) {
  dir.add_file(name, std::string("#!/bin/sh\nexec '") + PLUGVISOR_PYTHON3 + "' '" + PLUGVISOR_BROKEN_PLUGIN +
                         "' --break " + mode + " \"$@\"\n");
}

std::vector<Transport> transports_of(const std::string& json) {
  return plugvisor::detail::parse_capabilities(
             R"({"protocolVersion": 1, "name": "n", "version": "1", "types": {}, "transports": )" + json + "}")
      .transports;
}

std::string rejection_of(const std::string& json) {
  try {
    transports_of(json);
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::start_failed);
    return e.what();
  }
  FAIL("transports " << json << " should be refused");
  return "";
}

}  // namespace

TEST_CASE("a TCP-only plugin is reached over TCP by default and its calls work", "[transports]") {
  TempDir dir;
  add_python_plugin(dir, "tcp-only", "tcp-only");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  REQUIRE(manager.rejections().empty());
  auto status = manager.plugin("tcp-only");
  REQUIRE(status);
  CHECK(status->capabilities.transports == std::vector<Transport>{Transport::tcp});
  CHECK(status->transport == Transport::tcp);
  auto echo = manager.registry().get<DataProcessor>("echo");
  for (int i = 0; i < 3; ++i) CHECK(echo->process_data("over tcp " + std::to_string(i)) == "over tcp " + std::to_string(i));
  CHECK(manager.plugin("tcp-only")->state == plugvisor::PluginState::ready);
  CHECK(manager.plugin("tcp-only")->starts == 1);
}

TEST_CASE("a Unix-only plugin is reached over its socket even where TCP is the default", "[transports]") {
  TempDir dir;
  add_python_plugin(dir, "unix-only", "unix-only");
  auto options = plugvisor::test::test_options(dir.path());
  options.per_plugin["other"] = options.defaults;  // automatic stays the default for unix-only
  plugvisor::Manager manager(options);
  CHECK(manager.plugin("unix-only")->transport == Transport::unix_socket);
  CHECK(manager.registry().get<DataProcessor>("echo")->process_data("socket") == "socket");
}

TEST_CASE("a plugin that declares no transports serves both, and the socket is the default", "[transports]") {
  TempDir dir;
  dir.add_fixture("fixture", "good");
  auto options = plugvisor::test::test_options(dir.path());
  {
    plugvisor::Manager manager(options);
    auto status = manager.plugin("fixture");
    CHECK(status->capabilities.transports == std::vector<Transport>{Transport::unix_socket, Transport::tcp});
    CHECK(status->transport == Transport::unix_socket);
    CHECK(manager.registry().get<DataProcessor>("echo")->process_data("a") == "a");
  }
  options.defaults.transport = Transport::tcp;
  plugvisor::Manager manager(options);
  CHECK(manager.plugin("fixture")->transport == Transport::tcp);
  CHECK(manager.registry().get<DataProcessor>("echo")->process_data("b") == "b");
}

TEST_CASE("a transport setting the plugin does not serve rejects it, and says what to change", "[transports]") {
  TempDir dir;
  add_python_plugin(dir, "tcp-only", "tcp-only");
  dir.add_fixture("fixture", "good");
  auto options = plugvisor::test::test_options(dir.path());
  options.defaults.transport = Transport::unix_socket;
  plugvisor::Manager manager(options);
  REQUIRE(manager.rejections().size() == 1);
  CHECK(manager.rejections()[0].path.filename() == "tcp-only");
  CHECK_THAT(manager.rejections()[0].reason,
             Catch::Contains("the configuration sets transport \"unix\" for it, but the plugin serves only tcp") &&
                 Catch::Contains("set transport \"auto\""));
  CHECK_FALSE(manager.plugin("tcp-only"));
  CHECK(manager.registry().get<DataProcessor>("echo")->process_data("still") == "still");  // the other plugin works

  // A reload with the default setting registers it.
  options.defaults.transport = Transport::automatic;
  auto result = manager.reload(options);
  CHECK(result.added == std::vector<std::string>{"tcp-only"});
  CHECK(manager.rejections().empty());
  CHECK(manager.plugin("tcp-only")->transport == Transport::tcp);
}

TEST_CASE("capabilities transports: a list of unix and tcp, unknown names skipped", "[transports][capabilities]") {
  CHECK(transports_of("null") == std::vector<Transport>{Transport::unix_socket, Transport::tcp});
  CHECK(transports_of(R"(["tcp"])") == std::vector<Transport>{Transport::tcp});
  CHECK(transports_of(R"(["tcp", "unix", "tcp"])") == std::vector<Transport>{Transport::tcp, Transport::unix_socket});
  CHECK(transports_of(R"(["vsock", "unix"])") == std::vector<Transport>{Transport::unix_socket});
  CHECK_THAT(rejection_of(R"("unix")"), Catch::Contains("capabilities \"transports\" must be an array"));
  CHECK_THAT(rejection_of(R"([])"), Catch::Contains("must list at least one transport this manager speaks"));
  CHECK_THAT(rejection_of(R"(["http"])"), Catch::Contains("must list at least one transport this manager speaks"));
  CHECK_THAT(rejection_of(R"(["unix", 1])"), Catch::Contains("must hold only strings, not \"[\\\"unix\\\",1]\""));
}
