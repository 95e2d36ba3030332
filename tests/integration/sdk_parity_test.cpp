// One table of malformed and hostile input, run against every plugin
// implementation we ship: the two SDKs (C++ and Python, each through its test
// fixture) and, where the rule is the protocol's or HTTP's rather than an SDK
// limit, the Node and Go example plugins. The SDKs must answer every case the
// same way (issue 11 item 5); the hostile cases are issue 14 items 5, 8 and 9.
// Every plugin is a real process reached over a real socket.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <thread>

#include <catch2/catch.hpp>

#include "plugvisor/contracts.hpp"
#include "plugvisor/wire/http1.hpp"
#include "plugvisor/wire/address.hpp"
#include "process/process_reactor.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using plugvisor::Json;
using plugvisor::detail::ExitStatus;
namespace fs = std::filesystem;
namespace http1 = plugvisor::detail::http1;

namespace {

constexpr const char* token = "parity-token";

/// A plugin implementation and how to launch it by hand.
struct Target {
  std::string name;
  std::string path;               ///< the executable
  std::vector<std::string> args;  ///< before "--config -"
  std::string call_path;          ///< an authorised call that takes a bytes body and answers it
  std::string cap_variable;       ///< the environment variable that sets its connection cap
  bool sdk = false;               ///< one of our SDKs: their limits (431, 408, the cap) apply
};

Target cpp_sdk() {
  return {"C++ SDK", PLUGVISOR_FIXTURE_PATH, {"--mode", "good"}, "/v1/dataProcessor/echo/processData",
          "PLUGVISOR_FIXTURE_MAX_CONNECTIONS", true};
}

Target python_sdk() {
  return {"Python SDK", PLUGVISOR_PYTHON3, {PLUGVISOR_SOURCE_DIR "/sdk-python/tests/fixture_plugin.py"},
          "/v1/dataProcessor/echo/processData", "FIXTURE_MAX_CONNECTIONS", true};
}

/// The SDKs: every case applies.
std::vector<Target> sdks() { return {cpp_sdk(), python_sdk()}; }

/// The SDKs and the example plugins that were built (Node is a script; Go
/// only where `go` was found).
std::vector<Target> every_plugin() {
  auto all = sdks();
  const fs::path dir = PLUGVISOR_PLUGIN_DIR;
  if (fs::exists(dir / "plugin-node-text")) {
    all.push_back({"Node plugin", (dir / "plugin-node-text").string(), {}, "/v1/dataProcessor/slugify/processData", "", false});
  }
  if (fs::exists(dir / "plugin-go-text")) {
    all.push_back({"Go plugin", (dir / "plugin-go-text").string(), {}, "/v1/dataProcessor/reverse/processData", "", false});
  }
  return all;
}

/// One plugin launched by hand as the manager launches it (--config -, one
/// JSON line on stdin, stdin kept open).
class Launched {
 public:
  Launched(const Target& target, Json overrides = Json::object(), std::vector<std::string> env = {},
           const std::function<void(const fs::path&)>& prepare = {}) {
    socket_ = (dir_.path() / "p.sock").string();
    if (prepare) prepare(dir_.path());
    Json config{{"protocolVersion", 1}, {"id", "parity"}, {"type", "unix"},
                {"address", socket_},   {"idleTimeout", "0"}, {"token", token}};
    config.update(overrides);
    plugvisor::detail::SpawnSpec spec;
    spec.path = target.path;
    spec.args = target.args;
    spec.args.insert(spec.args.end(), {"--config", "-"});
    spec.env = {"PATH=/usr/bin:/bin", "PLUGVISOR_PROTOCOL=1"};
    spec.env.insert(spec.env.end(), env.begin(), env.end());
    spec.pipe_stdin = true;
    child_ = reactor_.spawn(spec);
    REQUIRE(child_->write_stdin(config.dump() + "\n", std::chrono::steady_clock::now() + 5s));
    auto line = child_->wait_first_line(std::chrono::steady_clock::now() + 10s);
    if (line) handshake_ = Json::parse(*line, nullptr, false);
  }

