// The whole path a user takes, against a direct call in the same run:
//   direct      the host's registry -> the C++ echo plugin (in this process)
//   broker      HTTP/1.1 on a kept-alive connection to a daemon's admin Unix
//               socket (`plugvisor serve`) -> POST /v1/call/... -> the plugin
//               the daemon supervises (a copy of the same plugin)
//   floor       a raw Unix-socket round trip (bench-floor-server)
//   relay       the same through a relay process that passes each frame on
//               and its echo back and does nothing else (bench-floor-server
//               relay): what one more process hop costs at the least, so the
//               floor of any broker
// and a process per call, as scripts use it, against starting bench-hello
// (fork + exec until it exits, output read):
//   `plugvisor call dataProcessor echo processData --data ... --admin SOCKET`
//   `curl --unix-socket SOCKET --data-binary ... http://plugvisor/v1/call/...`
// The rows "broker adds" hold the broker's p50 minus the direct p50 against
// the floor: the target is that the broker costs at most one more round trip.
// The relay's rows show what that target leaves for the broker's own work:
// the relay adds (relay p50 - floor p50) with no work at all.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "child_output.hpp"
#include "daemon_process.hpp"
#include "floor_client.hpp"
#include "raw_http.hpp"
#include "sections.hpp"

namespace plugvisor::bench {

namespace {

namespace fs = std::filesystem;

double time_child(const std::vector<std::string>& argv, std::size_t expect_bytes) {
  auto t0 = Clock::now();
  auto child = run_child(argv, std::chrono::seconds(30));
  const double ns = ns_since(t0);
  if (child.status != 0 || child.out.size() < expect_bytes) {
    throw std::runtime_error(argv[0] + " exited " + std::to_string(child.status) + " with " +
                             std::to_string(child.out.size()) + " bytes of output: " + child.err);
  }
  return ns;
}

}  // namespace

void bench_path(const Options& options, Results& results) {
  section("the whole path: daemon broker and `plugvisor call` against a direct call");
  if (!fs::exists(cli_program())) {
    results.notes.push_back("whole-path figures skipped: " + cli_program().string() + " was not built");
    return;
  }
  TempDir dir;
  const fs::path admin = dir.path() / "admin.sock";
  DaemonProcess daemon(cli_program(), echo_plugin_dir(), admin);
  FloorServer server(floor_server_program(), (dir.path() / "floor.sock").string());
  FloorClient floor(server);
  FloorServer relay_server(floor_server_program(), (dir.path() / "relay.sock").string(),
                           (dir.path() / "floor.sock").string());
  FloorClient relay(relay_server);
  auto manager = make_manager(options, echo_plugin_dir(), plugvisor::Transport::unix_socket, std::chrono::milliseconds(0));
  manager->start(echo_id);
  auto echo = manager->registry().get<plugvisor::DataProcessor>(echo_type);
  RawHttpClient broker(admin.string(), "unused-on-the-admin-socket");
  // --baseline-cli: another build's daemon (the same plugin) in the same rounds.
  std::unique_ptr<DaemonProcess> baseline_daemon;
  std::unique_ptr<RawHttpClient> baseline;
  if (!options.baseline_cli.empty()) {
    const fs::path baseline_admin = dir.path() / "baseline.sock";
    baseline_daemon = std::make_unique<DaemonProcess>(options.baseline_cli, echo_plugin_dir(), baseline_admin);
    baseline = std::make_unique<RawHttpClient>(baseline_admin.string(), "unused-on-the-admin-socket");
  }
  const std::string target = std::string("/v1/call/dataProcessor/") + echo_type + "/processData";

  struct Case {
    std::string name;
    std::size_t bytes;
    int warmup, rounds, per_round;
  };
  const std::vector<Case> cases = options.quick
                                      ? std::vector<Case>{{"64B", 64, 50, 2, 100}, {"64KiB", 64 << 10, 10, 2, 30}}
                                      : std::vector<Case>{{"64B", 64, 300, 5, 500}, {"64KiB", 64 << 10, 50, 5, 100}};
  for (const auto& c : cases) {
    const std::string payload(c.bytes, 'x');
    const std::string frame = make_frame(c.bytes);
    std::vector<std::pair<std::string, std::function<void()>>> subjects{
        {"floor", [&] { floor.call(frame); }},
        {"relay", [&] { relay.call(frame); }},
        {"direct",
         [&] {
           if (echo->process_data(payload).size() != payload.size()) throw std::runtime_error("echo: wrong size");
         }},
        {"broker",
         [&] {
           int status = broker.post(target, payload);
           if (status != 200 || broker.body().size() != payload.size()) {
             throw std::runtime_error("broker call answered " + std::to_string(status) + ": " +
                                      broker.body().substr(0, 200));
           }
         }},
    };
    if (baseline) {
      subjects.push_back({"baseline", [&] {
                            int status = baseline->post(target, payload);
                            if (status != 200 || baseline->body().size() != payload.size()) {
                              throw std::runtime_error("baseline broker call answered " + std::to_string(status));
                            }
                          }});
    }
    std::map<std::string, std::vector<double>> samples;
    for (int i = 0; i < c.warmup; ++i) {
      for (auto& [name, call] : subjects) call();
    }
    // One call of each in turn: the three see the same moment of this
    // machine, and none runs long enough to change how the scheduler places
    // its two processes (in blocks, the floor and the direct call fell into
    // a 40 us mode together in one run out of two, the broker not).
    for (int i = 0; i < c.rounds * c.per_round; ++i) {
      for (auto& [name, call] : subjects) {
        auto t0 = Clock::now();
        call();
        samples[name].push_back(ns_since(t0));
      }
    }
    auto f = summarize(samples["floor"]), d = summarize(samples["direct"]), b = summarize(samples["broker"]);
    auto r = summarize(samples["relay"]);
    results.raw["path"][c.name] = Json{{"floor", summary_json(f)},
                                       {"relay", summary_json(r)},
                                       {"direct", summary_json(d)},
                                       {"broker", summary_json(b)}};
    const std::string base = "path." + c.name;
    results.add({base + ".direct.p50", "whole path " + c.name + ": direct (registry -> plugin), p50", "us", d.p50 / 1e3,
                 f.p50 / 1e3, {}, "floor: a raw Unix-socket round trip"});
    results.add({base + ".broker.p50", "whole path " + c.name + ": daemon broker (admin socket), p50",
                 "us", b.p50 / 1e3, f.p50 / 1e3, {}, "HTTP/1.1 kept alive to the admin socket -> POST /v1/call/... -> plugin"});
    results.add({base + ".broker_added.p50", "  the broker adds (broker p50 - direct p50)", "us", (b.p50 - d.p50) / 1e3,
                 f.p50 / 1e3, c.bytes == 64 ? Target{Target::ratio_le, 1} : Target{},
                 "target: at most one raw Unix-socket round trip more"});
    results.add({base + ".relay_added.p50", "  a relay that does nothing adds (relay p50 - floor p50)", "us",
                 (r.p50 - f.p50) / 1e3, f.p50 / 1e3, {},
                 "bench-floor-server relay: one more process hop, no work: the least any broker adds"});
    results.add({base + ".broker_vs_relay.p50", "  the broker adds, against what the relay adds", "us",
                 (b.p50 - d.p50) / 1e3, (r.p50 - f.p50) / 1e3, {}, "1x: a broker that costs no more than a bare hop"});
    if (baseline) {
      auto base_summary = summarize(samples["baseline"]);
      results.raw["path"][c.name]["baseline"] = summary_json(base_summary);
      results.raw["path"][c.name]["baseline_cli"] = options.baseline_cli.string();
      results.add({base + ".baseline_added.p50", "  the baseline build's broker adds (--baseline-cli)", "us",
                   (base_summary.p50 - d.p50) / 1e3, f.p50 / 1e3, {}, options.baseline_cli.string()});
    }
  }

  // A process per call.
  const int count = options.quick ? 4 : 20;
  const std::string data(64, 'x');
  std::vector<double> hello, cli, curl;
  const bool have_curl = fs::exists("/usr/bin/curl");
  const std::vector<std::string> cli_argv{cli_program().string(), "call", "dataProcessor", echo_type, "processData",
                                          "--data", data, "--admin", admin.string()};
  const std::vector<std::string> curl_argv{"/usr/bin/curl", "-s", "--fail", "--unix-socket", admin.string(),
                                           "-H", "Content-Type: application/octet-stream", "--data-binary", data,
                                           "http://plugvisor" + target};
  time_child(cli_argv, 64);  // warm-up: page cache
  if (have_curl) time_child(curl_argv, 64);
  for (int i = 0; i < count; ++i) {
    hello.push_back(time_child({hello_program().string()}, 1));
    cli.push_back(time_child(cli_argv, 64));
    if (have_curl) curl.push_back(time_child(curl_argv, 64));
  }
  auto h = summarize(hello), p = summarize(cli);
  results.raw["path"]["process_per_call"] = Json{{"hello", summary_json(h)}, {"plugvisor_call", summary_json(p)}};
  results.add({"path.cli.p50", "whole path 64B: `plugvisor call` (process per call), p50", "ms", p.p50 / 1e6,
               h.p50 / 1e6, {}, "floor: bench-hello, fork + exec until it exits"});
  if (have_curl) {
    auto u = summarize(curl);
    results.raw["path"]["process_per_call"]["curl"] = summary_json(u);
    results.add({"path.curl.p50", "whole path 64B: curl --unix-socket (process per call), p50", "ms", u.p50 / 1e6,
                 h.p50 / 1e6, {}, "floor: bench-hello, fork + exec until it exits"});
  } else {
    results.notes.push_back("the curl row is skipped: /usr/bin/curl not found (make setup installs it)");
  }
}

}  // namespace plugvisor::bench
