// The C++ SDK speaks protocol v1 (docs/protocol.md): a plugin run by hand,
// reached with a plain HTTP client, as a plugin author in any language would.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <future>
#include <thread>

#include <catch2/catch.hpp>
#include <httplib.h>

#include "plugvisor/wire/http1.hpp"
#include "plugvisor/sdk.hpp"
#include "plugvisor/wire/address.hpp"
#include "process/process_reactor.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using plugvisor::Json;
using plugvisor::detail::ChildProcess;
using plugvisor::detail::ExitStatus;
namespace fs = std::filesystem;

namespace {

constexpr const char* token = "secret-token";

/// The fixture plugin (in "good" mode unless told), launched by hand with a configuration.
class HandRun {
 public:
  explicit HandRun(Json overrides = Json::object(), std::vector<std::string> extra_env = {},
                   const std::string& mode = "good") {
    socket_ = (dir_.path() / "p.sock").string();
    Json config{{"protocolVersion", 1}, {"id", "fixture"}, {"type", "unix"},
                {"address", socket_},   {"idleTimeout", "0"}, {"token", token}};
    config.update(overrides);
    plugvisor::detail::SpawnSpec spec;
    spec.path = PLUGVISOR_FIXTURE_PATH;
    spec.args = {"--mode", mode, "--config", "-"};
    spec.env = {"PATH=/usr/bin:/bin", "PLUGVISOR_PROTOCOL=1"};
    spec.env.insert(spec.env.end(), extra_env.begin(), extra_env.end());
    spec.pipe_stdin = true;
    child_ = reactor_.spawn(spec);
    REQUIRE(child_->write_stdin(config.dump() + "\n", std::chrono::steady_clock::now() + 2s));
    auto line = child_->wait_first_line(std::chrono::steady_clock::now() + 5s);
    if (line) handshake_ = Json::parse(*line, nullptr, false);
  }

  const Json& handshake() const { return handshake_; }
  const std::string& socket() const { return socket_; }
  ChildProcess& child() { return *child_; }

  std::unique_ptr<httplib::Client> client() const {
    std::unique_ptr<httplib::Client> c;
    if (handshake_.value("type", "") == "tcp") {
      auto address = plugvisor::wire::parse_plugin_tcp_address(handshake_["address"].get<std::string>(), false);
      REQUIRE(address);
      c = std::make_unique<httplib::Client>(address.address.host, address.address.port);
    } else {
      c = std::make_unique<httplib::Client>(socket_, 80);
      c->set_address_family(AF_UNIX);
    }
    c->set_read_timeout(5, 0);
    return c;
  }

  std::optional<ExitStatus> wait_exit(std::chrono::milliseconds limit = 5s) {
    return child_->wait_until(std::chrono::steady_clock::now() + limit);
  }