  const Json& handshake() const { return handshake_; }
  const fs::path& dir() const { return dir_.path(); }
  plugvisor::detail::ChildProcess& child() { return *child_; }
  std::optional<ExitStatus> wait_exit(std::chrono::milliseconds limit = 10s) {
    return child_->wait_until(std::chrono::steady_clock::now() + limit);
  }

  /// A new connection to the address of the handshake (-1 if refused).
  int connect() const {
    int fd = -1;
    if (handshake_.value("type", "") == "tcp") {
      auto address = plugvisor::wire::parse_plugin_tcp_address(handshake_["address"].get<std::string>(), false);
      REQUIRE(address);
      socklen_t size = 0;
      sockaddr_storage addr = address.address.socket_address(size);
      fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      int yes = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), size) != 0) {
        ::close(fd);
        return -1;
      }
    } else {
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::strncpy(addr.sun_path, socket_.c_str(), sizeof addr.sun_path - 1);
      fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
      }
    }
    return fd;
  }

 private:
  plugvisor::test::TempDir dir_;
  std::string socket_;
  plugvisor::detail::ProcessReactor reactor_;
  std::shared_ptr<plugvisor::detail::ChildProcess> child_;
  Json handshake_;
};

/// An answer as read from the wire: status 0 when none came.
struct Answer {
  int status = 0;
  std::string code;   ///< error.code of the JSON error body, if any
  std::string body;
  bool close = false; ///< it said Connection: close
};

/// Reads one response from `fd`, waiting at most `limit` in all (a liveness bound).
Answer read_answer(int fd, std::chrono::milliseconds limit = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::string bytes;
  http1::ResponseHead head;
  bool ended = false;  // the peer closed: a body without a length ends there
  while (true) {
    auto parsed = http1::parse_response_head(bytes, head);
    if (parsed.state == http1::ParseResult::invalid) return {};
    const bool whole =
        parsed.state == http1::ParseResult::complete &&
        ((head.framing == http1::Framing::length && bytes.size() >= parsed.size + head.content_length) ||
         (head.framing == http1::Framing::until_close && ended));
    if (whole) {
      std::size_t length = head.framing == http1::Framing::length ? head.content_length : bytes.size() - parsed.size;
      Answer answer{head.status, "", bytes.substr(parsed.size, length), !head.keep_alive};
      auto doc = Json::parse(answer.body, nullptr, false);
      if (doc.is_object() && doc.contains("error") && doc["error"].is_object()) {
        answer.code = doc["error"].value("code", "");
      }
      return answer;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1) return {};
    char buffer[8192];
    ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got <= 0) {
      if (ended || got < 0) return {};
      ended = true;  // Node and Go answer a malformed head with no length, then close
      continue;
    }
    bytes.append(buffer, static_cast<std::size_t>(got));
  }
}

/// Writes `bytes` whole (false if the peer closed first).
bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

/// Sends `request` on the open connection `fd`; the status of the answer (0: none).
int ask_on(int fd, const std::string& request) { return write_all(fd, request) ? read_answer(fd).status : 0; }

/// Sends `request` on a new connection and reads the answer.
Answer ask(const Launched& plugin, const std::string& request) {
  int fd = plugin.connect();
  REQUIRE(fd >= 0);
  write_all(fd, request);
  Answer answer = read_answer(fd);
  ::close(fd);
  return answer;
}

/// True once the peer has closed `fd` (reads until end of file or `limit`).
bool closed_within(int fd, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  char buffer[4096];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1) return false;
    ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got <= 0) return true;
  }
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

/// One malformed request and what every plugin it applies to answers.
struct Case {
  const char* what;
  std::string request;  ///< {AUTH} is the Authorization line, {CALL} the target's call path
  int status;
  const char* code;     ///< the error code of the JSON body ("" when not checked)
  bool sdk_only;        ///< a limit of our SDKs, not a rule of HTTP or the protocol
};

