// The reverse-proxy example (examples/proxy) measured: the real
// plugvisor-proxy process in front of bench-upstream on loopback, a kept-alive
// cpp-httplib client calling it, one request at a time. Subjects, measured in
// alternating rounds:
//
//   direct     the client -> bench-upstream (no proxy), for reference
//   disabled   a proxy configured without filters (plugins disabled): the floor
//   bypass     a proxy with filters configured, on a path none selects
//   header     one C++ header filter (plugin-proxy-headers, the example's),
//              requestHeaders only: one plugin call
//   header2    the same filter on both its hooks (requestHeaders and
//              responseHeaders): two calls, one a phase
//   body       a C++ body filter (bench-filters' bench-upper, responseBody)
//   five       five filter types of one plugin process (bench-tag-1..5,
//              requestHeaders each): five calls (docs/contracts.md says why)
//   raw        a raw Unix-socket round trip, 64 B (bench-floor-server)
//   rtt        the disabled proxy, its upstream making that raw round trip
//              before it answers: the floor's round trip inside the pipeline
//
// The bypass and the filters run in one proxy, the disabled one in another;
// the ratios are to "disabled". A filter's added cost is its p50 minus the
// disabled p50, against the raw round trip; the proxy's CPU time per request
// is summed from its threads' schedstat. Every answer is checked (the
// upstream reports the x- headers it saw, the body filter's case shows):
// the filters are fail-closed, so that a failing filter stops the run rather
// than looking fast.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>

#include <cerrno>
#include <fstream>
#include <functional>
#include <thread>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "floor_client.hpp"
#include "sections.hpp"

namespace plugvisor::bench {

namespace {

namespace fs = std::filesystem;

constexpr std::size_t upstream_body_bytes = 1024;

/// A helper server: `argv` started with stdin a pipe (closed on destruction,
/// which stops bench-upstream) and stderr to `log`; ready once it has
/// printed "listening on HOST:PORT". SIGTERM (which stops plugvisor-proxy)
/// and reaped on destruction; PR_SET_PDEATHSIG if this process dies first.
class ListeningProcess {
 public:
  ListeningProcess(const std::vector<std::string>& argv, const fs::path& log) : log_(log) {
    int out[2], in[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      ::dup2(out[1], 1);
      ::dup2(in[0], 0);
      int err = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (err >= 0) ::dup2(err, 2);
      std::vector<const char*> args;
      for (const auto& a : argv) args.push_back(a.c_str());
      args.push_back(nullptr);
      ::execv(args[0], const_cast<char* const*>(args.data()));
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(in[0]);
    stdin_fd_ = in[1];
    std::string line;
    char c;
    while (::read(out[0], &c, 1) == 1 && c != '\n') line.push_back(c);
    ::close(out[0]);
    const std::string prefix = "listening on ";
    auto colon = line.rfind(':');
    if (line.rfind(prefix, 0) != 0 || colon == std::string::npos) {
      stop();
      std::ifstream in_log(log_);
      std::stringstream text;
      text << in_log.rdbuf();
      throw std::runtime_error(argv[0] + " did not start (first line: '" + line + "'; stderr: " + text.str() + ")");
    }
    host_ = line.substr(prefix.size(), colon - prefix.size());
    port_ = std::stoi(line.substr(colon + 1));
  }
  ~ListeningProcess() { stop(); }
  ListeningProcess(const ListeningProcess&) = delete;
  ListeningProcess& operator=(const ListeningProcess&) = delete;
  const std::string& host() const { return host_; }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }

 private:
  void stop() {
    if (stdin_fd_ >= 0) ::close(stdin_fd_);
    stdin_fd_ = -1;
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
  fs::path log_;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  std::string host_;
  int port_ = 0;
};

/// One kept-alive connection to `server`; get() throws unless the answer is
/// a 200 that passes `check`.
class Caller {
 public:
  explicit Caller(const ListeningProcess& server) : client_(server.host(), server.port()) {
    client_.set_keep_alive(true);
    client_.set_tcp_nodelay(true);  // else ~88 ms per small call (PITFALLS.md)
    client_.set_read_timeout(5, 0);
    client_.set_write_timeout(5, 0);
  }
  void get(const std::string& path, const std::function<bool(const httplib::Response&)>& check) {
    auto result = client_.Get(path);
    if (!result) throw std::runtime_error("GET " + path + " failed: " + httplib::to_string(result.error()));
    if (result->status != 200 || !check(*result)) {
      throw std::runtime_error("GET " + path + " answered " + std::to_string(result->status) +
                               " (x-seen: " + result->get_header_value("x-seen") + "): " + result->body.substr(0, 300));
    }
  }

 private:
  httplib::Client client_;
};

// CPU time of every thread of `pid` so far, in microseconds, from
// /proc/PID/task/*/schedstat (nanoseconds; /proc/PID/stat counts 10 ms
// ticks, too coarse for a round of a few hundred requests). Threads that
// have exited are not counted: the proxy's workers live as long as it does.
double cpu_us_of(pid_t pid) {
  double ns = 0;
  std::error_code ec;
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream in(task.path() / "schedstat");
    double on_cpu = 0;
    if (in >> on_cpu) ns += on_cpu;
  }
  return ns / 1e3;
}

bool saw(const httplib::Response& r, const std::string& header) {
  return ("," + r.get_header_value("x-seen") + ",").find("," + header + ",") != std::string::npos;
}

Json proxy_config(int upstream_port, const Json& filters, bool with_plugins) {
  Json config{{"listen", "127.0.0.1:0"},
              {"routes", Json::array({{{"name", "bench"}, {"prefix", "/"},
                                       {"upstream", "http://127.0.0.1:" + std::to_string(upstream_port)}}})},
              {"filters", filters}};
  if (with_plugins) {
    config["pluginDirs"] = Json::array({PLUGVISOR_BENCH_PROXY_PLUGIN_DIR, (exe_dir() / "proxy-plugins").string()});
    config["configTypes"] = Json{{"proxy.headers", {{"request", {{"set", {{"x-via", "plugvisor-proxy"}}}}},
                                                    {"response", {{"add", {{"x-bench-response", "on"}}}}}}}};
  }
  return config;
}

Json filter(const std::string& type, const std::string& paths, const Json& hooks = nullptr) {
  Json f{{"type", type}, {"paths", Json::array({paths})}, {"failure", "fail-closed"}, {"timeout", "5s"}};
  if (!hooks.is_null()) f["hooks"] = hooks;
  return f;
}

// The pids of `pid`'s children (the proxy's plugin processes).
std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream in(task.path() / "children");
    for (pid_t child; in >> child;) out.push_back(child);
  }
  return out;
}

}  // namespace