 private:
  plugvisor::test::TempDir dir_;
  std::string socket_;
  plugvisor::detail::ProcessReactor reactor_;
  std::shared_ptr<ChildProcess> child_;
  Json handshake_;
};

httplib::Headers auth(const std::string& value = std::string("Bearer ") + token) {
  return {{"Authorization", value}};
}

std::string error_code(const httplib::Result& result) {
  auto doc = Json::parse(result->body, nullptr, false);
  return doc.is_object() ? doc["error"].value("code", "") : "(no error body: " + result->body + ")";
}

// A blocking connection to the plugin's socket at `path` (fails the test if refused).
int connected_to(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

}  // namespace

TEST_CASE("the handshake names the bound socket, which is 0600 with a pid lock beside it", "[sdk][handshake]") {
  HandRun run;
  REQUIRE(run.handshake().is_object());
  CHECK(run.handshake()["protocolVersion"] == 1);
  CHECK(run.handshake()["type"] == "unix");
  CHECK(run.handshake()["address"] == run.socket());
  CHECK(run.handshake()["pid"] == run.child().pid());
  CHECK((fs::status(run.socket()).permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::owner_write));
  std::ifstream lock(run.socket() + ".lock");
  int pid = 0;
  lock >> pid;
  CHECK(pid == run.child().pid());
}

TEST_CASE("health needs no token, everything else needs the right one", "[sdk][auth]") {
  HandRun run;
  auto client = run.client();
  auto health = client->Get("/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(Json::parse(health->body) == Json{{"status", "ok"}});

  auto none = client->Post("/v1/dataProcessor/echo/processData", "x", "application/octet-stream");
  REQUIRE(none);
  CHECK(none->status == 401);
  CHECK(error_code(none) == "unauthorized");
  auto wrong = client->Post("/v1/dataProcessor/echo/processData", auth("Bearer nope"), "x", "application/octet-stream");
  CHECK(wrong->status == 401);
  auto shutdown = client->Post("/shutdown", auth("Bearer nope"), "", "application/json");
  CHECK(shutdown->status == 401);
  auto right = client->Post("/v1/dataProcessor/echo/processData", auth(), "x", "application/octet-stream");
  CHECK(right->status == 200);
  CHECK(right->body == "x");
  CHECK(right->get_header_value("Content-Type") == "application/octet-stream");
}

TEST_CASE("unknown types, methods and paths answer 404 with the error body", "[sdk][calls]") {
  HandRun run;
  auto client = run.client();
  auto type = client->Post("/v1/dataProcessor/nope/processData", auth(), "x", "application/octet-stream");
  CHECK(type->status == 404);
  CHECK(error_code(type) == "not_found");
  auto method = client->Post("/v1/dataProcessor/echo/nope", auth(), "{}", "application/json");
  CHECK(method->status == 404);
  CHECK(error_code(method) == "not_found");
  auto contract = client->Post("/v1/otherContract/echo/processData", auth(), "{}", "application/json");
  CHECK(contract->status == 404);
  auto path = client->Get("/nowhere", auth());
  CHECK(path->status == 404);
  CHECK(error_code(path) == "not_found");
}

TEST_CASE("JSON methods answer JSON, and a failing handler answers 500 while the plugin keeps serving",
          "[sdk][calls]") {
  HandRun run;
  auto client = run.client();
  auto formats = client->Post("/v1/dataProcessor/echo/supportedFormats", auth(), "{}", "application/json");
  CHECK(formats->status == 200);
  CHECK(formats->get_header_value("Content-Type") == "application/json");
  CHECK(Json::parse(formats->body) == Json{"any"});
  auto ping = client->Post("/v1/dataProcessor/echo/ping", auth(), "{}", "application/json");
  CHECK(ping->status == 200);
  CHECK(ping->body == "{}");
  auto fail = client->Post("/v1/dataProcessor/fail/processData", auth(), "x", "application/octet-stream");
  CHECK(fail->status == 500);
  CHECK(error_code(fail) == "internal");
  CHECK_THAT(fail->body, Catch::Contains("the fixture failed on purpose"));
  CHECK(client->Get("/healthz")->status == 200);
}

TEST_CASE("a handler's host-side error code is answered as 500, never as 503 'not run'", "[sdk][calls]") {
  HandRun run;
  auto busy = run.client()->Post("/v1/dataProcessor/busy/processData", auth(), "x", "application/octet-stream");
  REQUIRE(busy);
  CHECK(busy->status == 500);
  CHECK(error_code(busy) == "internal");
  CHECK_THAT(busy->body, Catch::Contains("unavailable") && Catch::Contains("the backend is busy"));
}

TEST_CASE("a burst of simultaneous connections is accepted, not refused by a short backlog", "[sdk][calls]") {
  HandRun run;
  REQUIRE(run.handshake().is_object());
  ::kill(run.child().pid(), SIGSTOP);  // nothing is accepted while it is stopped: the backlog must hold them
  std::vector<int> fds;
  int refused = 0;
  for (int i = 0; i < 64; ++i) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, run.socket().c_str(), sizeof addr.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) ++refused;
    fds.push_back(fd);
  }
  ::kill(run.child().pid(), SIGCONT);
  for (int fd : fds) ::close(fd);
  CHECK(refused == 0);
  CHECK(run.client()->Get("/healthz")->status == 200);
}