const std::vector<Case>& malformed_requests() {
  static const std::string big_value(http1::max_head_bytes, 'a');
  static const std::vector<Case> cases = [] {
    std::string many_headers;
    for (std::size_t i = 0; i <= http1::max_header_lines; ++i) many_headers += "X-" + std::to_string(i) + ": v\r\n";
    std::string after_crlfs = "\r\n\r\nGET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: ";
    after_crlfs += std::string(http1::max_head_bytes + 1 - after_crlfs.size(), 'a');
    return std::vector<Case>{
        {"whitespace between a header name and its colon",
         "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Bad : v\r\n\r\n", 400, "invalid_input", false},
        {"a tab between a header name and its colon",
         "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Bad\t: v\r\n\r\n", 400, "invalid_input", true},
        // RFC 9112 5.2 lets a server unfold instead (Go's net/http does).
        {"a folded header line", "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-A: v\r\n  w\r\n\r\n", 400,
         "invalid_input", true},
        {"chunk data not followed by CRLF",
         "POST {CALL} HTTP/1.1\r\nHost: localhost\r\n{AUTH}Content-Type: application/octet-stream\r\n"
         "Transfer-Encoding: chunked\r\n\r\n3\r\nabcXY\r\n0\r\n\r\n",
         400, "", false},
        {"a chunk size that is not hexadecimal",
         "POST {CALL} HTTP/1.1\r\nHost: localhost\r\n{AUTH}Content-Type: application/octet-stream\r\n"
         "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
         400, "", false},
        {"a head over 64 KiB", "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Big: " + big_value + "\r\n\r\n", 431,
         "invalid_input", true},
        {"a head of 64 KiB after four CRLFs, unfinished", after_crlfs, 431, "invalid_input", true},
        {"more than 100 header lines", "GET /healthz HTTP/1.1\r\nHost: localhost\r\n" + many_headers + "\r\n", 431,
         "invalid_input", true},
        {"a Content-Length of 5000 digits",
         "POST {CALL} HTTP/1.1\r\nHost: localhost\r\n{AUTH}Content-Length: " + std::string(5000, '9') + "\r\n\r\n",
         400, "invalid_input", true},
        {"a Content-Length of 19 digits",
         "POST {CALL} HTTP/1.1\r\nHost: localhost\r\n{AUTH}Content-Length: 9999999999999999999\r\n\r\n", 400,
         "invalid_input", true},
        {"a deadline header of 5000 digits",
         "POST {CALL} HTTP/1.1\r\nHost: localhost\r\n{AUTH}X-Plugvisor-Deadline-Ms: " + std::string(5000, '9') +
             "\r\nContent-Type: application/octet-stream\r\nContent-Length: 1\r\n\r\nx",
         400, "invalid_input", false},
        {"a deadline header with a sign",
         "POST {CALL} HTTP/1.1\r\nHost: localhost\r\n{AUTH}X-Plugvisor-Deadline-Ms: -5\r\n"
         "Content-Type: application/octet-stream\r\nContent-Length: 1\r\n\r\nx",
         400, "invalid_input", false},
        {"a transfer coding other than chunked",
         "POST {CALL} HTTP/1.1\r\nHost: localhost\r\n{AUTH}Transfer-Encoding: gzip\r\n\r\n", 501, "invalid_input",
         true},
        {"both Content-Length and Transfer-Encoding",
         "POST {CALL} HTTP/1.1\r\nHost: localhost\r\n{AUTH}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
         "3\r\nabc\r\n0\r\n\r\n",
         400, "invalid_input", true},
        {"HTTP/2.0 in the request line", "GET /healthz HTTP/2.0\r\nHost: localhost\r\n\r\n", 505, "invalid_input",
         true},
        {"a request line of one word", "NONSENSE\r\n\r\n", 400, "invalid_input", true},
        {"a bare CR in a header value", "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-A: a\rb\r\n\r\n", 400,
         "invalid_input", true},
        {"a call without the token announcing 32 MiB (answered from the head)",
         "POST {CALL} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 33554432\r\n\r\n", 401, "unauthorized", false},
        {"a call with a wrong token", "POST {CALL} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer wrong\r\n"
         "Content-Length: 0\r\n\r\n", 401, "unauthorized", false},
        {"two Authorization headers, the right one first",
         "POST {CALL} HTTP/1.1\r\nHost: localhost\r\n{AUTH}Authorization: Bearer wrong\r\nContent-Length: 0\r\n\r\n",
         401, "unauthorized", true},
        {"the right Authorization header twice",
         "POST {CALL} HTTP/1.1\r\nHost: localhost\r\n{AUTH}{AUTH}Content-Length: 0\r\n\r\n", 401, "unauthorized", true},
        {"GET on a call path", "GET {CALL} HTTP/1.1\r\nHost: localhost\r\n{AUTH}\r\n", 404, "not_found", false},
        {"an unknown endpoint", "POST /elsewhere HTTP/1.1\r\nHost: localhost\r\n{AUTH}Content-Length: 0\r\n\r\n", 404,
         "not_found", false},
    };
  }();
  return cases;
}

