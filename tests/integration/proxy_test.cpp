// The reverse-proxy example end to end: a real upstream (cpp-httplib, in
// this process), the plugvisor-proxy process, and its filter plugins (the
// example plugins and tests/fixtures/filter_fixture.cpp) as real processes.
// One proxy serves every section (it is started once per test process).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include <httplib.h>

#include "test_support.hpp"

namespace fs = std::filesystem;
using plugvisor::Json;
using plugvisor::test::TempDir;

namespace {

// The upstream the proxy forwards to: what it saw is kept for checks.
class Upstream {
 public:
  Upstream() {
    server_.Get("/api/user", [this](const httplib::Request& req, httplib::Response& res) {
      remember(req);
      res.set_header("Server", "upstream/1.0");
      res.set_content(R"({"name":"ada","password":"hunter2","profile":{"ssn":"078-05-1120","city":"London"}})",
                      "application/json");
    });
    server_.Get("/big/.*", [this](const httplib::Request& req, httplib::Response& res) {
      remember(req);
      res.set_content(std::string(300 * 1024, 'b'), "text/plain");
    });
    auto echo = [this](const httplib::Request& req, httplib::Response& res) {
      remember(req);
      if (req.path == "/plain/own-pseudo") res.set_header("Remote_Addr", "the upstream's own");
      res.set_content(req.body.empty() ? "upstream saw " + req.path : req.body,
                      req.get_header_value("Content-Type").empty() ? "text/plain" : req.get_header_value("Content-Type"));
    };
    server_.Get(".*", echo);
    server_.Post(".*", echo);
    // A thread per connection the proxy keeps alive: as many as requests in
    // flight at once, more than the default 8 in the concurrency test.
    server_.new_task_queue = [] { return new httplib::ThreadPool(64); };
    server_.set_keep_alive_max_count(1000);  // the default 5 reconnects every 5th request
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~Upstream() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  /// How many connections (client ports) its requests have come on.
  std::size_t connections() {
    std::lock_guard lock(mutex_);
    return ports_.size();
  }
  /// The headers of the last request the upstream got for `path`.
  httplib::Headers last(const std::string& path) {
    std::lock_guard lock(mutex_);
    return seen_[path];
  }

 private:
  void remember(const httplib::Request& req) {
    std::lock_guard lock(mutex_);
    seen_[req.path] = req.headers;
    ports_.insert(req.remote_port);
  }
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mutex_;
  std::map<std::string, httplib::Headers> seen_;
  std::set<int> ports_;  // the client ports of the connections requests came on
};

// plugvisor-proxy as a child process; its port from its "listening on" line.
class ProxyProcess {
 public:
  // stderr goes to a file next to the configuration: a pipe nobody drains
  // would block the proxy once its log filled the pipe.
  explicit ProxyProcess(const fs::path& config) : log_(config.string() + ".log") {
    int out[2];
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    int err = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    REQUIRE(err >= 0);
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    pid_ = child;
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::dup2(err, 2);
      ::execl(PLUGVISOR_PROXY_BIN, PLUGVISOR_PROXY_BIN, "--config", config.c_str(), nullptr);
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err);
    out_ = out[0];
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10 * plugvisor::test::timing_scale);
    while (port_ == 0 && std::chrono::steady_clock::now() < end) {
      std::string line = read_line(out_, std::chrono::duration_cast<std::chrono::milliseconds>(
                                             end - std::chrono::steady_clock::now()));
      if (line.empty()) break;  // end of output: it exited
      auto colon = line.rfind(':');
      if (line.rfind("listening on ", 0) == 0 && colon != std::string::npos) port_ = std::stoi(line.substr(colon + 1));
    }
  }
  ~ProxyProcess() {
    // Only a child we still own: kill(-1, ...) would signal every process we may signal.
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (out_ >= 0) ::close(out_);
  }
  int port() const { return port_; }
  /// Waits for the process to exit; its exit code and stderr.
  std::pair<int, std::string> wait_exit() {
    REQUIRE(pid_ > 0);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    std::ifstream in(log_);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    pid_ = -1;
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text};
  }

 private:
  static std::string read_line(int fd, std::chrono::milliseconds limit) {
    std::string line;
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char c;
      if (::read(fd, &c, 1) != 1 || c == '\n') break;
      line.push_back(c);
    }
    return line;
  }
  pid_t pid_ = -1;
  std::string log_;
  int out_ = -1;
  int port_ = 0;
};