TEST_CASE("max_connections must be at least 1", "[sdk][calls]") {
  plugvisor::sdk::Plugin plugin({.name = "capped", .version = "1.0.0"});
  CHECK_THROWS_AS(plugin.max_connections(0), std::invalid_argument);
  CHECK_NOTHROW(plugin.max_connections(1));
}

TEST_CASE("connections beyond max_connections wait in the backlog, without a thread, until one closes",
          "[sdk][calls]") {
  HandRun run(Json::object(), {"PLUGVISOR_FIXTURE_MAX_CONNECTIONS=4"});
  REQUIRE(run.handshake().is_object());
  const pid_t pid = run.child().pid();
  // Authorised calls, as the manager's: such connections are never given up
  // for a newcomer (an unproven one would be: see sdk_parity_test).
  auto open_and_ask = [&] {
    int fd = connected_to(run.socket());
    const std::string request = std::string("POST /v1/dataProcessor/echo/ping HTTP/1.1\r\nHost: x\r\n") +
                                "Authorization: Bearer " + token + "\r\nContent-Length: 0\r\n\r\n";
    REQUIRE(::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size()));
    return fd;
  };
  // Waits up to `limit` for the answer on `fd`; true if one came.
  auto answered = [](int fd, int limit_ms) {
    pollfd p{fd, POLLIN, 0};
    char buffer[512];
    return ::poll(&p, 1, limit_ms) == 1 && ::read(fd, buffer, sizeof buffer) > 0;
  };
  // Four kept-alive connections, each answered: every worker is taken.
  std::vector<int> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(open_and_ask());
    REQUIRE(answered(held.back(), 5000));
  }
  const auto threads_at_cap = plugvisor::test::thread_count(pid);
  // Twelve more: connected (the backlog holds them), not served.
  std::vector<int> waiting;
  for (int i = 0; i < 12; ++i) waiting.push_back(open_and_ask());
  CHECK_FALSE(answered(waiting.front(), 300));
  CHECK(plugvisor::test::thread_count(pid) == threads_at_cap);
  // Each connection that closes lets one waiting connection in.
  for (int fd : held) ::close(fd);
  for (int fd : waiting) {
    CHECK(answered(fd, 5000));
    ::close(fd);
  }
  CHECK(plugvisor::test::thread_count(pid) == threads_at_cap);  // the same four workers served them all
  CHECK(run.client()->Get("/healthz")->status == 200);
}

TEST_CASE("a body over maxBodyBytes answers 413 too_large", "[sdk][calls]") {
  HandRun run(Json{{"maxBodyBytes", 100}});
  auto client = run.client();
  auto big = client->Post("/v1/dataProcessor/echo/processData", auth(), std::string(1000, 'x'),
                          "application/octet-stream");
  REQUIRE(big);
  CHECK(big->status == 413);
  CHECK(error_code(big) == "too_large");
  auto small = client->Post("/v1/dataProcessor/echo/processData", auth(), "ok", "application/octet-stream");
  CHECK(small->status == 200);
}

/// Connects to the plugin's socket, writes `request` as is, and returns the
/// first bytes of the answer ("" if none came within 5 s, a liveness bound).
static std::string first_answer(const HandRun& run, const std::string& request) {
  int fd = connected_to(run.socket());
  REQUIRE(::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size()));
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  char buffer[512] = {};
  ssize_t got = ::read(fd, buffer, sizeof buffer - 1);
  ::close(fd);
  return got > 0 ? std::string(buffer, static_cast<std::size_t>(got)) : std::string();
}