/// Starts threads that send one byte on each of `fds` every `pace` until
/// stopped: a client trickling request heads (issue 14 item 8).
class Trickler {
 public:
  Trickler(std::vector<int> fds, std::chrono::milliseconds pace) : fds_(std::move(fds)) {
    thread_ = std::thread([this, pace] {
      const std::string head = "POST /v1/dataProcessor/echo/processData HTTP/1.1\r\nHost: localhost\r\n";
      std::size_t at = 1;  // the first byte went at once
      while (!stop_) {
        for (int fd : fds_) ::send(fd, head.data() + at % head.size(), 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        ++at;
        for (auto slept = 0ms; slept < pace && !stop_; slept += 50ms) std::this_thread::sleep_for(50ms);
      }
    });
  }
  ~Trickler() {
    stop_ = true;
    thread_.join();
    for (int fd : fds_) ::close(fd);
  }
  const std::vector<int>& fds() const { return fds_; }

 private:
  std::vector<int> fds_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::string authorization() { return std::string("Authorization: Bearer ") + token + "\r\n"; }

std::string call_request(const Target& target, std::string_view body) {
  return "POST " + target.call_path + " HTTP/1.1\r\nHost: localhost\r\n" + authorization() +
         "Content-Type: application/octet-stream\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
         std::string(body);
}

}  // namespace

TEST_CASE("every plugin answers the table of malformed requests alike, and keeps serving", "[parity]") {
  for (const auto& target : every_plugin()) {
    DYNAMIC_SECTION(target.name) {
      Launched plugin(target);
      REQUIRE(plugin.handshake().is_object());
      for (const auto& c : malformed_requests()) {
        if (c.sdk_only && !target.sdk) continue;
        CAPTURE(target.name, c.what);
        auto request = replace_all(replace_all(c.request, "{AUTH}", authorization()), "{CALL}", target.call_path);
        Answer answer = ask(plugin, request);
        CHECK(answer.status == c.status);
        if (*c.code && target.sdk) CHECK(answer.code == c.code);
      }
      Answer health = ask(plugin, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
      CHECK(health.status == 200);
      CHECK(ask(plugin, call_request(target, "still here")).status == 200);
    }
  }
}

TEST_CASE("a call pipelined behind /shutdown is never run: the plugin stops admitting before its 202",
          "[parity][shutdown]") {
  for (const auto& target : every_plugin()) {
    DYNAMIC_SECTION(target.name) {
      Launched plugin(target);
      REQUIRE(plugin.handshake().is_object());
      int fd = plugin.connect();
      REQUIRE(fd >= 0);
      const std::string shutdown = "POST /shutdown HTTP/1.1\r\nHost: localhost\r\n" + authorization() +
                                   "Content-Length: 0\r\n\r\n";
      REQUIRE(write_all(fd, shutdown + call_request(target, "pipelined")));  // one write: both arrive together
      std::string bytes;
      char buffer[4096];
      const auto deadline = std::chrono::steady_clock::now() + 5s;  // a liveness bound
      while (std::chrono::steady_clock::now() < deadline) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 100) != 1) continue;
        ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
        if (got <= 0) break;  // closed (the 202 may say Connection: close)
        bytes.append(buffer, static_cast<std::size_t>(got));
      }
      ::close(fd);
      http1::ResponseHead first;
      auto parsed = http1::parse_response_head(bytes, first);
      REQUIRE(parsed.state == http1::ParseResult::complete);
      CHECK(first.status == 202);
      // The call is answered 503 (not run), or not at all when the shutdown
      // closed the connection first; never 200.
      std::string rest = bytes.substr(std::min(bytes.size(), parsed.size + first.content_length));
      http1::ResponseHead second;
      if (http1::parse_response_head(rest, second).state == http1::ParseResult::complete) {
        CAPTURE(rest);
        CHECK(second.status == 503);
      }
      auto exit = plugin.wait_exit();
      REQUIRE(exit);
      CHECK(exit->code == 0);
    }
  }
}

