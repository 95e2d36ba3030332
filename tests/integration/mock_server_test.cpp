// The mock server end to end: the real mock-server binary, its real example
// plugins (C++, Python, Node without an SDK) and misbehaving fixtures, over
// real HTTP with cpp-httplib's client. One server per test case (ctest runs
// each case in its own process), many checks per server.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <httplib.h>

#include "plugvisor/contracts.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using plugvisor::Json;

namespace {

const std::string routes_file = PLUGVISOR_SOURCE_DIR "/tests/data/mock-routes-test.json";
const std::string jwt_secret = "test-secret-0123456789abcdef";

// A running mock-server: started with the example plugins and the fixtures,
// stopped (SIGTERM, then waited for) on destruction.
class MockServerProcess {
 public:
  MockServerProcess(const std::string& routes, std::vector<std::string> dirs) {
    std::vector<std::string> args{PLUGVISOR_MOCK_SERVER_PATH, routes, "--port", "0"};
    for (auto& dir : dirs) {
      args.push_back("-d");
      args.push_back(dir);
    }
    int out[2];
    REQUIRE(pipe2(out, O_CLOEXEC) == 0);
    log_path_ = fs::temp_directory_path() / ("mock-server-test-" + std::to_string(getpid()) + ".log");
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      dup2(out[1], 1);
      int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(log, 2);
      std::vector<char*> argv;
      for (auto& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    out_ = out[0];
    first_line_ = read_line(std::chrono::seconds(60));
  }

  ~MockServerProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
    if (out_ >= 0) close(out_);
    std::error_code ignored;
    fs::remove(log_path_, ignored);
  }

  /// The port from "mock-server listening on http://127.0.0.1:PORT ...", or 0.
  int port() const {
    auto at = first_line_.find("127.0.0.1:");
    return at == std::string::npos ? 0 : std::atoi(first_line_.c_str() + at + 10);
  }
  const std::string& first_line() const { return first_line_; }

  /// Waits (a liveness bound) for the process to exit; its exit code, or -1.
  int wait_exit() {
    int status = 0;
    for (int i = 0; i < 600; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      usleep(50 * 1000);
    }
    return -1;
  }