TEST_CASE("a POST without Content-Length or Transfer-Encoding has an empty body (RFC 9112 6.3), as curl -X POST sends it",
          "[sdk][calls]") {
  HandRun run;
  const std::string auth = std::string("Authorization: Bearer ") + token + "\r\n";
  auto ping = first_answer(run, "POST /v1/dataProcessor/echo/ping HTTP/1.1\r\nHost: localhost\r\n" + auth + "\r\n");
  CHECK_THAT(ping, Catch::StartsWith("HTTP/1.1 200") && !Catch::Contains("Connection: close"));
  auto echo = first_answer(run, "POST /v1/dataProcessor/echo/processData HTTP/1.1\r\nHost: localhost\r\n" + auth +
                                    "Content-Type: application/octet-stream\r\n\r\n");
  CHECK_THAT(echo, Catch::StartsWith("HTTP/1.1 200") && Catch::Contains("Content-Length: 0\r\n"));
  auto shutdown = first_answer(run, "POST /shutdown HTTP/1.1\r\nHost: localhost\r\n" + auth + "\r\n");
  CHECK_THAT(shutdown, Catch::StartsWith("HTTP/1.1 202"));
  auto exit = run.wait_exit();
  REQUIRE(exit);
  CHECK(exit->clean());
}

TEST_CASE("a request without the right token is answered before its body is read, so it cannot make the plugin allocate it",
          "[sdk][auth]") {
  HandRun run;
  // 32 MiB announced (under the 64 MiB limit), none sent: the 401 must come
  // without waiting for the body.
  for (const char* auth : {"Authorization: Bearer wrong\r\n", ""}) {
    auto answer = first_answer(run, std::string("POST /v1/dataProcessor/echo/processData HTTP/1.1\r\nHost: x\r\n") +
                                        auth + "Content-Length: 33554432\r\n\r\n");
    CHECK_THAT(answer, Catch::StartsWith("HTTP/1.1 401"));
  }
  auto answer = first_answer(run, "POST /shutdown HTTP/1.1\r\nHost: x\r\nContent-Length: 33554432\r\n\r\n");
  CHECK_THAT(answer, Catch::StartsWith("HTTP/1.1 401"));
  // Nor is the body of any other request read: they are answered from the head.
  answer = first_answer(run, "POST /elsewhere HTTP/1.1\r\nHost: x\r\nContent-Length: 33554432\r\n\r\n");
  CHECK_THAT(answer, Catch::StartsWith("HTTP/1.1 404"));
  answer = first_answer(run, "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 33554432\r\n\r\n");
  CHECK_THAT(answer, Catch::StartsWith("HTTP/1.1 200"));
  // A small body with the wrong token keeps the connection usable (read and dropped), as before.
  auto client = run.client();
  auto refused = client->Post("/v1/dataProcessor/echo/processData", {{"Authorization", "Bearer wrong"}}, "abc",
                              "application/octet-stream");
  REQUIRE(refused);
  CHECK(refused->status == 401);
  auto ok = client->Post("/v1/dataProcessor/echo/processData", {{"Authorization", std::string("Bearer ") + token}},
                         "abc", "application/octet-stream");
  REQUIRE(ok);
  CHECK(ok->body == "abc");
}