TEST_CASE("a refused request whose body is still coming gets its answer, not a reset (linger)", "[parity]") {
  for (const auto& target : sdks()) {
    DYNAMIC_SECTION(target.name) {
      // Over TCP, where closing with unread bytes sends a reset that can
      // destroy the answer before the client reads it.
      Launched plugin(target, Json{{"type", "tcp"}, {"address", "127.0.0.1:0"}, {"maxBodyBytes", 1000}});
      REQUIRE(plugin.handshake().is_object());
      int fd = plugin.connect();
      REQUIRE(fd >= 0);
      const std::string body(4 << 20, 'x');  // over the 1 MiB a plugin reads and drops
      std::string request = "POST " + target.call_path + " HTTP/1.1\r\nHost: localhost\r\n" + authorization() +
                            "Content-Type: application/octet-stream\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n";
      REQUIRE(write_all(fd, request));
      std::thread sender([&] { write_all(fd, body); });  // stops when the plugin closes
      Answer answer = read_answer(fd);
      ::shutdown(fd, SHUT_RDWR);
      sender.join();
      ::close(fd);
      CHECK(answer.status == 413);
      CHECK(answer.code == "too_large");
      CHECK(answer.close);
    }
  }
}

TEST_CASE("a TCP address other than 127.0.0.1:PORT exits 2 with nothing on stdout", "[parity][config]") {
  for (const auto& target : every_plugin()) {
    DYNAMIC_SECTION(target.name) {
      for (const char* address : {"localhost:0", "[::1]:0", "0.0.0.0:0", "127.0.0.1:+1", "127.0.0.1: 1",
                                  "127.0.0.1:65536", "127.0.0.1", "127.0.0.1:000000"}) {
        CAPTURE(target.name, address);
        Launched plugin(target, Json{{"type", "tcp"}, {"address", address}});
        CHECK_FALSE(plugin.handshake().is_object());
        auto exit = plugin.wait_exit();
        REQUIRE(exit);
        CHECK(exit->code == plugvisor::protocol::exit_usage);
        CHECK_FALSE(plugin.child().first_line_seen());
      }
    }
  }
}

TEST_CASE("a configTypes entry that is not an object with a string type exits 2 with nothing on stdout",
          "[parity][config]") {
  for (const auto& target : every_plugin()) {
    DYNAMIC_SECTION(target.name) {
      for (const Json& entry : {Json(5), Json::object({{"data", 1}}), Json::object({{"type", 7}, {"data", 1}}),
                                Json(nullptr), Json::array({"a"})}) {
        CAPTURE(target.name, entry.dump());
        Launched plugin(target, Json{{"configTypes", Json::array({entry})}});
        CHECK_FALSE(plugin.handshake().is_object());
        auto exit = plugin.wait_exit();
        REQUIRE(exit);
        CHECK(exit->code == plugvisor::protocol::exit_usage);
        CHECK_FALSE(plugin.child().first_line_seen());
      }
    }
  }
}

TEST_CASE("a launch configuration nested one level deeper than the JSON limit exits 2, one at the limit starts",
          "[parity][config]") {
  // The object itself is one level: `extra` holds the rest.
  auto nested = [](std::size_t arrays) {
    Json value = Json::array();
    for (std::size_t i = 1; i < arrays; ++i) value = Json::array({std::move(value)});
    return value;
  };
  const std::size_t limit = plugvisor::protocol::max_json_depth;
  for (const auto& target : sdks()) {
    DYNAMIC_SECTION(target.name) {
      {
        Launched plugin(target, Json{{"extra", nested(limit - 1)}});
        CHECK(plugin.handshake().is_object());
      }
      Launched plugin(target, Json{{"extra", nested(limit)}});
      CHECK_FALSE(plugin.handshake().is_object());
      auto exit = plugin.wait_exit();
      REQUIRE(exit);
      CHECK(exit->code == plugvisor::protocol::exit_usage);
    }
  }
}