  std::string log() const {
    std::ifstream in(log_path_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

 private:
  std::string read_line(std::chrono::seconds limit) {
    std::string line;
    auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      pollfd p{out_, POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char c;
      if (read(out_, &c, 1) != 1) break;
      if (c == '\n') return line;
      line += c;
    }
    return line;
  }

  pid_t pid_ = -1;
  int out_ = -1;
  fs::path log_path_;
  std::string first_line_;
};

std::string mint(const std::string& subject, const std::string& role, int ttl, const std::string& secret = jwt_secret) {
  std::string command = std::string("python3 ") + PLUGVISOR_SOURCE_DIR "/examples/mock-server/mint_jwt.py " + subject +
                        " --role " + role + " --ttl " + std::to_string(ttl) + " --secret " + secret;
  std::unique_ptr<FILE, decltype(&pclose)> pipe(popen(command.c_str(), "r"), pclose);
  std::array<char, 1024> buffer{};
  std::string out;
  while (fgets(buffer.data(), buffer.size(), pipe.get())) out += buffer.data();
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

httplib::Client client_for(const MockServerProcess& server) {
  httplib::Client client("127.0.0.1", server.port());
  client.set_read_timeout(30, 0);
  return client;
}

std::string error_message(const httplib::Result& result) {
  return Json::parse(result->body).at("error").at("message").get<std::string>();
}

std::vector<std::string> plugin_dirs() { return {PLUGVISOR_MOCK_PLUGIN_DIR, PLUGVISOR_MOCK_FIXTURE_DIR}; }

}  // namespace

TEST_CASE("the mock server serves routes, templates, SQLite data, JWT and API-key auth, docs and the chain", "[mock-server]") {
  MockServerProcess server(routes_file, plugin_dirs());
  INFO(server.log());
  REQUIRE(server.port() > 0);
  auto client = client_for(server);

  // A templated text route: fakeName and uuid come from the Python plugin.
  auto hello = client.Get("/hello");
  REQUIRE(hello);
  CHECK(hello->status == 200);
  CHECK_THAT(hello->body, Catch::Matches("Hello [A-Z][a-z]+ [0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}"));
  // A JSON route: a string that is one tag becomes the function's value.
  auto lottery = client.Get("/lottery");
  REQUIRE(lottery);
  CHECK(Json::parse(lottery->body) == Json{{"n", 7}, {"s", "n=3"}});

  // Data from SQLite through the dataSource; a path parameter bound as data.
  auto ada = client.Get("/users/1");
  REQUIRE(ada);
  CHECK(ada->status == 200);
  CHECK(Json::parse(ada->body) == Json{{"id", 1}, {"name", "Ada Lovelace"}, {"role", "admin"}});
  CHECK(client.Get("/users/99")->status == 404);

  // A static route with a status and headers.
  auto order = client.Post("/orders", "{}", "application/json");
  REQUIRE(order);
  CHECK(order->status == 201);
  CHECK(order->get_header_value("Location") == "/orders/1");

  // JWT: a valid token passes and names the principal; admin needs the claim.
  httplib::Headers user{{"Authorization", "Bearer " + mint("alan", "user", 600)}};
  auto me = client.Get("/me", user);
  REQUIRE(me);
  CHECK(me->status == 200);
  CHECK(me->get_header_value("X-Mock-Principal") == "alan");
  auto not_admin = client.Get("/admin", user);
  CHECK(not_admin->status == 401);
  CHECK_THAT(error_message(not_admin), Catch::Contains("claim role must be 'admin'"));
  CHECK(client.Get("/admin", httplib::Headers{{"Authorization", "Bearer " + mint("ada", "admin", 600)}})->status == 200);

  // API keys, and the two compositions.
  httplib::Headers key{{"X-Api-Key", "partner-key-0001"}};
  auto either = client.Get("/either", key);
  CHECK(either->status == 200);
  CHECK(either->get_header_value("X-Mock-Principal") == "partner-one");
  CHECK(client.Get("/both", key)->status == 401);  // the JWT authenticator abstains: not all passed
  httplib::Headers both{{"X-Api-Key", "partner-key-0001"}, {"Authorization", "Bearer " + mint("alan", "user", 600)}};
  CHECK(client.Get("/both", both)->status == 200);
  auto wrong_key = client.Get("/either", httplib::Headers{{"X-Api-Key", "nope-nope-nope"}});
  CHECK(wrong_key->status == 401);
  CHECK_THAT(error_message(wrong_key), Catch::Contains("apiKey: unknown API key"));

  // The documentation page: generated from the routes, assets embedded.
  auto docs = client.Get("/docs");
  REQUIRE(docs);
  CHECK(docs->status == 200);
  CHECK(docs->get_header_value("X-Mock-Served-By") == "httpHandler/apiDocs");
  CHECK_THAT(docs->body, Catch::Contains("<code>/users/:id</code>") && Catch::Contains("mock server test routes"));
  auto css = client.Get("/docs/assets/style.css");
  CHECK(css->status == 200);
  CHECK(css->get_header_value("Content-Type") == "text/css");

  // The CRUD responseGenerator over the same database.
  auto created = client.Post("/api/products", R"({"name": "Jacquard loom", "price": 1804})", "application/json");
  REQUIRE(created);
  CHECK(created->status == 201);
  CHECK(created->get_header_value("X-Mock-Served-By") == "responseGenerator/crud");
  auto id = Json::parse(created->body).at("id").get<int>();
  CHECK(Json::parse(client.Get("/api/products/" + std::to_string(id))->body).at("name") == "Jacquard loom");
  CHECK(client.Delete("/api/products/" + std::to_string(id))->status == 204);
  CHECK(client.Get("/api/products/" + std::to_string(id))->status == 404);

  // The handler chain: the no-SDK Node plugin answers what the docs decline;
  // a 418 from it is not a success, so the chain falls through to 404.
  auto echo = client.Get("/echo?x=1");
  REQUIRE(echo);
  CHECK(echo->get_header_value("X-Mock-Served-By") == "httpHandler/status");
  CHECK(Json::parse(echo->body).at("query") == Json{{"x", "1"}});
  CHECK(client.Get("/status/204")->status == 204);
  auto teapot = client.Get("/status/418");
  CHECK(teapot->status == 404);
  CHECK_THAT(error_message(teapot), Catch::Contains("status: 418"));
  auto nothing = client.Get("/no/such/thing");
  CHECK(nothing->status == 404);
  CHECK_THAT(error_message(nothing), Catch::Contains("no route, responseGenerator or httpHandler serves GET /no/such/thing"));
  CHECK(client.Get("/flaky/ok")->status == 200);
}

TEST_CASE("bad input to the mock server gets a clear answer and the server keeps serving", "[mock-server]") {
  MockServerProcess server(routes_file, plugin_dirs());
  INFO(server.log());
  REQUIRE(server.port() > 0);
  auto client = client_for(server);

  // A forged and an expired JWT: 401 with the reason.
  auto forged = client.Get("/me", httplib::Headers{{"Authorization", "Bearer " + mint("eve", "admin", 600, "another-secret-0123456789")}});
  CHECK(forged->status == 401);
  CHECK_THAT(error_message(forged), Catch::Contains("bad signature"));
  auto expired = client.Get("/me", httplib::Headers{{"Authorization", "Bearer " + mint("alan", "user", -60)}});
  CHECK(expired->status == 401);
  CHECK_THAT(error_message(expired), Catch::Contains("token expired at"));
  auto none_alg = client.Get("/me", httplib::Headers{{"Authorization", "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJldmUifQ."}});
  CHECK(none_alg->status == 401);
  CHECK(client.Get("/me")->status == 401);

  // Template tags: an unknown function and bad arguments say which.
  auto unknown = client.Get("/unknown-function");
  CHECK(unknown->status == 500);
  CHECK_THAT(error_message(unknown), Catch::Contains("template tag {{nope 1 2}}: no template function 'nope'") &&
                                         Catch::Contains("randomInt (fake)"));
  auto bad = client.Get("/bad-arguments");
  CHECK(bad->status == 500);
  CHECK_THAT(error_message(bad), Catch::Contains("function 'randomInt' of templateFunctions type 'fake'") &&
                                     Catch::Contains("min (9) must not be greater than max (1)"));

  // SQL injection in a parameter is data: no row, and the table is intact.
  for (const char* attack : {"x' OR '1'='1", "'; DROP TABLE users; --", "1 OR 1=1"}) {
    auto result = client.Get(std::string("/search?name=") + httplib::detail::encode_query_param(attack));
    REQUIRE(result);
    CHECK(result->status == 200);
    CHECK(Json::parse(result->body) == Json::array());
  }
  CHECK(Json::parse(client.Get("/search?name=Ada%20Lovelace")->body).size() == 1);
  CHECK(client.Get("/users/1")->status == 200);
  CHECK(client.Get("/users/1%20OR%201=1")->status == 404);

  // A handler that answers a malformed response, or one that would split the
  // HTTP stream, is skipped; with nobody else answering, 502 names it.
  auto malformed = client.Get("/flaky/malformed");
  CHECK(malformed->status == 502);
  CHECK_THAT(error_message(malformed), Catch::Contains("type 'flaky' of plugin-py-mock-fixture (bad_reply)") &&
                                           Catch::Contains("from 100 to 599"));
  auto split = client.Get("/flaky/split");
  CHECK(split->status == 502);
  CHECK(split->get_header_value("set-cookie").empty());
  // A handler that times out: 504 naming it.
  auto slow = client.Get("/flaky/slow");
  INFO("the answer to /flaky/slow: " << slow->body);
  CHECK(slow->status == 504);
  CHECK_THAT(error_message(slow), Catch::Contains("type 'flaky' of plugin-py-mock-fixture (timeout)"));

  // Plugins that claim a contract but fail their calls: 502 naming them.
  auto failing_function = client.Get("/failing-function");
  CHECK(failing_function->status == 502);
  CHECK_THAT(error_message(failing_function), Catch::Contains("function 'explode' of templateFunctions type 'broken' (plugin-py-mock-fixture) failed"));
  auto broken_auth = client.Get("/broken-auth");
  CHECK(broken_auth->status == 502);
  CHECK_THAT(error_message(broken_auth), Catch::Contains("authenticator type 'broken' of plugin-py-mock-fixture failed"));

  // And the server still serves.
  CHECK(client.Get("/users/1")->status == 200);
  CHECK(client.Get("/hello")->status == 200);
}

TEST_CASE("a handler plugin that fails to start is skipped by default and stops a server that requires it", "[mock-server]") {
  plugvisor::test::TempDir dir;
  fs::copy(PLUGVISOR_MOCK_FIXTURE_DIR, dir.path(), fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  const auto routes = dir.path() / "routes.json";
  auto write_routes = [&](bool required) {
    std::ofstream(routes) << Json{{"plugins", {{"plugin-py-fail-start", {{"required", required}}}}},
                                  {"routes", {{{"path", "/ok"}, {"body", "ok"}}}}}
                                 .dump();
  };

  write_routes(false);
  {
    MockServerProcess server(routes.string(), {dir.path().string()});
    REQUIRE(server.port() > 0);
    auto client = client_for(server);
    CHECK(client.Get("/ok")->status == 200);
    // Not in the chain: the fixture's flaky handler is reached, not a failure of the skipped one.
    CHECK(client.Get("/flaky/ok")->status == 200);
    auto unknown = client.Get("/nothing-here");
    CHECK(unknown->status == 404);
    CHECK_THAT(server.log(), Catch::Contains("plugin plugin-py-fail-start skipped"));
  }

  write_routes(true);
  MockServerProcess refused(routes.string(), {dir.path().string()});
  CHECK(refused.port() == 0);
  CHECK(refused.wait_exit() == 1);
  CHECK_THAT(refused.log(), Catch::Contains("required plugin") && Catch::Contains("plugin-py-fail-start"));
}

TEST_CASE("a routes file with a mistake is refused naming the member", "[mock-server]") {
  plugvisor::test::TempDir dir;
  const auto routes = dir.path() / "routes.json";
  std::ofstream(routes) << R"({"routes": [{"path": "/a", "body": "{{uuid"}]})";
  MockServerProcess server(routes.string(), {});
  CHECK(server.wait_exit() == 1);
  CHECK_THAT(server.log(), Catch::Contains("routes[0].body malformed template tag") && Catch::Contains("no closing }}"));

  std::ofstream(routes, std::ios::trunc) << R"({"routes": [{"path": "/a", "stauts": 200}]})";
  MockServerProcess typo(routes.string(), {});
  CHECK(typo.wait_exit() == 1);
  CHECK_THAT(typo.log(), Catch::Contains("routes[0] has an unknown member \"stauts\""));
}