TEST_CASE("pipelined requests, lowercase headers and a chunked body are answered in order on one connection",
          "[sdk][calls]") {
  HandRun run;
  int fd = connected_to(run.socket());
  const std::string auth_line = std::string("authorization: Bearer ") + token + "\r\n";
  std::string requests =
      "POST /v1/dataProcessor/echo/processData HTTP/1.1\r\n" + auth_line + "content-length: 3\r\n\r\none" +
      "POST /v1/dataProcessor/echo/processData HTTP/1.1\r\n" + auth_line +
      "transfer-encoding: chunked\r\n\r\n3\r\ntwo\r\n1\r\n!\r\n0\r\n\r\n" + "HEAD /healthz HTTP/1.1\r\n\r\n" +
      "GET /healthz HTTP/1.1\r\n\r\n";
  REQUIRE(::write(fd, requests.data(), requests.size()) == static_cast<ssize_t>(requests.size()));
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string bytes;
  std::vector<std::pair<int, std::string>> answers;
  const bool head_only[] = {false, false, true, false};
  while (answers.size() < 4) {
    plugvisor::detail::http1::ResponseHead head;
    auto parsed = plugvisor::detail::http1::parse_response_head(bytes, head);
    std::uint64_t length = head_only[answers.size()] ? 0 : head.content_length;
    if (parsed.state == plugvisor::detail::http1::ParseResult::complete && bytes.size() >= parsed.size + length) {
      answers.emplace_back(head.status, bytes.substr(parsed.size, length));
      bytes.erase(0, parsed.size + length);
      continue;
    }
    REQUIRE(parsed.state != plugvisor::detail::http1::ParseResult::invalid);
    char buffer[4096];
    ssize_t got = ::read(fd, buffer, sizeof buffer);
    REQUIRE(got > 0);
    bytes.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(fd);
  CHECK(answers[0] == std::pair<int, std::string>{200, "one"});
  CHECK(answers[1] == std::pair<int, std::string>{200, "two!"});
  CHECK(answers[2] == std::pair<int, std::string>{200, ""});
  CHECK(answers[3] == std::pair<int, std::string>{200, R"({"status":"ok"})"});
}

TEST_CASE("each call on a kept connection gets its own body, whatever the sizes of the bodies before it",
          "[sdk][calls]") {
  // The connection keeps a body's buffer for the next request (up to 64 KiB):
  // a shorter or chunked body after a longer one must not see its bytes.
  HandRun run;
  int fd = connected_to(run.socket());
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  const std::string auth_line = std::string("Authorization: Bearer ") + token + "\r\n";
  const std::string call = "POST /v1/dataProcessor/echo/processData HTTP/1.1\r\n" + auth_line;
  const std::vector<std::string> bodies{std::string(70'000, 'a'), std::string(40'000, 'b'), "ccccc", "", "dd"};
  for (std::size_t i = 0; i <= bodies.size(); ++i) {
    // The last round sends "xyz" chunked, after the others' lengths.
    const bool chunked = i == bodies.size();
    const std::string expected = chunked ? "xyz" : bodies[i];
    const std::string request =
        chunked ? call + "Transfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n1\r\nz\r\n0\r\n\r\n"
                : call + "Content-Length: " + std::to_string(expected.size()) + "\r\n\r\n" + expected;
    for (std::size_t sent = 0; sent < request.size();) {
      ssize_t n = ::write(fd, request.data() + sent, request.size() - sent);
      REQUIRE(n > 0);
      sent += static_cast<std::size_t>(n);
    }
    std::string bytes;
    plugvisor::detail::http1::ResponseHead head;
    while (true) {
      auto parsed = plugvisor::detail::http1::parse_response_head(bytes, head);
      REQUIRE(parsed.state != plugvisor::detail::http1::ParseResult::invalid);
      if (parsed.state == plugvisor::detail::http1::ParseResult::complete &&
          bytes.size() >= parsed.size + head.content_length) {
        INFO("call " << i);
        CHECK(head.status == 200);
        CHECK(bytes.substr(parsed.size) == expected);
        break;
      }
      char buffer[16384];
      ssize_t got = ::read(fd, buffer, sizeof buffer);
      REQUIRE(got > 0);
      bytes.append(buffer, static_cast<std::size_t>(got));
    }
  }
  ::close(fd);
}

TEST_CASE("health checks are not activity: a polled plugin still idles out on time", "[sdk][idle]") {
  HandRun run(Json{{"idleTimeout", "500ms"}});
  auto client = run.client();
  auto started = std::chrono::steady_clock::now();
  std::optional<ExitStatus> exit;
  while (!(exit = run.child().exit_status()) && std::chrono::steady_clock::now() - started < 5s) {
    client->Get("/healthz");
    std::this_thread::sleep_for(50ms);
  }
  REQUIRE(exit);
  CHECK(exit->clean());
  CHECK_FALSE(fs::exists(run.socket()));
  CHECK_FALSE(fs::exists(run.socket() + ".lock"));
}

TEST_CASE("a call in flight keeps the plugin alive past its idle timeout", "[sdk][idle]") {
  // The call must reach the plugin within the idle timeout of its handshake,
  // and last well past it.
  const int idle_ms = 200 * plugvisor::test::timing_scale;
  HandRun run(Json{{"idleTimeout", std::to_string(idle_ms) + "ms"}});
  auto client = run.client();
  auto slow = client->Post("/v1/dataProcessor/slow/processData", auth(), std::to_string(3 * idle_ms),
                           "application/octet-stream");
  REQUIRE(slow);
  CHECK(slow->status == 200);
  CHECK(slow->body == "done");
  auto exit = run.wait_exit();
  REQUIRE(exit);
  CHECK(exit->clean());
}

TEST_CASE("an idle timeout and a deadline too large for the clock saturate to 'never', without overflow",
          "[sdk][idle][deadline]") {
  // 2^40 s, the most protocol.md 5.3 allows: past steady_clock's ~292 years.
  HandRun run(Json{{"idleTimeout", "1099511627776s"}}, {}, "report");
  auto client = run.client();
  auto headers = auth();
  headers.emplace("X-Plugvisor-Deadline-Ms", "9223372036854775807");
  auto call = client->Post("/v1/dataProcessor/deadline/processData", headers, "", "application/octet-stream");
  REQUIRE(call);
  CHECK(call->status == 200);
  // The SDK saw a deadline that is, for all purposes, never: over 200 years away.
  CHECK(std::stoll(call->body) > std::int64_t{200} * 365 * 24 * 3600 * 1000);

  // 20 digits is past the bound (19): refused, like any malformed value.
  auto long_header = auth();
  long_header.emplace("X-Plugvisor-Deadline-Ms", "99999999999999999999");
  auto refused = client->Post("/v1/dataProcessor/deadline/processData", long_header, "", "application/octet-stream");
  REQUIRE(refused);
  CHECK(refused->status == 400);
  CHECK(error_code(refused) == "invalid_input");

  // The idle timer ticks at least once a second: an overflowing one exits here.
  std::this_thread::sleep_for(2500ms);
  CHECK_FALSE(run.child().exit_status());
  auto again = client->Post("/v1/dataProcessor/deadline/processData", auth(), "", "application/octet-stream");
  REQUIRE(again);
  CHECK(again->body == "none");
}

TEST_CASE("closing stdin makes the plugin exit cleanly and remove its files", "[sdk][shutdown]") {
  HandRun run;
  run.child().close_stdin();
  auto exit = run.wait_exit();
  REQUIRE(exit);
  CHECK(exit->clean());
  CHECK_FALSE(fs::exists(run.socket()));
  CHECK_FALSE(fs::exists(run.socket() + ".lock"));
}

TEST_CASE("SIGTERM lets the call in flight finish, then the plugin exits 0", "[sdk][shutdown]") {
  plugvisor::test::TempDir marks;
  HandRun run(Json::object(), {"PLUGVISOR_FIXTURE_MARKS=" + marks.path().string()});
  auto client = run.client();
  auto call = std::async(std::launch::async, [&] {
    return client->Post("/v1/dataProcessor/slow/processData", auth(), "500", "application/octet-stream");
  });
  // Signalled once the call is in flight (the fixture marks its start).
  REQUIRE(plugvisor::test::wait_for([&] { return fs::exists(marks.path() / "slow-started"); }));
  ::kill(run.child().pid(), SIGTERM);
  auto result = call.get();
  REQUIRE(result);
  CHECK(result->status == 200);
  CHECK(result->body == "done");
  auto exit = run.wait_exit();
  REQUIRE(exit);
  CHECK(exit->clean());
  CHECK_FALSE(fs::exists(run.socket()));
}

TEST_CASE("/shutdown answers 202 and the plugin exits 0", "[sdk][shutdown]") {
  HandRun run;
  auto client = run.client();
  auto result = client->Post("/shutdown", auth(), "", "application/json");
  REQUIRE(result);
  CHECK(result->status == 202);
  auto exit = run.wait_exit();
  REQUIRE(exit);
  CHECK(exit->clean());
}

TEST_CASE("a socket held by a live plugin is refused with exit code 3", "[sdk][lock]") {
  HandRun first;
  REQUIRE(first.handshake().is_object());
  HandRun second(Json{{"address", first.socket()}});
  auto exit = second.wait_exit();
  REQUIRE(exit);
  CHECK(exit->code == 3);
  CHECK_THAT(second.child().stderr_tail(), Catch::Contains("in use by live process"));
  CHECK(first.client()->Get("/healthz")->status == 200);  // the first one is untouched
}

TEST_CASE("a stale socket and lock left by a dead plugin are cleared", "[sdk][lock]") {
  plugvisor::test::TempDir dir;
  auto socket = (dir.path() / "stale.sock").string();
  {
    // A socket file nothing listens on, as a crashed plugin leaves it.
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    ::close(fd);
  }
  std::ofstream(socket + ".lock") << "999999\n";
  HandRun run(Json{{"address", socket}});
  REQUIRE(run.handshake().is_object());
  auto client = std::make_unique<httplib::Client>(socket, 80);
  client->set_address_family(AF_UNIX);
  CHECK(client->Get("/healthz")->status == 200);
}

TEST_CASE("over TCP the plugin binds loopback and reports the port", "[sdk][tcp]") {
  HandRun run(Json{{"type", "tcp"}, {"address", "127.0.0.1:0"}});
  REQUIRE(run.handshake().is_object());
  std::string address = run.handshake()["address"];
  CHECK_THAT(address, Catch::StartsWith("127.0.0.1:"));
  CHECK(std::stoi(address.substr(10)) > 0);
  auto result = run.client()->Post("/v1/dataProcessor/echo/processData", auth(), "tcp", "application/octet-stream");
  CHECK(result->body == "tcp");
}

TEST_CASE("a bad configuration exits 2 with the reason", "[sdk][config]") {
  HandRun bad_type(Json{{"type", "carrier-pigeon"}});
  auto exit = bad_type.wait_exit();
  REQUIRE(exit);
  CHECK(exit->code == 2);
  CHECK_THAT(bad_type.child().stderr_tail(), Catch::Contains("\\\"type\\\" must be \\\"unix\\\" or \\\"tcp\\\""));

  HandRun no_token(Json{{"token", ""}});
  exit = no_token.wait_exit();
  REQUIRE(exit);
  CHECK(exit->code == 2);

  HandRun remote(Json{{"type", "tcp"}, {"address", "0.0.0.0:0"}});
  exit = remote.wait_exit();
  REQUIRE(exit);
  CHECK(exit->code == 2);
  CHECK_THAT(remote.child().stderr_tail(), Catch::Contains("is not 127.0.0.1:PORT"));
}

TEST_CASE("the configuration line is read in blocks, not a byte at a time", "[sdk][config]") {
  // 200,000 bytes of data for a config type the plugin did not declare (it
  // ignores it): read a byte at a time, that is 200,000 system calls at launch.
  Json padding{{"type", "undeclared.padding"}, {"data", std::string(200000, 'x')}};
  HandRun run(Json{{"configTypes", Json::array({padding})}});
  REQUIRE(run.handshake().is_object());
  std::ifstream io("/proc/" + std::to_string(run.child().pid()) + "/io");
  std::uint64_t reads = 0;
  for (std::string key; io >> key;) {
    if (key == "syscr:") {
      io >> reads;
      break;
    }
    std::getline(io, key);
  }
  CHECK(reads > 0);
  CHECK(reads < 2000);  // its whole start-up, the 49 blocks of the line among it
  auto result = run.client()->Post("/v1/dataProcessor/echo/processData", auth(), "still serves",
                                   "application/octet-stream");
  REQUIRE(result);
  CHECK(result->body == "still serves");
}