int proxy_loop(const Options& options) {
  const std::string& subject = options.proxy_loop_subject;
  if (subject != "disabled" && subject != "header") {
    throw std::runtime_error("--proxy-loop takes disabled or header, not " + subject);
  }
  TempDir dir;
  ListeningProcess upstream({(exe_dir() / "bench-upstream").string(), std::to_string(upstream_body_bytes)},
                            dir.path() / "upstream.log");
  const bool header = subject == "header";
  Json filters = Json::array();
  if (header) filters.push_back(filter("headers", "/header/*", Json::array({"requestHeaders"})));
  const fs::path file = dir.path() / "proxy.json";
  std::ofstream(file) << proxy_config(upstream.port(), filters, header).dump(2);
  ListeningProcess proxy({PLUGVISOR_BENCH_PROXY, "--config", file.string()}, dir.path() / "proxy.log");
  Caller caller(proxy);
  auto call = [&] {
    if (header) {
      caller.get("/header/x", [](const auto& r) { return saw(r, "x-via"); });
    } else {
      caller.get("/x", [](const auto& r) { return saw(r, "x-forwarded-for"); });
    }
  };
  for (int i = 0; i < 200; ++i) call();
  const std::vector<pid_t> plugins = children_of(proxy.pid());
  std::fprintf(stderr, "proxy pid %d, upstream pid %d, plugin pids", proxy.pid(), upstream.pid());
  for (pid_t p : plugins) std::fprintf(stderr, " %d", p);
  std::fprintf(stderr, "\n");
  if (const char* delay = std::getenv("BENCH_LOOP_DELAY_MS")) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::atol(delay)));
  }
  auto plugin_cpu = [&] {
    CpuTimes sum{};
    for (pid_t p : plugins) {
      CpuTimes c = cpu_of(p);
      sum.user_us += c.user_us;
      sum.sys_us += c.sys_us;
    }
    return sum;
  };
  std::vector<double> samples;
  samples.reserve(static_cast<std::size_t>(options.proxy_loop_count));
  auto plugin_on_cpu = [&] {
    double sum = 0;
    for (pid_t p : plugins) sum += cpu_us_of(p);
    return sum;
  };
  const double on_cpu0[4] = {cpu_us_of(::getpid()), cpu_us_of(proxy.pid()), plugin_on_cpu(), cpu_us_of(upstream.pid())};
  const CpuTimes proxy0 = cpu_of(proxy.pid()), plugin0 = plugin_cpu(), upstream0 = cpu_of(upstream.pid()),
                 client0 = cpu_of(::getpid());
  const auto t0 = Clock::now();
  for (long i = 0; i < options.proxy_loop_count; ++i) {
    auto t = Clock::now();
    call();
    samples.push_back(ns_since(t));
  }
  const double wall_us = ns_since(t0) / 1e3;
  const CpuTimes proxy1 = cpu_of(proxy.pid()), plugin1 = plugin_cpu(), upstream1 = cpu_of(upstream.pid()),
                 client1 = cpu_of(::getpid());
  const double on_cpu1[4] = {cpu_us_of(::getpid()), cpu_us_of(proxy.pid()), plugin_on_cpu(), cpu_us_of(upstream.pid())};
  const Summary s = summarize(samples);
  const double n = static_cast<double>(options.proxy_loop_count);
  {
    std::size_t slow = 0;
    for (std::size_t i = 0; i < samples.size(); ++i) {
      if (samples[i] < 1e6) continue;
      if (++slow <= 10) std::fprintf(stderr, "  request %zu took %.1f ms\n", i, samples[i] / 1e6);
    }
    std::fprintf(stderr, "  %zu requests over 1 ms\n", slow);
  }
  std::fprintf(stderr, "%ld requests (%s): p50 %.1f us, p90 %.1f us, p99 %.1f us, mean %.1f us\n",
               options.proxy_loop_count, subject.c_str(), s.p50 / 1e3, s.p90 / 1e3, s.p99 / 1e3, wall_us / n);
  // On-CPU time from schedstat (nanoseconds); the user/system split from
  // /proc/PID/stat (10 ms ticks, so a few per cent off).
  int k = 0;
  auto row = [&](const char* name, const CpuTimes& a, const CpuTimes& b) {
    std::fprintf(stderr, "  CPU per request, %-8s %6.2f us on CPU (%5.1f us user + %5.1f us sys)\n", name,
                 (on_cpu1[k] - on_cpu0[k]) / n, (b.user_us - a.user_us) / n, (b.sys_us - a.sys_us) / n);
    ++k;
  };
  row("client", client0, client1);
  row("proxy", proxy0, proxy1);
  row("plugin", plugin0, plugin1);
  row("upstream", upstream0, upstream1);
  return 0;
}