TEST_CASE("a file that is not a socket at the socket path is left alone and the launch exits 3", "[parity][lock]") {
  for (const auto& target : every_plugin()) {
    DYNAMIC_SECTION(target.name) {
      for (const char* kind : {"regular file", "regular file with a stale lock", "directory"}) {
        CAPTURE(target.name, kind);
        Launched plugin(target, Json::object(), {}, [&](const fs::path& dir) {
          if (std::string_view(kind) == "directory") {
            fs::create_directory(dir / "p.sock");
            std::ofstream(dir / "p.sock" / "inside") << "kept";
          } else {
            std::ofstream(dir / "p.sock") << "my notes";
          }
          if (std::string_view(kind).ends_with("stale lock")) std::ofstream(dir / "p.sock.lock") << "999999999\n";
        });
        auto exit = plugin.wait_exit();
        REQUIRE(exit);
        CHECK(exit->code == plugvisor::protocol::exit_bind);
        CHECK_FALSE(plugin.child().first_line_seen());
        if (std::string_view(kind) == "directory") {
          CHECK(fs::exists(plugin.dir() / "p.sock" / "inside"));
        } else {
          std::ifstream in(plugin.dir() / "p.sock");
          std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
          CHECK(text == "my notes");
        }
        CHECK_FALSE(fs::exists(plugin.dir() / "p.sock.lock"));
      }
    }
  }
}

TEST_CASE("a head trickled a byte at a time is cut at the head deadline with 408", "[parity][attack]") {
  for (const auto& target : sdks()) {
    DYNAMIC_SECTION(target.name) {
      Launched plugin(target, Json{{"type", "tcp"}, {"address", "127.0.0.1:0"}});
      REQUIRE(plugin.handshake().is_object());
      int fd = plugin.connect();
      REQUIRE(fd >= 0);
      // One byte every 500 ms for as long as the test lasts: a deadline per
      // read never fires. The head deadline is 5 s; 15 s is a liveness bound.
      REQUIRE(write_all(fd, "P"));
      Trickler trickle({fd}, 500ms);
      Answer answer = read_answer(fd, 15s);
      CHECK(answer.status == 408);
      CHECK(answer.close);
      CHECK(closed_within(fd, 5s));
    }
  }
}

TEST_CASE("a connection that carried an authorised call is still held to the head deadline", "[parity][keep]") {
  // The manager's kept-alive connections: the C++ SDK waits for their next
  // head with one blocking read, bounded by the same 5 s as any other.
  for (const auto& target : sdks()) {
    DYNAMIC_SECTION(target.name) {
      Launched plugin(target, Json::object());
      REQUIRE(plugin.handshake().is_object());
      int idle = plugin.connect();
      int trickled = plugin.connect();
      REQUIRE(idle >= 0);
      REQUIRE(trickled >= 0);
      REQUIRE(ask_on(trickled, call_request(target, "proven")) == 200);
      const auto before_last_answer = std::chrono::steady_clock::now();
      REQUIRE(ask_on(idle, call_request(target, "proven")) == 200);
      // Idle: closed quietly, not before the head timeout. Trickled: 408 at
      // the head deadline, whatever the pace (15 s are liveness bounds).
      REQUIRE(write_all(trickled, "P"));
      Trickler trickle({trickled}, 500ms);
      CHECK(closed_within(idle, 15s));
      CHECK(std::chrono::steady_clock::now() - before_last_answer >= 5s);
      ::close(idle);
      Answer answer = read_answer(trickled, 15s);
      CHECK(answer.status == 408);
      CHECK(answer.close);
    }
  }
}

