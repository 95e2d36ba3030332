// The admin listener's workers keep the connection they served for its next
// request (manager/daemon/src/gated_server.cpp, keep()), with the head
// gate's bounds, and give it back to the gate when another connection's
// request needs the worker. A GatedServer of two workers and a short head
// timeout on a real Unix socket; its lean route echoes the body.
#include <unistd.h>

#include <thread>

#include <catch2/catch.hpp>
#include <httplib.h>

#include "admin_clients.hpp"
#include "admission.hpp"
#include "gated_server.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using plugvisor::detail::AdmissionRules;
using plugvisor::detail::BufferedStream;
using plugvisor::detail::GatedLimits;
using plugvisor::detail::GatedServer;
using plugvisor::detail::LeanRoute;
using plugvisor::test::Raw;
using plugvisor::test::TempDir;
namespace http1 = plugvisor::detail::http1;

namespace {

// POST /echo on the lean route: the body back.
LeanRoute echo_route() {
  LeanRoute route;
  route.accepts = [](const http1::RequestHead& head) { return head.method == "POST" && head.target == "/echo"; };
  route.serve = [](const http1::RequestHead& head, BufferedStream& stream) -> LeanRoute::Served {
    std::string body(static_cast<std::size_t>(head.content_length), '\0');
    for (std::size_t got = 0; got < body.size();) {
      ssize_t n = stream.read(body.data() + got, body.size() - got);
      if (n <= 0) return {};
      got += static_cast<std::size_t>(n);
    }
    std::string out;
    http1::append_response_head(out, 200, std::vector<http1::Header>{{"Content-Type", "text/plain"}}, body.size());
    out += body;
    if (stream.write(out.data(), out.size()) != static_cast<ssize_t>(out.size())) return {};
    return {head.keep_alive, body.size()};
  };
  return route;
}

// Two workers, a head timeout of `head_timeout`, bodies up to 1 KiB.
struct TwoWorkers {
  TempDir dir;
  std::filesystem::path socket = dir.path() / "admin.sock";
  std::unique_ptr<GatedServer> server;
  std::thread thread;

  explicit TwoWorkers(std::chrono::milliseconds head_timeout = 10s) {
    GatedLimits limits;
    limits.workers = 2;
    limits.gate.head_timeout = head_timeout;
    AdmissionRules rules;
    rules.call_body_limit = 1024;
    rules.other_body_limit = 1024;
    server = std::make_unique<GatedServer>(plugvisor::detail::admin_admission(rules), limits);
    server->set_address_family(AF_UNIX);
    server->Get("/hello", [](const httplib::Request&, httplib::Response& res) { res.set_content("hi", "text/plain"); });
    server->set_lean_route(echo_route());
    REQUIRE(server->bind_to_port(socket.string(), 80));
    server->widen_backlog();
    thread = std::thread([this] { server->listen_after_bind(); });
    while (!server->is_running()) std::this_thread::sleep_for(1ms);
  }
  ~TwoWorkers() {
    server->stop();
    thread.join();
    server->stop_workers();
  }
};

std::string echo(const std::string& body, const std::string& extra = "") {
  return "POST /echo HTTP/1.1\r\nHost: localhost\r\n" + extra + "Content-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

std::string body_of(const std::string& answer) {
  auto blank = answer.find("\r\n\r\n");
  return blank == std::string::npos ? "" : answer.substr(blank + 4);
}

}  // namespace

TEST_CASE("the admin server's workers, each keeping a connection, give it up for another connection's request",
          "[daemon][broker][keep]") {
  TwoWorkers two;
  // Six kept-alive connections, three times as many as workers: after its
  // first call each would hold a worker if none were given back.
  std::vector<std::unique_ptr<Raw>> clients;
  for (int i = 0; i < 6; ++i) clients.push_back(std::make_unique<Raw>(two.socket));
  for (int round = 0; round < 5; ++round) {
    for (std::size_t i = 0; i < clients.size(); ++i) {
      const std::string body = "call " + std::to_string(round) + " on " + std::to_string(i);
      REQUIRE(clients[i]->send(echo(body)));
      INFO("round " << round << ", connection " << i);
      REQUIRE(body_of(clients[i]->read_answer()) == body);  // within 5 s: a liveness bound
    }
  }
  // Routes the lean path does not take still reach cpp-httplib on a kept connection.
  REQUIRE(clients[0]->send("GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  CHECK(body_of(clients[0]->read_answer()) == "hi");
}

TEST_CASE("the admin server answers from the head on a kept connection as the gate does", "[daemon][broker][keep]") {
  TwoWorkers two;
  Raw raw(two.socket);
  REQUIRE(raw.send(echo("first")));
  REQUIRE(body_of(raw.read_answer()) == "first");
  // The health probe, answered by the gate, then a call again on the same connection.
  REQUIRE(raw.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  CHECK(raw.read_answer().starts_with("HTTP/1.1 200 "));
  REQUIRE(raw.send(echo("second")));
  CHECK(body_of(raw.read_answer()) == "second");
  // A body over the limit: 413 from the head, and the connection ends.
  REQUIRE(raw.send("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2000\r\n\r\n"));
  std::string refused = raw.read_answer();
  CHECK(refused.starts_with("HTTP/1.1 413 "));
  CHECK(raw.closed_within(5s));
  // A bad head on a kept connection: 400.
  Raw bad(two.socket);
  REQUIRE(bad.send(echo("ok")));
  REQUIRE(body_of(bad.read_answer()) == "ok");
  REQUIRE(bad.send("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length : 1\r\n\r\nx"));
  CHECK(bad.read_answer().starts_with("HTTP/1.1 400 "));
}

TEST_CASE("a kept admin connection whose next head does not come within the head timeout is closed",
          "[daemon][broker][keep][deadline]") {
  TwoWorkers two(300ms);
  Raw idle(two.socket);
  REQUIRE(idle.send(echo("once")));
  REQUIRE(body_of(idle.read_answer()) == "once");
  CHECK(idle.closed_within(5s));

  // A head sent a byte at a time: every read makes progress, the deadline ends it.
  Raw trickle(two.socket);
  REQUIRE(trickle.send(echo("once")));
  REQUIRE(body_of(trickle.read_answer()) == "once");
  const std::string next = echo("never answered");
  bool closed = false;
  for (std::size_t i = 0; i < next.size() && !closed; ++i) {
    if (!trickle.send(next.substr(i, 1))) {  // refused: the daemon closed it (its 408 read in the last wait)
      closed = true;
      break;
    }
    closed = trickle.closed_within(100ms);
  }
  CHECK(closed);  // 300 ms of a head that needs over 6 s at this pace
}

TEST_CASE("the admin server stops with workers keeping idle connections", "[daemon][broker][keep]") {
  auto two = std::make_unique<TwoWorkers>();
  Raw a(two->socket), b(two->socket), c(two->socket);
  for (Raw* raw : {&a, &b, &c}) {
    REQUIRE(raw->send(echo("x")));
    REQUIRE(body_of(raw->read_answer()) == "x");
  }
  two.reset();  // joins every worker: a worker blind to the stop would hang here (ctest's timeout)
  CHECK(a.closed_within(5s));
  CHECK(b.closed_within(5s));
}
