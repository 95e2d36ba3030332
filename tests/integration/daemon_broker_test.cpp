// The call broker's lean path (manager/daemon/src/lean_call.cpp): calls on
// the project's own HTTP/1.1 codec, with what cpp-httplib did for them
// before (100-continue, pipelining, Connection: close, errors) and what it
// still does for the rest (percent-encoded names, chunked bodies, forms).
// Raw sockets to a real daemon in this process, a real plugin behind it.
#include <fstream>
#include <thread>

#include <catch2/catch.hpp>
#include <httplib.h>

#include "admin_clients.hpp"
#include "plugvisor/daemon.hpp"
#include "test_support.hpp"

using plugvisor::Daemon;
using plugvisor::DaemonOptions;
using plugvisor::Json;
using plugvisor::test::Raw;
using plugvisor::test::TempDir;

namespace {

constexpr const char* token = plugvisor::test::TextToolsDaemon::token;

using Broker = plugvisor::test::TextToolsDaemon;  // the example plugin behind a daemon

std::string call_head(const std::string& input, const std::string& extra = "") {
  return "POST /v1/call/dataProcessor/uppercase/processData HTTP/1.1\r\nHost: localhost\r\n"
         "Content-Type: application/octet-stream\r\n" +
         extra + "Content-Length: " + std::to_string(input.size()) + "\r\n\r\n";
}

std::string body_of(const std::string& answer) {
  auto blank = answer.find("\r\n\r\n");
  return blank == std::string::npos ? "" : answer.substr(blank + 4);
}

bool has_header(const std::string& answer, const std::string& line) {
  return answer.substr(0, answer.find("\r\n\r\n") + 2).find("\r\n" + line + "\r\n") != std::string::npos;
}

}  // namespace

TEST_CASE("calls pipelined on one connection are answered in order, each with its provider", "[daemon][broker]") {
  Broker setup;
  Daemon daemon(setup.options());
  Raw raw(setup.socket());
  REQUIRE(raw.connected());
  REQUIRE(raw.send(call_head("one") + "one" + call_head("two") + "two" + call_head("three") + "three"));
  for (const char* expected : {"ONE", "TWO", "THREE"}) {
    std::string answer = raw.read_answer();
    INFO(answer);
    CHECK(answer.starts_with("HTTP/1.1 200 "));
    CHECK(has_header(answer, "X-Plugvisor-Provider: plugin-text-tools"));
    CHECK(has_header(answer, "Content-Type: application/octet-stream"));
    CHECK(body_of(answer) == expected);
  }
  // The connection stays open for more.
  REQUIRE(raw.send(call_head("four") + "four"));
  CHECK(body_of(raw.read_answer()) == "FOUR");
}

TEST_CASE("a call with Expect: 100-continue gets 100 before it sends its body, then its answer", "[daemon][broker]") {
  Broker setup;
  Daemon daemon(setup.options());
  Raw raw(setup.socket());
  REQUIRE(raw.send(call_head("waited", "Expect: 100-continue\r\n")));
  CHECK(raw.read_answer().starts_with("HTTP/1.1 100 Continue\r\n"));
  REQUIRE(raw.send("waited"));
  std::string answer = raw.read_answer();
  CHECK(answer.starts_with("HTTP/1.1 200 "));
  CHECK(body_of(answer) == "WAITED");
}

TEST_CASE("a call with Connection: close is answered, then the daemon closes", "[daemon][broker]") {
  Broker setup;
  Daemon daemon(setup.options());
  Raw raw(setup.socket());
  REQUIRE(raw.send(call_head("bye", "Connection: close\r\n") + "bye"));
  std::string answer = raw.read_answer();
  CHECK(body_of(answer) == "BYE");
  CHECK(has_header(answer, "Connection: close"));
  CHECK(raw.closed_within(std::chrono::seconds(5)));
}