Json filter(const std::string& type, int priority, std::vector<std::string> paths, Json extra = Json::object()) {
  Json j{{"type", type}, {"priority", priority}, {"paths", paths}};
  j.update(extra);
  return j;
}

// Everything one proxy needs, made once per test process.
struct Setup {
  TempDir dir;
  Upstream upstream;
  fs::path flag_file = dir.path() / "maintenance-on";
  std::unique_ptr<ProxyProcess> proxy;

  Setup() {
    std::string up = "http://127.0.0.1:" + std::to_string(upstream.port());
    Json config{
        {"listen", "127.0.0.1:0"},
        {"routes", {{{"name", "main"}, {"prefix", "/"}, {"upstream", up}},
                    {{"name", "down"}, {"prefix", "/down/"}, {"upstream", "http://127.0.0.1:1"}}}},
        {"body", {{"filterLimit", 64 * 1024}, {"oversize", "pass"}, {"max", 1024 * 1024}}},
        {"pluginDirs", {PLUGVISOR_PROXY_PLUGIN_DIR, PLUGVISOR_FILTER_FIXTURE_DIR}},
        {"configTypes",
         {{"proxy.headers",
           {{"request", {{"set", {{"x-via", "plugvisor-proxy"}}}, {"remove", {"x-debug"}}, {"rename", {{"x-old", "x-new"}}}}},
            {"response", {{"remove", {"server"}}, {"add", {{"x-frame-options", "DENY"}}}}},
            {"requestId", "x-request-id"}}},
          {"proxy.rate-limit", {{"rate", 0.01}, {"burst", 3}}},
          {"proxy.redact", {{"fields", {"password", "ssn"}}}},
          {"proxy.cache", {{"rules", {{{"paths", {"/static/*"}}, {"cacheControl", "public, max-age=3600"}}}}}},
          {"proxy.maintenance", {{"flagFile", flag_file.string()}, {"retryAfter", 120}, {"allow", {"/healthz"}}}}}},
        {"filters",
         {filter("maintenance", 100, {}),
          filter("rate-limit", 90, {"/limited/*"}),
          filter("headers", 50, {"/api/*", "/static/*"}),
          filter("redact", 40, {"/api/*"}, {{"failure", "fail-closed"}}),
          filter("cache", 30, {"/static/*"}),
          filter("slow", 20, {"/slow-open/*"}, {{"timeout", "300ms"}, {"breaker", {{"failures", 0}}}}),
          filter("slow", 20, {"/slow-closed/*"},
                 {{"timeout", "300ms"}, {"failure", "fail-closed"}, {"breaker", {{"failures", 2}, {"coolDown", "1h"}}}}),
          filter("crashy", 20, {"/crashy/*"}, {{"breaker", {{"failures", 0}}}}),
          filter("crashy", 20, {"/crashy-closed/*"}, {{"failure", "fail-closed"}, {"breaker", {{"failures", 0}}}}),
          filter("malformed", 20, {"/malformed-open/*"}),
          filter("malformed", 20, {"/malformed/*"}, {{"failure", "fail-closed"}}),
          filter("overreach", 20, {"/overreach/*"}, {{"failure", "fail-closed"}}),
          filter("body-echo", 20, {"/echo-body/*"})}}};
    auto file = dir.add_file("proxy.json", config.dump(2), 0644);
    proxy = std::make_unique<ProxyProcess>(file);
    REQUIRE(proxy->port() > 0);
  }
};

Setup& setup() {
  static Setup instance;
  return instance;
}

httplib::Client client(int port) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(10 * plugvisor::test::timing_scale, 0);
  return c;
}

Json body_json(const httplib::Result& result) { return Json::parse(result->body); }

}  // namespace