void bench_proxy(const Options& options, Results& results) {
  section("the reverse proxy (examples/proxy)");
  TempDir dir;
  FloorServer floor_server(floor_server_program(), (dir.path() / "floor.sock").string());
  ListeningProcess upstream({(exe_dir() / "bench-upstream").string(), std::to_string(upstream_body_bytes),
                             floor_server.address()},
                            dir.path() / "upstream.log");
  auto start_proxy = [&](const std::string& name, const Json& config) {
    const fs::path file = dir.path() / (name + ".json");
    std::ofstream(file) << config.dump(2);
    return std::make_unique<ListeningProcess>(
        std::vector<std::string>{PLUGVISOR_BENCH_PROXY, "--config", file.string()}, dir.path() / (name + ".log"));
  };
  // bench-filters publishes the union of its types' hooks (one description
  // a plugin), so its filters name their hook: else each would also be
  // called at the other types' hooks, and answer "no change" there.
  Json filters = Json::array({filter("headers", "/header/*", Json::array({"requestHeaders"})),
                              filter("headers", "/header2/*"),
                              filter("bench-upper", "/body/*", Json::array({"responseBody"}))});
  for (int i = 1; i <= 5; ++i) {
    filters.push_back(filter("bench-tag-" + std::to_string(i), "/five/*", Json::array({"requestHeaders"})));
  }
  auto disabled_proxy = start_proxy("disabled", proxy_config(upstream.port(), Json::array(), false));
  auto filter_proxy = start_proxy("filters", proxy_config(upstream.port(), filters, true));

  Caller direct(upstream), disabled(*disabled_proxy), filtered(*filter_proxy);
  FloorClient raw(floor_server);
  const std::string frame = make_frame(64);
  auto plain = [](const httplib::Response& r) { return r.body.size() == upstream_body_bytes && !saw(r, "x-via"); };
  auto upper = [](const httplib::Response& r) {
    return r.body.size() == upstream_body_bytes && r.body[0] == 'A' && r.body[25] == 'Z';
  };
  struct Subject {
    std::string name;
    std::function<void()> call;
    std::vector<double> samples;
    pid_t proxy = 0;        // the proxy it goes through, whose CPU time is summed
    double proxy_cpu_us = 0;  // on-CPU time of the proxy process, all rounds
  };
  std::vector<Subject> subjects{
      {"direct", [&] { direct.get("/direct", plain); }, {}},
      {"disabled", [&] { disabled.get("/x", [&](const auto& r) { return plain(r) && saw(r, "x-forwarded-for"); }); }, {},
       disabled_proxy->pid()},
      {"rtt", [&] { disabled.get("/rtt/x", [&](const auto& r) { return plain(r) && saw(r, "x-forwarded-for"); }); }, {},
       disabled_proxy->pid()},
      {"bypass", [&] { filtered.get("/bypass/x", [&](const auto& r) { return plain(r) && saw(r, "x-forwarded-for"); }); }, {},
       filter_proxy->pid()},
      {"header", [&] {
         filtered.get("/header/x", [](const auto& r) { return saw(r, "x-via") && !r.has_header("x-bench-response"); });
       }, {}, filter_proxy->pid()},
      {"header2", [&] {
         filtered.get("/header2/x", [](const auto& r) { return saw(r, "x-via") && r.has_header("x-bench-response"); });
       }, {}, filter_proxy->pid()},
      {"body", [&] { filtered.get("/body/x", upper); }, {}, filter_proxy->pid()},
      {"five", [&] {
         filtered.get("/five/x", [](const auto& r) {
           for (int i = 1; i <= 5; ++i) {
             if (!saw(r, "x-bench-tag-" + std::to_string(i))) return false;
           }
           return true;
         });
       }, {}, filter_proxy->pid()},
      {"raw", [&] { raw.call(frame); }, {}},
  };
  const int warmup = options.quick ? 30 : 200, rounds = options.quick ? 3 : 7, per_round = options.quick ? 60 : 300;
  for (int i = 0; i < warmup; ++i) {
    for (auto& subject : subjects) subject.call();
  }
  for (int r = 0; r < rounds; ++r) {
    for (auto& subject : subjects) {
      const double before = subject.proxy ? cpu_us_of(subject.proxy) : 0;
      for (int i = 0; i < per_round; ++i) {
        auto t0 = Clock::now();
        subject.call();
        subject.samples.push_back(ns_since(t0));
      }
      if (subject.proxy) subject.proxy_cpu_us += cpu_us_of(subject.proxy) - before;
    }
  }
  std::map<std::string, Summary> s;
  for (auto& subject : subjects) {
    s[subject.name] = summarize(subject.samples);
    results.raw["proxy"][subject.name] = summary_json(s[subject.name]);
    if (subject.proxy) {
      results.raw["proxy"][subject.name]["proxy_cpu_us_per_request"] =
          subject.proxy_cpu_us / static_cast<double>(subject.samples.size());
    }
  }
  const double floor = s["disabled"].p50 / 1e3, rtt = s["raw"].p50 / 1e3;
  auto added = [&](const char* name) { return s[name].p50 / 1e3 - floor; };
  const std::string body = std::to_string(upstream_body_bytes) + " B";
  results.add({"proxy.direct.p50", "proxy: GET (" + body + " answer) straight to the upstream, p50", "us",
               s["direct"].p50 / 1e3, std::nullopt, {}, "no proxy: for reference"});
  results.add({"proxy.disabled.p50", "proxy: GET through the proxy, plugins disabled, p50", "us", floor,
               s["direct"].p50 / 1e3, {}, "floor: straight to the upstream"});
  results.add({"proxy.bypass.p50", "proxy: filters configured, none selected (bypass), p50", "us",
               s["bypass"].p50 / 1e3, floor, {Target::ratio_le, 1.05}, "floor: plugins disabled"});
  results.add({"proxy.header.p50", "proxy: one C++ header filter (requestHeaders), p50", "us", s["header"].p50 / 1e3,
               floor, {}, "plugin-proxy-headers; floor: plugins disabled"});
  results.add({"proxy.header.added", "  added by the header filter, against a raw UDS round trip", "us",
               added("header"), rtt, {Target::ratio_le, 2}, "one plugin call"});
  results.add({"proxy.rtt.added", "  a raw UDS round trip made inside the pipeline (by the upstream), added", "us",
               added("rtt"), rtt, {}, "the floor's 64 B round trip among the proxy's work: no HTTP, no JSON"});
  auto cpu = [&](const char* name) {
    return results.raw["proxy"][name]["proxy_cpu_us_per_request"].get<double>();
  };
  results.add({"proxy.header.proxy_cpu", "  where: the proxy process's CPU per request (header filter)", "us",
               cpu("header"), cpu("disabled"), {}, "on-CPU time of its threads (schedstat); floor: plugins disabled"});
  results.add({"proxy.header2.p50", "proxy: the header filter on both header hooks, p50", "us",
               s["header2"].p50 / 1e3, floor, {}, "two calls: the upstream is between the phases"});
  results.add({"proxy.header2.added", "  added by the two hooks, against a raw UDS round trip", "us",
               added("header2"), rtt, {}, ""});
  results.add({"proxy.body.p50", "proxy: one C++ body filter (responseBody, " + body + "), p50", "us",
               s["body"].p50 / 1e3, floor, {}, "bench-upper; floor: plugins disabled"});
  results.add({"proxy.body.added", "  added by the body filter, against a raw UDS round trip", "us", added("body"),
               rtt, {}, ""});
  results.add({"proxy.five.p50", "proxy: five filters of one plugin process, p50", "us", s["five"].p50 / 1e3, floor,
               {}, "bench-tag-1..5, requestHeaders each"});
  results.add({"proxy.five.proxy_cpu", "  where: the proxy process's CPU per request (five filters)", "us",
               cpu("five"), cpu("disabled"), {}, "on-CPU time of its threads (schedstat); floor: plugins disabled"});
  results.add({"proxy.five.added", "  added by the five, against a raw UDS round trip", "us", added("five"), rtt, {},
               "five calls, one a filter: no cross-type batch (docs/contracts.md)"});
}

}  // namespace plugvisor::bench