TEST_CASE("the broker's refusals keep their status and error body", "[daemon][broker]") {
  Broker setup;
  Daemon daemon(setup.options());
  Raw raw(setup.socket());
  auto error_code = [](const std::string& answer) {
    Json doc = Json::parse(body_of(answer), nullptr, false);
    return doc.is_object() && doc.contains("error") ? doc["error"].value("code", "") : "(no error body)";
  };
  REQUIRE(raw.send(call_head("x", "X-Plugvisor-Deadline-Ms: soon\r\n") + "x"));
  std::string bad_deadline = raw.read_answer();
  CHECK(bad_deadline.starts_with("HTTP/1.1 400 "));
  CHECK(error_code(bad_deadline) == "invalid_input");
  CHECK_THAT(body_of(bad_deadline), Catch::Contains("X-Plugvisor-Deadline-Ms") && Catch::Contains("soon"));

  REQUIRE(raw.send("POST /v1/call/dataProcessor/nope/processData HTTP/1.1\r\nHost: localhost\r\n"
                   "Content-Length: 1\r\n\r\nx"));
  std::string missing = raw.read_answer();
  CHECK(missing.starts_with("HTTP/1.1 404 "));
  CHECK(error_code(missing) == "not_found");
  CHECK_FALSE(has_header(missing, "X-Plugvisor-Provider: plugin-text-tools"));

  // The connection is still in step after both.
  REQUIRE(raw.send(call_head("ok") + "ok"));
  CHECK(body_of(raw.read_answer()) == "OK");
}

TEST_CASE("percent-encoded names, chunked bodies and forms still reach the broker through cpp-httplib",
          "[daemon][broker]") {
  Broker setup;
  Daemon daemon(setup.options());
  Raw raw(setup.socket());
  // %63 is 'c': the name decodes to "uppercase".
  REQUIRE(raw.send("POST /v1/call/dataProcessor/upper%63ase/processData HTTP/1.1\r\nHost: localhost\r\n"
                   "Content-Type: application/octet-stream\r\nContent-Length: 7\r\n\r\nencoded"));
  CHECK(body_of(raw.read_answer()) == "ENCODED");
  REQUIRE(raw.send("POST /v1/call/dataProcessor/uppercase/processData HTTP/1.1\r\nHost: localhost\r\n"
                   "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "3\r\nchu\r\n4\r\nnked\r\n0\r\n\r\n"));
  CHECK(body_of(raw.read_answer()) == "CHUNKED");
  auto client = plugvisor::test::unix_client(setup.socket(), 5);
  auto form = client->Post("/v1/call/dataProcessor/uppercase/processData", "--x\r\n\r\n--x--\r\n",
                           "multipart/form-data; boundary=x");
  REQUIRE(form);
  CHECK(form->status == 415);
}

TEST_CASE("over TCP a call needs the token, and with it takes the lean path", "[daemon][broker]") {
  Broker setup;
  Daemon daemon(setup.options());
  Raw without(daemon.admin_tcp());
  REQUIRE(without.send(call_head("x") + "x"));
  CHECK(without.read_answer().starts_with("HTTP/1.1 401 "));
  Raw with(daemon.admin_tcp());
  REQUIRE(with.send(call_head("tcp", std::string("Authorization: Bearer ") + token + "\r\n") + "tcp"));
  std::string answer = with.read_answer();
  CHECK(answer.starts_with("HTTP/1.1 200 "));
  CHECK(body_of(answer) == "TCP");
}

TEST_CASE("a client that leaves mid-body frees its worker: more such clients than workers, and calls go on",
          "[daemon][broker]") {
  Broker setup;
  Daemon daemon(setup.options());
  // Each announces 1000 bytes, sends 10 and closes: a worker reads the body
  // and must give the connection up when the client leaves.
  for (int i = 0; i < 40; ++i) {
    Raw raw(setup.socket());
    REQUIRE(raw.send("POST /v1/call/dataProcessor/uppercase/processData HTTP/1.1\r\nHost: localhost\r\n"
                     "Content-Length: 1000\r\n\r\n0123456789"));
  }
  Raw raw(setup.socket());
  REQUIRE(raw.send(call_head("still") + "still"));
  CHECK(body_of(raw.read_answer()) == "STILL");
}