TEST_CASE("1100 connections trickling heads over TCP cannot starve /healthz or an authorised call",
          "[parity][attack]") {
  for (const auto& target : sdks()) {
    DYNAMIC_SECTION(target.name) {
      // The default cap (1024 connections), 1,100 unauthenticated clients:
      // two thirds send a head byte every second, a third send nothing.
      Launched plugin(target, Json{{"type", "tcp"}, {"address", "127.0.0.1:0"}});
      REQUIRE(plugin.handshake().is_object());
      std::vector<int> attackers;
      for (int i = 0; i < 1100; ++i) {
        int fd = plugin.connect();
        REQUIRE(fd >= 0);
        if (i % 3 != 0) write_all(fd, "P");
        attackers.push_back(fd);
      }
      std::vector<int> trickling;
      for (std::size_t i = 0; i < attackers.size(); ++i) {
        if (i % 3 != 0) trickling.push_back(attackers[i]);
      }
      Trickler trickle(trickling, 1000ms);
      // The health probe and a call, each on a new connection, as the
      // manager makes them: answered within 5 s (a liveness bound: the
      // supervisor gives up on a probe after that and kills the plugin).
      for (int round = 0; round < 3; ++round) {
        CAPTURE(round);
        CHECK(ask(plugin, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").status == 200);
        Answer call = ask(plugin, call_request(target, "mine"));
        CHECK(call.status == 200);
        CHECK(call.body == "mine");
      }
      for (std::size_t i = 0; i < attackers.size(); ++i) {
        if (i % 3 == 0) ::close(attackers[i]);
      }
    }
  }
}

TEST_CASE("at the cap an authorised connection is never given up for a newcomer, an idle unproven one is",
          "[parity][attack]") {
  for (const auto& target : sdks()) {
    DYNAMIC_SECTION(target.name) {
      Launched plugin(target, Json::object(), {target.cap_variable + "=4"});
      REQUIRE(plugin.handshake().is_object());
      // Four connections that carried an authorised call: the cap is full.
      std::vector<int> proven;
      for (int i = 0; i < 4; ++i) {
        int fd = plugin.connect();
        REQUIRE(write_all(fd, call_request(target, "a")));
        REQUIRE(read_answer(fd).status == 200);
        proven.push_back(fd);
      }
      // A newcomer waits in the backlog: nothing may be given up.
      int waiting = plugin.connect();
      REQUIRE(write_all(waiting, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"));
      CHECK(read_answer(waiting, 500ms).status == 0);
      for (int fd : proven) CHECK(ask_on(fd, call_request(target, "b")) == 200);
      // One authorised connection closes: the newcomer is served; it is
      // unproven (a health check), so the next newcomer replaces it.
      ::close(proven.back());
      proven.pop_back();
      CHECK(read_answer(waiting).status == 200);
      int next = plugin.connect();
      REQUIRE(write_all(next, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"));
      CHECK(read_answer(next).status == 200);
      CHECK(closed_within(waiting, 5s));
      ::close(waiting);
      ::close(next);
      for (int fd : proven) ::close(fd);
    }
  }
}

TEST_CASE("the exit codes have the same names and values in both SDKs", "[parity][exit]") {
  plugvisor::test::TempDir dir;
  const auto out = dir.path() / "codes";
  const std::string command = std::string("PYTHONPATH=" PLUGVISOR_SOURCE_DIR "/sdk-python/src ") + PLUGVISOR_PYTHON3 +
                              " -c 'import plugvisor_sdk as s; print(s.EXIT_OK, s.EXIT_ABANDONED, s.EXIT_USAGE, "
                              "s.EXIT_BIND)' > " + out.string();
  REQUIRE(std::system(command.c_str()) == 0);
  std::ifstream in(out);
  int ok = -1, abandoned = -1, usage = -1, bind = -1;
  in >> ok >> abandoned >> usage >> bind;
  CHECK(ok == plugvisor::protocol::exit_ok);
  CHECK(abandoned == plugvisor::protocol::exit_abandoned);
  CHECK(usage == plugvisor::protocol::exit_usage);
  CHECK(bind == plugvisor::protocol::exit_bind);
}