TEST_CASE("the proxy runs filter plugins at their hooks and handles each failure per its mode", "[proxy]") {
  Setup& s = setup();
  auto c = client(s.proxy->port());

  SECTION("a request no filter selects passes through untouched") {
    auto r = c.Get("/plain/x", {{"X-Debug", "1"}});
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "upstream saw /plain/x");
    auto seen = s.upstream.last("/plain/x");
    CHECK(seen.count("x-via") == 0);
    CHECK(seen.count("X-Debug") == 1);
  }

  SECTION("the header filter rewrites request and response headers from its config") {
    auto r = c.Get("/api/user", {{"X-Debug", "1"}, {"X-Old", "legacy"}});
    REQUIRE(r);
    CHECK(r->status == 200);
    auto seen = s.upstream.last("/api/user");
    CHECK(seen.count("x-via") == 1);
    CHECK(seen.count("X-Debug") == 0);
    CHECK(seen.count("x-old") == 0);
    CHECK(seen.find("x-new")->second == "legacy");
    REQUIRE(seen.count("x-request-id") == 1);
    CHECK(r->get_header_value("X-Request-Id") == seen.find("x-request-id")->second);
    CHECK_FALSE(r->has_header("Server"));
    CHECK(r->get_header_value("X-Frame-Options") == "DENY");
  }

  SECTION("a header that is not UTF-8 is answered 400 naming it, and the next request is filtered as usual") {
    auto bad = c.Get("/api/user", {{"X-Latin", "caf\xe9"}});
    REQUIRE(bad);
    CHECK(bad->status == 400);
    CHECK_THAT(bad->body, Catch::Contains("header 'x-latin'") && Catch::Contains("not UTF-8"));
    auto good = c.Get("/api/user", {{"X-Latin", "caf\xc3\xa9"}});
    REQUIRE(good);
    CHECK(good->status == 200);
    CHECK(s.upstream.last("/api/user").find("x-latin")->second == "caf\xc3\xa9");
  }

  SECTION("the redactor replaces configured fields in a JSON response") {
    auto r = c.Get("/api/user");
    REQUIRE(r);
    Json doc = body_json(r);
    CHECK(doc["password"] == "[redacted]");
    CHECK(doc["profile"]["ssn"] == "[redacted]");
    CHECK(doc["profile"]["city"] == "London");
    CHECK(doc["name"] == "ada");
  }

  SECTION("the redactor redacts request bodies, and refuses a body that claims JSON but is not (fail-closed)") {
    auto r = c.Post("/api/login", R"({"user":"ada","password":"hunter2"})", "application/json");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(body_json(r)["password"] == "[redacted]");
    auto bad = c.Post("/api/login", "{not json", "application/json");
    REQUIRE(bad);
    CHECK(bad->status == 502);
    CHECK_THAT(bad->body, Catch::Contains("filter 'redact'") && Catch::Contains("says it is JSON but is not"));
  }

  SECTION("the cache plugin sets Cache-Control and ETag, and answers If-None-Match with 304") {
    auto r = c.Get("/static/app.js");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->get_header_value("Cache-Control") == "public, max-age=3600");
    std::string etag = r->get_header_value("ETag");
    REQUIRE(etag.size() > 2);
    auto again = c.Get("/static/app.js", {{"If-None-Match", etag}});
    REQUIRE(again);
    CHECK(again->status == 304);
    CHECK(again->body.empty());
    auto changed = c.Get("/static/app.js", {{"If-None-Match", "\"other\""}});
    REQUIRE(changed);
    CHECK(changed->status == 200);
  }

  SECTION("the rate limiter answers 429 with Retry-After past its burst, per client and route") {
    int ok = 0, limited = 0;
    std::string retry_after;
    for (int i = 0; i < 5; ++i) {
      auto r = c.Get("/limited/x");
      REQUIRE(r);
      if (r->status == 200) ++ok;
      if (r->status == 429) {
        ++limited;
        retry_after = r->get_header_value("Retry-After");
        CHECK_THAT(r->body, Catch::Contains("rate_limited"));
      }
    }
    CHECK(ok == 3);
    CHECK(limited == 2);
    CHECK(std::stoi(retry_after) >= 1);
  }

  SECTION("maintenance mode answers 503 with its page while the flag file exists, except allowed paths") {
    std::ofstream(s.flag_file) << "on";
    auto r = c.Get("/anything");
    auto allowed = c.Get("/healthz");
    fs::remove(s.flag_file);
    REQUIRE(r);
    CHECK(r->status == 503);
    CHECK(r->get_header_value("Retry-After") == "120");
    CHECK_THAT(r->body, Catch::Contains("maintenance"));
    REQUIRE(allowed);
    CHECK(allowed->status == 200);
    auto after = c.Get("/anything");
    REQUIRE(after);
    CHECK(after->status == 200);
  }

  SECTION("a filter that times out is skipped under fail-open and answers 502 under fail-closed, then its circuit opens") {
    auto open = c.Get("/slow-open/x");
    REQUIRE(open);
    CHECK(open->status == 200);
    CHECK(open->body == "upstream saw /slow-open/x");
    auto closed = c.Get("/slow-closed/x");
    REQUIRE(closed);
    CHECK(closed->status == 502);
    CHECK_THAT(closed->body, Catch::Contains("filter 'slow'") && Catch::Contains("timeout"));
    auto second = c.Get("/slow-closed/x");
    REQUIRE(second);
    CHECK(second->status == 502);
    auto tripped = c.Get("/slow-closed/x");  // two failures opened the circuit: no call now
    REQUIRE(tripped);
    CHECK(tripped->status == 503);
    CHECK(tripped->has_header("Retry-After"));
    CHECK_THAT(tripped->body, Catch::Contains("circuit is open"));
  }

  SECTION("a filter that crashes is skipped under fail-open and answers 502 under fail-closed") {
    auto open = c.Get("/crashy/boom");
    REQUIRE(open);
    CHECK(open->status == 200);
    auto closed = c.Get("/crashy-closed/boom");
    REQUIRE(closed);
    CHECK((closed->status == 502 || closed->status == 503));
    CHECK_THAT(closed->body, Catch::Contains("filter 'crashy'"));
  }

  SECTION("a filter returning malformed modifications is a failure, named, per its mode") {
    auto open = c.Get("/malformed-open/x");
    REQUIRE(open);
    CHECK(open->status == 200);
    auto closed = c.Get("/malformed/x");
    REQUIRE(closed);
    CHECK(closed->status == 502);
    CHECK_THAT(closed->body, Catch::Contains("filter 'malformed'") && Catch::Contains("bad_reply"));
    auto overreach = c.Get("/overreach/x");
    REQUIRE(overreach);
    CHECK(overreach->status == 502);
    CHECK_THAT(overreach->body, Catch::Contains("only responseBody may change it"));
  }

  SECTION("the connection's addresses, which cpp-httplib files as headers, are neither shown to filters nor forwarded") {
    // The upstream (cpp-httplib too) adds its own REMOTE_ADDR etc.: one of each, not two.
    auto pseudo_once = [](const httplib::Headers& seen) {
      for (const char* name : {"REMOTE_ADDR", "REMOTE_PORT", "LOCAL_ADDR", "LOCAL_PORT"}) {
        INFO(name);
        CHECK(seen.count(name) == 1);
      }
    };
    auto filtered = c.Post("/echo-body/pseudo", {{"X-Mine", "1"}}, "hello", "text/plain");
    REQUIRE(filtered);
    CHECK(filtered->status == 200);
    auto seen = s.upstream.last("/echo-body/pseudo");
    pseudo_once(seen);
    REQUIRE(seen.count("x-filter-saw") == 1);
    const std::string saw = "," + seen.find("x-filter-saw")->second + ",";
    CHECK_THAT(saw, Catch::Contains(",x-mine,") && !Catch::Contains("remote_") && !Catch::Contains("local_"));
    auto bypassed = c.Get("/plain/pseudo", {{"X-Mine", "1"}});
    REQUIRE(bypassed);
    CHECK(bypassed->status == 200);
    pseudo_once(s.upstream.last("/plain/pseudo"));
    // An upstream's answer has no pseudo-headers: one of such a name is its own, and reaches the client.
    auto answered = c.Get("/plain/own-pseudo");
    REQUIRE(answered);
    CHECK(answered->status == 200);
    CHECK(answered->get_header_value("Remote_Addr") == "the upstream's own");
  }

  SECTION("bodies within the limit are filtered, larger ones pass unfiltered, and past the maximum are refused") {
    auto small = c.Post("/echo-body/x", "hello", "text/plain");
    REQUIRE(small);
    CHECK(small->body == "hello+filtered+filtered");
    CHECK(s.upstream.last("/echo-body/x").count("x-body-echo") == 1);  // requestHeaders, batched with requestBody
    std::string large(100 * 1024, 'x');
    auto big = c.Post("/echo-body/x", large, "text/plain");
    REQUIRE(big);
    CHECK(big->status == 200);
    CHECK(big->body == large);
    auto huge = c.Post("/echo-body/x", std::string(2 * 1024 * 1024, 'x'), "text/plain");
    REQUIRE(huge);
    CHECK(huge->status == 413);
  }

  SECTION("an upstream that is down gives 502 with a body that says so") {
    auto r = c.Get("/down/x");
    REQUIRE(r);
    CHECK(r->status == 502);
    CHECK_THAT(r->body, Catch::Contains("http://127.0.0.1:1") && Catch::Contains("did not answer"));
  }

  SECTION("many concurrent clients while a filter plugin crashes and restarts: every request is answered") {
    std::atomic<int> answered{0}, failed{0};
    std::vector<std::thread> clients;
    for (int t = 0; t < 8; ++t) {
      clients.emplace_back([&, port = s.proxy->port()] {
        auto mine = client(port);
        for (int i = 0; i < 15; ++i) {
          auto r = mine.Get("/crashy/ok");
          (r && r->status == 200 ? answered : failed)++;
        }
      });
    }
    clients.emplace_back([&, port = s.proxy->port()] {
      auto mine = client(port);
      for (int i = 0; i < 4; ++i) {
        auto r = mine.Get("/crashy/boom");
        (r && r->status == 200 ? answered : failed)++;
      }
    });
    for (auto& thread : clients) thread.join();
    CHECK(failed == 0);
    CHECK(answered == 8 * 15 + 4);
  }
}

TEST_CASE("the proxy refuses a configuration naming a hook its filter does not implement", "[proxy]") {
  TempDir dir;
  Json config{{"listen", "127.0.0.1:0"},
              {"routes", {{{"prefix", "/"}, {"upstream", "http://127.0.0.1:1"}}}},
              {"pluginDirs", {PLUGVISOR_PROXY_PLUGIN_DIR}},
              {"filters", {{{"type", "rate-limit"}, {"hooks", {"responseBody"}}}}}};
  ProxyProcess proxy(dir.add_file("proxy.json", config.dump(), 0644));
  auto [code, err] = proxy.wait_exit();
  CHECK(code == 2);
  CHECK_THAT(err, Catch::Contains("filter 'rate-limit'") && Catch::Contains("does not implement responseBody") &&
                      Catch::Contains("generateResponse"));
}

TEST_CASE("the proxy refuses bodies over the limit when configured to", "[proxy]") {
  Upstream upstream;
  TempDir dir;
  Json config{{"listen", "127.0.0.1:0"},
              {"routes", {{{"prefix", "/"}, {"upstream", "http://127.0.0.1:" + std::to_string(upstream.port())}}}},
              {"body", {{"filterLimit", 1024}, {"oversize", "refuse"}}},
              {"pluginDirs", {PLUGVISOR_FILTER_FIXTURE_DIR}},
              {"filters", {{{"type", "body-echo"}}}}};
  ProxyProcess proxy(dir.add_file("proxy.json", config.dump(), 0644));
  REQUIRE(proxy.port() > 0);
  auto c = client(proxy.port());
  auto r = c.Post("/x", std::string(2048, 'y'), "text/plain");
  REQUIRE(r);
  CHECK(r->status == 413);
  CHECK_THAT(r->body, Catch::Contains("body.filterLimit"));
  auto small = c.Post("/x", "ok", "text/plain");
  REQUIRE(small);
  CHECK(small->body == "ok+filtered+filtered");
  auto big_response = c.Get("/big/x");  // 300 KiB from the upstream, over the limit, a body filter selected
  REQUIRE(big_response);
  CHECK(big_response->status == 502);
}

TEST_CASE("the proxy keeps as many upstream connections as requests in flight, not one per worker thread", "[proxy]") {
  // Clients that each come on a new connection land on the proxy's worker
  // threads in turn; one at a time, they need one upstream connection. With
  // a connection kept per worker thread there were up to 32, each holding a
  // thread of a thread-per-connection upstream (cpp-httplib's default has 8).
  Upstream upstream;
  TempDir dir;
  Json config{{"listen", "127.0.0.1:0"},
              {"routes", {{{"prefix", "/"}, {"upstream", "http://127.0.0.1:" + std::to_string(upstream.port())}}}}};
  ProxyProcess proxy(dir.add_file("proxy.json", config.dump(), 0644));
  REQUIRE(proxy.port() > 0);
  for (int i = 0; i < 40; ++i) {
    auto c = client(proxy.port());  // a new connection to the proxy each time
    auto r = c.Get("/conn/" + std::to_string(i));
    REQUIRE(r);
    REQUIRE(r->status == 200);
  }
  CHECK(upstream.connections() <= 2);
}
