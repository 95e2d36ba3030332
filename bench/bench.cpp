// plugvisor-bench: measures, in one run, a floor and plugvisor, and prints a
// table with each figure, its floor, the ratio, the target and whether it is
// met; writes the same as JSON (--out) so that a later run can be compared.
//
//   plugvisor-bench [--out FILE] [--python-plugin PATH] [--plugin-dir DIR] [--quick]
//                   [--sections cold,latency,tcp,throughput,internal,validation,hundred,field,languages,path,proxy,scale]
//                   [--baseline-cli PATH] [--scale-sizes 10,100,1000] [--sustain-seconds N]
//                   [--tune-malloc] [--untuned-host] [--start-threads N]
//   plugvisor-bench --loop BYTES COUNT [--tcp] [--floor] [--tune-malloc]
//   plugvisor-bench --proxy-loop disabled|header COUNT
//
// Sections (all by default):
//   cold        cold start of the C++ echo plugin (and the Python example
//               plugin, if --python-plugin names an existing file) against
//               fork + exec of a program that prints one line; and the same
//               plugin started by hand, to split the time
//   latency     64 B / 64 KiB / 16 MiB calls over a Unix socket: p50 p90 p99;
//               and the split ("where:" rows): the SDK side alone (a minimal
//               client calls the plugin), the manager side alone (the manager
//               calls a minimal plugin), and HTTP itself (minimal on both sides)
//   tcp         the same over loopback TCP (without the split)
//   throughput  64 B calls/s with 1, 4 and 16 caller threads
//   internal    an in-process provider called through the registry
//   hundred     100 plugins: resident memory registered and idle, parallel start
//   field       plugvisor against HashiCorp's go-plugin (net/rpc and gRPC):
//               latency, cold start, throughput, same definitions (field.cpp)
//   languages   the Python SDK, Node and Go plugins against floors in their
//               own language: 64 B / 64 KiB calls, cold start (languages.cpp)
//   path        the whole path: the daemon's broker and `plugvisor call`
//               against a direct call and a raw round trip (path.cpp);
//               --baseline-cli PATH adds another build's daemon (e.g. the
//               previous commit's `plugvisor`) to the same rounds
//   proxy       the reverse-proxy example: bypass, a header filter, a body
//               filter, five filters of one process, against the proxy with
//               plugins disabled and a raw round trip (proxy.cpp)
//   scale       the daemon with 10, 100, 1,000 plugins: memory, list, status,
//               reload; 10,000 calls/s for 60 s through it (scale.cpp);
//               --scale-sizes 1000 --sustain-seconds 20: one size, shorter
//
// --quick: fewer samples and rounds, for a smoke run (no figure from it is
// worth comparing); every section still runs end to end.
//
// --tune-malloc raises glibc's trim and mmap thresholds in this process and
// (GLIBC_TUNABLES) in the plugins: an experiment for docs/performance.md.
// The managers here ask for ManagerOptions::tune_malloc, as `plugvisor serve`
// does; --untuned-host leaves it at its default (off), to measure what a host
// that does not ask gets (docs/embedding.md, "The host's process").
// --loop only makes COUNT calls, for strace/perf/callgrind; --proxy-loop only
// sends COUNT requests through the proxy example (its "disabled" or "header"
// subject), printing each process's CPU per request.
//
// Floors and plugvisor are measured in alternating rounds, so that drift of
// this (noisy, shared) machine hits both alike; compare ratios, not figures
// from different runs.
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <malloc.h>
#include <signal.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "floor_client.hpp"
#include "harness.hpp"
#include "plugvisor/manager.hpp"
#include "raw_http.hpp"
#include "sections.hpp"
#include "stats.hpp"

namespace {

namespace fs = std::filesystem;
using namespace plugvisor::bench;  // NOLINT: the harness is this program's own

// ---------------------------------------------------------------------------
// cold start

void bench_cold(const Options& options, Results& results) {
  section("cold start");
  const int cpp_count = options.quick ? 6 : 30;
  const int py_count = options.quick ? 3 : 12;
  const auto idle = std::chrono::milliseconds(100);

  std::vector<double> floor_samples;
  std::map<std::string, int> states;
  auto manager = make_manager(options, echo_plugin_dir(), plugvisor::Transport::unix_socket, idle);
  // One throw-away round: page cache, dynamic loader cache.
  std::vector<double> warm_floor;
  std::map<std::string, int> warm_states;
  time_cold_calls(*manager, echo_id, echo_type, std::string(64, 'x'), 1, warm_floor, warm_states);
  // The split: the same plugin started by hand (no manager), timed to its
  // handshake line, then to the answer of a first call on a new connection.
  std::vector<double> to_handshake, to_answer;
  TempDir by_hand_dir;
  int by_hand_count = 0;
  auto by_hand = [&] {
    const std::string token = "bench-token-0123456789abcdef";
    const std::string socket = (by_hand_dir.path() / ("cold-" + std::to_string(by_hand_count++) + ".sock")).string();
    auto t0 = Clock::now();
    plugvisor::bench::HandStartedPlugin plugin(echo_plugin_dir() / echo_id, "bench-echo-by-hand", socket, token);
    to_handshake.push_back(ns_since(t0));
    auto t1 = Clock::now();
    plugvisor::bench::RawHttpClient client(socket, token);
    if (client.post("/v1/dataProcessor/echo/processData", std::string(64, 'x')) != 200) {
      throw std::runtime_error("first call to the plugin started by hand failed");
    }
    to_answer.push_back(ns_since(t1));
  };
  auto cpp = time_cold_calls(*manager, echo_id, echo_type, std::string(64, 'x'), cpp_count, floor_samples, states,
                             by_hand);
  manager.reset();

  std::vector<double> py;
  std::vector<double> py_floor;
  std::map<std::string, int> py_states;
  const bool have_python = !options.python_plugin.empty() && fs::exists(options.python_plugin);
  if (have_python) {
    TempDir dir;
    fs::create_symlink(fs::absolute(options.python_plugin), dir.path() / options.python_plugin.filename());
    auto py_manager = make_manager(options, dir.path(), plugvisor::Transport::unix_socket, idle);
    time_cold_calls(*py_manager, options.python_plugin.filename(), "stats", "1 2 3 4", 1, warm_floor, warm_states);
    py = time_cold_calls(*py_manager, options.python_plugin.filename(), "stats", "1 2 3 4", py_count, py_floor,
                         py_states);
  }

  auto floor = plugvisor::bench::summarize(floor_samples);
  auto cpp_summary = plugvisor::bench::summarize(cpp);
  results.raw["cold"] = Json{{"floor_fork_exec_line", summary_json(floor)},
                             {"cpp_plugin", summary_json(cpp_summary)},
                             {"states_before_call", states}};
  results.add({"cold.floor", "fork/exec + 1 line (floor), p50", "ms", floor.p50 / 1e6, std::nullopt, {}, ""});
  results.add({"cold.cpp.p50", "cold start C++ plugin (idle -> result), p50", "ms", cpp_summary.p50 / 1e6,
               floor.p50 / 1e6, {Target::ratio_le, 2}, ""});
  results.add({"cold.cpp.p90", "cold start C++ plugin, p90", "ms", cpp_summary.p90 / 1e6, floor.p90 / 1e6, {}, ""});
  auto handshake = plugvisor::bench::summarize(to_handshake);
  auto answer = plugvisor::bench::summarize(to_answer);
  results.raw["cold"]["by_hand_to_handshake"] = summary_json(handshake);
  results.raw["cold"]["by_hand_handshake_to_answer"] = summary_json(answer);
  results.add({"cold.cpp.to_handshake", "  where: fork/exec -> handshake (plugin by hand), p50", "ms",
               handshake.p50 / 1e6, floor.p50 / 1e6, {}, "loader, 13 shared objects, OpenSSL init, config, bind"});
  results.add({"cold.cpp.to_answer", "  where: handshake -> first answer (plugin by hand), p50", "ms",
               answer.p50 / 1e6, std::nullopt, {}, "32 worker threads start before accept()"});
  if (have_python) {
    auto pyf = plugvisor::bench::summarize(py_floor);
    auto pys = plugvisor::bench::summarize(py);
    results.raw["cold"]["python_plugin"] = summary_json(pys);
    results.raw["cold"]["python_floor"] = summary_json(pyf);
    results.add({"cold.python.p50", "cold start Python plugin (idle -> result), p50", "ms", pys.p50 / 1e6,
                 pyf.p50 / 1e6, {}, "plugin-py-stats, type stats"});
  } else {
    results.notes.push_back("cold start of the Python plugin skipped: " +
                            (options.python_plugin.empty() ? std::string("no --python-plugin given")
                                                           : options.python_plugin.string() + " does not exist") +
                            " (plugvisor-bench builds it: bench/lang/CMakeLists.txt)");
  }
}

// ---------------------------------------------------------------------------
// latency: one caller thread, floor and plugvisor in alternating rounds

struct SizeCase {
  std::string name;  // "64B"
  std::size_t bytes;
  int warmup;
  int rounds;
  int per_round;
};

std::vector<SizeCase> size_cases(bool quick) {
  if (quick) return {{"64B", 64, 100, 3, 300}, {"64KiB", 64 << 10, 20, 3, 60}, {"16MiB", 16 << 20, 1, 3, 1}};
  return {{"64B", 64, 300, 7, 1500}, {"64KiB", 64 << 10, 50, 7, 200}, {"16MiB", 16 << 20, 2, 5, 3}};
}

// Over a Unix socket the call is also split between its two sides, each
// measured against a minimal counterpart (raw_http.hpp, lean_plugin.cpp):
//   "SDK side":     a minimal HTTP client -> the C++ plugin (started by hand)
//   "manager side": registry + manager -> bench-lean, a minimal plugin
void bench_latency(const Options& options, Results& results, plugvisor::Transport transport) {
  const bool tcp = transport == plugvisor::Transport::tcp;
  const std::string prefix = tcp ? "tcp" : "uds";
  const std::string label = tcp ? "TCP" : "UDS";
  section(tcp ? "latency over loopback TCP" : "latency over a Unix socket");

  TempDir dir;
  FloorServer server(floor_server_program(), tcp ? "" : (dir.path() / "floor.sock").string());
  FloorClient floor_client(server);
  auto manager = make_manager(options, echo_plugin_dir(), transport, std::chrono::milliseconds(0));
  manager->start(echo_id);
  auto echo = manager->registry().get<plugvisor::DataProcessor>(echo_type);

  // The split (Unix socket only).
  const bool split = !tcp;
  std::unique_ptr<plugvisor::Manager> lean_manager;
  std::shared_ptr<plugvisor::DataProcessor> lean;
  std::unique_ptr<plugvisor::bench::HandStartedPlugin> by_hand, lean_by_hand;
  std::unique_ptr<plugvisor::bench::RawHttpClient> raw, raw_lean;
  const std::string raw_target = "/v1/dataProcessor/echo/processData";
  if (split) {
    lean_manager = make_manager(options, lean_plugin_dir(), transport, std::chrono::milliseconds(0));
    lean = lean_manager->registry().get<plugvisor::DataProcessor>("lean-echo");
    const std::string token = "bench-token-0123456789abcdef";
    by_hand = std::make_unique<plugvisor::bench::HandStartedPlugin>(echo_plugin_dir() / echo_id, "bench-echo-by-hand",
                                                                     (dir.path() / "by-hand.sock").string(), token);
    raw = std::make_unique<plugvisor::bench::RawHttpClient>(by_hand->socket_path(), token);
    lean_by_hand = std::make_unique<plugvisor::bench::HandStartedPlugin>(
        lean_plugin_dir() / "bench-lean", "bench-lean-by-hand", (dir.path() / "lean.sock").string(), token);
    raw_lean = std::make_unique<plugvisor::bench::RawHttpClient>(lean_by_hand->socket_path(), token);
  }

  for (const auto& c : size_cases(options.quick)) {
    const std::string frame = plugvisor::bench::make_frame(c.bytes);
    const std::string payload(c.bytes, 'x');
    auto check = [&](std::size_t size) {
      if (size != payload.size()) throw std::runtime_error("echo returned a different size");
    };
    struct Subject {
      std::string name;
      std::function<void()> call;
      std::vector<double> samples;
    };
    std::vector<Subject> subjects;
    subjects.push_back({"floor", [&] { floor_client.call(frame); }, {}});
    // The callers below hand their buffer to the call and take the echo back
    // (as a host that is done with its input writes it: process_data(std::move(...))),
    // as the floor's client sends from and receives into buffers of its own.
    std::string buffer = payload, lean_buffer = payload;
    subjects.push_back({"plugvisor", [&] {
                          if (buffer.size() != payload.size()) buffer = payload;  // a call that threw took it
                          buffer = echo->process_data(std::move(buffer));
                          check(buffer.size());
                        }, {}});
    if (split) {
      subjects.push_back({"sdk_side", [&] {
                            if (raw->post(raw_target, payload) != 200) throw std::runtime_error("raw call failed");
                            check(raw->body().size());
                          }, {}});
      subjects.push_back({"manager_side", [&] {
                            if (lean_buffer.size() != payload.size()) lean_buffer = payload;  // a call that threw took it
                            lean_buffer = lean->process_data(std::move(lean_buffer));
                            check(lean_buffer.size());
                          }, {}});
      subjects.push_back({"minimal_http", [&] {
                            if (raw_lean->post("/v1/dataProcessor/lean-echo/processData", payload) != 200) {
                              throw std::runtime_error("raw call to the minimal plugin failed");
                            }
                            check(raw_lean->body().size());
                          }, {}});
    }
    for (int i = 0; i < c.warmup; ++i) {
      for (auto& subject : subjects) subject.call();
    }
    for (int r = 0; r < c.rounds; ++r) {
      for (auto& subject : subjects) {
        for (int i = 0; i < c.per_round; ++i) {
          auto t0 = Clock::now();
          subject.call();
          subject.samples.push_back(ns_since(t0));
        }
      }
    }
    std::map<std::string, Summary> summary;
    for (auto& subject : subjects) {
      summary[subject.name] = plugvisor::bench::summarize(subject.samples);
      results.raw[prefix][c.name][subject.name] = summary_json(summary[subject.name]);
    }
    const Summary& f = summary["floor"];
    const Summary& s = summary["plugvisor"];
    const std::string base = prefix + "." + c.name;
    const std::string what = label + " " + c.name + " call";
    const bool big = c.bytes >= (1u << 20);
    if (big) {
      // Throughput of the payload: bytes per call / median call time.
      double gbps = static_cast<double>(c.bytes) / s.p50;  // bytes/ns = GB/s
      double floor_gbps = static_cast<double>(c.bytes) / f.p50;
      results.add({base + ".p50", what + ", p50", "ms", s.p50 / 1e6, f.p50 / 1e6, {}, ""});
      results.add({base + ".gbps", what + ", payload GB/s at p50", "GB/s", gbps, floor_gbps,
                   {Target::value_ge, 1.0}, "16 MiB each way; GB/s = 16 MiB / p50"});
    } else {
      Target p50_target{Target::ratio_le, c.bytes <= 64 ? 2.0 : 3.0};
      results.add({base + ".p50", what + ", p50", "us", s.p50 / 1e3, f.p50 / 1e3, p50_target, ""});
      results.add({base + ".p90", what + ", p90", "us", s.p90 / 1e3, f.p90 / 1e3, {}, ""});
      results.add({base + ".p99", what + ", p99", "us", s.p99 / 1e3, f.p99 / 1e3, {}, ""});
    }
    if (split) {
      const double scale = big ? 1e6 : 1e3;
      const std::string unit = big ? "ms" : "us";
      results.add({base + ".sdk_side.p50", "  where: SDK side (minimal client -> C++ plugin), p50", unit,
                   summary["sdk_side"].p50 / scale, f.p50 / scale, {}, "instrument: raw_http.cpp"});
      results.add({base + ".manager_side.p50", "  where: manager side (manager -> minimal plugin), p50", unit,
                   summary["manager_side"].p50 / scale, f.p50 / scale, {}, "instrument: lean_plugin.cpp"});
      results.add({base + ".minimal_http.p50", "  where: HTTP itself (minimal client -> minimal plugin), p50", unit,
                   summary["minimal_http"].p50 / scale, f.p50 / scale, {}, "both instruments"});
    }
  }
  auto status = manager->plugin(echo_id);
  results.raw[prefix]["connections_opened"] = status ? status->connections : 0;
}

// ---------------------------------------------------------------------------
// throughput: N caller threads, 64 B, for a fixed time

void bench_throughput(const Options& options, Results& results) {
  section("throughput, 64 B calls over a Unix socket");
  TempDir dir;
  FloorServer server(floor_server_program(), (dir.path() / "floor.sock").string());
  auto manager = make_manager(options, echo_plugin_dir(), plugvisor::Transport::unix_socket,
                              std::chrono::milliseconds(0));
  manager->start(echo_id);
  auto echo = manager->registry().get<plugvisor::DataProcessor>(echo_type);
  const std::string frame = plugvisor::bench::make_frame(64);
  const std::string payload(64, 'x');
  const auto duration = std::chrono::milliseconds(options.quick ? 300 : 1000);
  const int rounds = options.quick ? 1 : 3;

  const pid_t plugin_pid = manager->plugin(echo_id)->pid;
  // CPU time of both processes (caller and server) per call, in microseconds.
  auto cpu_per_call = [](pid_t server_pid, const std::function<double()>& run) {
    CpuTimes c0 = cpu_of(::getpid()), s0 = cpu_of(server_pid);
    auto t0 = Clock::now();
    double rate = run();
    double calls = rate * ns_since(t0) / 1e9;
    CpuTimes c1 = cpu_of(::getpid()), s1 = cpu_of(server_pid);
    double cpu = (c1.user_us - c0.user_us) + (c1.sys_us - c0.sys_us) + (s1.user_us - s0.user_us) +
                 (s1.sys_us - s0.sys_us);
    return std::pair{rate, calls > 0 ? cpu / calls : 0.0};
  };

  for (int threads : {1, 4, 16}) {
    std::vector<double> floor_rates, rates, floor_cpu, cpu;
    for (int r = 0; r < rounds; ++r) {
      std::vector<std::unique_ptr<FloorClient>> clients(static_cast<std::size_t>(threads));
      auto [floor_rate, floor_cpu_per_call] = cpu_per_call(server.pid(), [&] {
        return run_for(threads, duration, [&](int t) {
          if (t < 0) {
            clients[static_cast<std::size_t>(-1 - t)] = std::make_unique<FloorClient>(server);
            return;
          }
          clients[static_cast<std::size_t>(t)]->call(frame);
        });
      });
      floor_rates.push_back(floor_rate);
      floor_cpu.push_back(floor_cpu_per_call);
      auto [rate, cpu_per] = cpu_per_call(plugin_pid, [&] {
        return run_for(threads, duration, [&](int) {
          auto out = echo->process_data(payload);  // also the warm-up call of each thread
          if (out.size() != payload.size()) throw std::runtime_error("echo returned a different size");
        });
      });
      rates.push_back(rate);
      cpu.push_back(cpu_per);
    }
    double floor_rate = 0, rate = 0;
    for (double v : floor_rates) floor_rate += v / static_cast<double>(floor_rates.size());
    for (double v : rates) rate += v / static_cast<double>(rates.size());
    results.raw["throughput"][std::to_string(threads) + "threads"] = Json{{"floor_calls_per_s", floor_rates},
                                                                           {"plugvisor_calls_per_s", rates},
                                                                           {"floor_cpu_us_per_call", floor_cpu},
                                                                           {"plugvisor_cpu_us_per_call", cpu}};
    Target target = threads == 4 ? Target{Target::ratio_ge, 0.5} : Target{};
    results.add({"throughput." + std::to_string(threads), "throughput 64 B, " + std::to_string(threads) +
                                                               " caller thread" + (threads > 1 ? "s" : ""),
                 "calls/s", rate, floor_rate, target, ""});
    if (threads == 4) {
      results.add({"throughput.4.cpu_us", "  where: CPU per call, caller + plugin (4 threads)", "us",
                   plugvisor::bench::median(cpu), plugvisor::bench::median(floor_cpu), {},
                   "user + system time of both processes / calls; 2 cores"});
    }
  }
  auto status = manager->plugin(echo_id);
  results.raw["throughput"]["connections_opened"] = status ? status->connections : 0;
}

// ---------------------------------------------------------------------------
// internal provider

class InternalEcho final : public plugvisor::DataProcessor {
 public:
  plugvisor::Bytes process_data(plugvisor::Bytes input) override { return input; }
  std::vector<std::string> supported_formats() override { return {}; }
};

// Nanoseconds per call of each of `fns`, the median over `batches` batches of
// `calls` calls; the batches of the different functions alternate.
std::vector<double> ns_per_call(int batches, int calls, const std::vector<std::function<void()>>& fns) {
  std::vector<std::vector<double>> per_call(fns.size());
  for (int b = 0; b < batches; ++b) {
    for (std::size_t f = 0; f < fns.size(); ++f) {
      auto t0 = Clock::now();
      for (int i = 0; i < calls; ++i) fns[f]();
      per_call[f].push_back(ns_since(t0) / calls);
    }
  }
  std::vector<double> out;
  for (auto& v : per_call) out.push_back(plugvisor::bench::median(v));
  return out;
}

void bench_internal(const Options& options, Results& results) {
  section("internal provider");
  plugvisor::Registry registry;
  registry.add_internal<plugvisor::DataProcessor>("internal-echo", std::make_shared<InternalEcho>());
  // Some neighbours, as a real registry would hold.
  for (int i = 0; i < 20; ++i) {
    registry.add_internal<plugvisor::DataProcessor>("other-" + std::to_string(i), std::make_shared<InternalEcho>());
  }
  const std::string input(64, 'x');
  volatile std::size_t sink = 0;
  // Many short batches, interleaved: a burst of other work spoils a few
  // batches of every variant, and the median drops them.
  const int batches = options.quick ? 9 : 41;
  const int calls = options.quick ? 20'000 : 50'000;

  // The floor: a virtual call of the same implementation, no registry.
  std::shared_ptr<plugvisor::DataProcessor> direct = std::make_shared<InternalEcho>();
  auto held = registry.get<plugvisor::DataProcessor>("internal-echo");
  auto channel = registry.channel("dataProcessor", "internal-echo");
  auto ns = ns_per_call(
      batches, calls,
      {
          [&] { sink = sink + direct->process_data(input).size(); },
          [&] { sink = sink + registry.get<plugvisor::DataProcessor>("internal-echo")->process_data(input).size(); },
          [&] { sink = sink + held->process_data(input).size(); },
          [&] {
            sink = sink +
                   channel->call("processData", plugvisor::Payload{plugvisor::Encoding::bytes, input}).body.size();
          },
      });
  const double floor = ns[0], get_and_call = ns[1], held_call = ns[2], by_name = ns[3];
  results.raw["internal"] = Json{{"direct_virtual_call_ns", floor},
                                 {"registry_get_and_call_ns", get_and_call},
                                 {"held_pointer_call_ns", held_call},
                                 {"channel_by_name_ns", by_name}};
  results.add({"internal.get_call", "internal provider: registry.get + call (64 B)", "ns", get_and_call, floor,
               {Target::value_le, 50}, "floor: the same virtual call without the registry"});
  results.add({"internal.held", "internal provider: call through held pointer", "ns", held_call, floor, {}, ""});
  results.add({"internal.channel", "internal provider: channel by method name", "ns", by_name, floor, {}, ""});
}

// ---------------------------------------------------------------------------
// input validation (DeclareOptions::validate_inputs): what checking a JSON
// input against the host's schema adds to a call, measured on the channel of
// an external provider reached in-process, so that only the check differs.

namespace bench_contract {
struct Order {
  std::string item;
  int count = 0;
  std::vector<std::string> tags;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Order, item, count, tags)
PLUGVISOR_JSON_SCHEMA(Order, R"({"type": "object", "required": ["item", "count"], "additionalProperties": false,
  "properties": {"item": {"type": "string", "minLength": 1}, "count": {"type": "integer", "minimum": 1},
                 "tags": {"type": "array", "items": {"type": "string"}}}})")
class Orders : public plugvisor::PluginBase {
 public:
  virtual int place(const Order& order) = 0;
};
PLUGVISOR_CONTRACT(Orders, "benchOrders", 1, "", (place, "place"));
class Counter final : public Orders {
 public:
  int place(const Order& order) override { return order.count; }
};
}  // namespace bench_contract

void bench_validation(const Options& options, Results& results) {
  section("input validation");
  auto held = [](bool validate) {
    auto registry = std::make_shared<plugvisor::Registry>();
    registry->declare<bench_contract::Orders>({.validate_inputs = validate});
    plugvisor::ProviderEntry entry{
        plugvisor::ProviderInfo{"benchOrders", "counter", "bench", plugvisor::ProviderKind::external, 0, true, nullptr},
        nullptr, std::make_shared<plugvisor::LocalChannel<bench_contract::Orders>>(std::make_shared<bench_contract::Counter>())};
    entry.description = plugvisor::describe<bench_contract::Orders>();
    registry->add(std::move(entry));
    return std::make_pair(registry, registry->get<bench_contract::Orders>("counter"));
  };
  auto [plain_registry, plain] = held(false);
  auto [checked_registry, checked] = held(true);
  const bench_contract::Order order{"apples", 3, {"fruit", "red"}};  // 52 bytes of JSON
  volatile int sink = 0;
  auto ns = ns_per_call(options.quick ? 9 : 31, options.quick ? 5'000 : 20'000,
                        {[&] { sink = sink + plain->place(order); }, [&] { sink = sink + checked->place(order); }});
  results.raw["validation"] = Json{{"call_without_validation_ns", ns[0]}, {"call_with_validation_ns", ns[1]}};
  results.add({"validation.added", "input validation: typed JSON call (52 B) with validate_inputs", "ns", ns[1], ns[0],
               {}, "floor: the same call without validation (encode, decode, dispatch in-process)"});
}

// ---------------------------------------------------------------------------
// 100 plugins: run in a fresh process, so that its resident memory is the
// manager's and nothing left over from the other sections.

long vm_rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// Live children of this process (zombies excluded).
int count_children() {
  int count = 0;
  const std::string self = std::to_string(::getpid());
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    std::getline(in, stat);
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    std::string state, ppid;
    rest >> state >> ppid;
    if (ppid == self && state != "Z") ++count;
  }
  return count;
}

template <class Fn>
void parallel(int count, int width, Fn fn) {
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < std::min(count, width); ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < count; i = next++) fn(i);
    });
  }
  for (auto& thread : threads) thread.join();
}

int hundred_child(const Options& options) {
  const int count = 100;
  TempDir dir;
  const fs::path target = echo_plugin_dir() / echo_id;
  for (int i = 0; i < count; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "bench-echo-%03d", i);
    fs::create_symlink(target, dir.path() / name);
  }
  quiet_logger();
  const long rss_before = vm_rss_kib();
  auto t0 = Clock::now();
  auto manager = make_manager(options, dir.path(), plugvisor::Transport::unix_socket, std::chrono::milliseconds(0));
  const double register_ns = ns_since(t0);
  const long rss_registered = vm_rss_kib();
  const auto statuses = manager->plugins();
  int running = 0;
  for (const auto& s : statuses) running += s.pid != 0;
  const int children_idle = count_children();

  // Floor: the same number of fork/exec + first line, from as many threads.
  t0 = Clock::now();
  parallel(count, options.start_threads, [&](int) { plugvisor::bench::time_spawn_to_first_line(hello_program()); });
  const double floor_ns = ns_since(t0);

  std::atomic<int> failures{0};
  std::string first_failure;
  std::mutex failure_mutex;
  t0 = Clock::now();
  parallel(count, options.start_threads, [&](int i) {
    try {
      manager->start(statuses[static_cast<std::size_t>(i)].id);
    } catch (const std::exception& e) {
      std::lock_guard lock(failure_mutex);
      if (failures++ == 0) first_failure = e.what();
    }
  });
  const double start_ns = ns_since(t0);
  int ready = 0;
  for (const auto& s : manager->plugins()) ready += s.state == plugvisor::PluginState::ready;
  const long rss_running = vm_rss_kib();
  t0 = Clock::now();
  manager->shutdown();
  const double shutdown_ns = ns_since(t0);

  Json out{{"plugins", statuses.size()},
           {"register_ms", register_ns / 1e6},
           {"rss_before_kib", rss_before},
           {"rss_registered_kib", rss_registered},
           {"plugin_processes_when_idle", std::max(running, children_idle)},
           {"parallel_start_threads", options.start_threads},
           {"parallel_start_ms", start_ns / 1e6},
           {"parallel_fork_exec_floor_ms", floor_ns / 1e6},
           {"ready_after_start", ready},
           {"start_failures", failures.load()},
           {"first_failure", first_failure},
           {"rss_running_kib", rss_running},
           {"shutdown_ms", shutdown_ns / 1e6}};
  std::cout << out.dump() << std::endl;
  return 0;
}

void bench_hundred(const Options& options, Results& results) {
  section("100 plugins (in a child process)");
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  const std::string threads = std::to_string(options.start_threads);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    std::vector<const char*> argv{self.c_str(), "--hundred-child", "--start-threads", threads.c_str()};
    if (options.tune_malloc) argv.push_back("--tune-malloc");
    if (options.untuned_host) argv.push_back("--untuned-host");
    argv.push_back(nullptr);
    ::execv(self.c_str(), const_cast<char* const*>(argv.data()));
    ::_exit(127);
  }
  ::close(out[1]);
  std::string text;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(out[0], buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<std::size_t>(n));
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("the 100-plugin child failed");
  Json r = Json::parse(text);
  results.raw["hundred"] = r;
  const double rss_delta_mib = (r["rss_registered_kib"].get<double>() - r["rss_before_kib"].get<double>()) / 1024.0;
  results.add({"hundred.start_ms", "start 100 plugins in parallel (" + threads + " threads), wall", "ms",
               r["parallel_start_ms"].get<double>(), r["parallel_fork_exec_floor_ms"].get<double>(),
               {Target::value_lt, 1000},
               "floor: 100 fork/exec + 1 line; ready " + std::to_string(r["ready_after_start"].get<int>()) + "/100"});
  results.add({"hundred.rss_mib", "manager RSS growth, 100 plugins registered idle", "MiB", rss_delta_mib,
               std::nullopt, {Target::value_lt, 16},
               "VmRSS " + std::to_string(r["rss_before_kib"].get<long>() / 1024) + " -> " +
                   std::to_string(r["rss_registered_kib"].get<long>() / 1024) + " MiB"});
  results.add({"hundred.idle_processes", "plugin processes while 100 are registered idle", "", 
               r["plugin_processes_when_idle"].get<double>(), std::nullopt, {Target::value_eq, 0}, ""});
}

// ---------------------------------------------------------------------------
// --loop: calls only, for profilers. Prints the server's pid (the plugin's,
// or the floor server's with --floor), waits $BENCH_LOOP_DELAY_MS (to attach
// strace or perf to it), then calls; reports the latency and the CPU time
// both processes spent per call, user and system, from /proc.

int call_loop(const Options& options) {
  const std::string payload(options.loop_bytes, 'x');
  std::string buffer = payload;
  const std::string frame = plugvisor::bench::make_frame(options.loop_bytes);
  std::unique_ptr<TempDir> dir;
  std::unique_ptr<FloorServer> server;
  std::unique_ptr<FloorClient> client;
  std::unique_ptr<plugvisor::Manager> manager;
  std::shared_ptr<plugvisor::DataProcessor> echo;
  pid_t server_pid = 0;
  if (options.loop_floor) {
    dir = std::make_unique<TempDir>();
    server = std::make_unique<FloorServer>(floor_server_program(),
                                           options.loop_tcp ? "" : (dir->path() / "floor.sock").string());
    client = std::make_unique<FloorClient>(*server);
    server_pid = server->pid();
  } else {
    manager = make_manager(options, echo_plugin_dir(),
                           options.loop_tcp ? plugvisor::Transport::tcp : plugvisor::Transport::unix_socket,
                           std::chrono::milliseconds(0));
    manager->start(echo_id);
    echo = manager->registry().get<plugvisor::DataProcessor>(echo_type);
    server_pid = manager->plugin(echo_id)->pid;
  }
  auto call = [&] {
    if (client) {
      client->call(frame);
      return;
    }
    if (buffer.size() != payload.size()) buffer = payload;  // a call that threw took it
    buffer = echo->process_data(std::move(buffer));  // as the latency section calls
    if (buffer.size() != payload.size()) throw std::runtime_error("echo returned a different size");
  };
  call();
  std::fprintf(stderr, "%s pid %d\n", options.loop_floor ? "floor server" : "plugin", server_pid);
  if (const char* delay = std::getenv("BENCH_LOOP_DELAY_MS")) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::atol(delay)));
  }
  std::vector<double> samples;
  samples.reserve(static_cast<std::size_t>(options.loop_count));
  const CpuTimes host0 = cpu_of(::getpid()), server0 = cpu_of(server_pid);
  const auto t0 = Clock::now();
  for (long i = 0; i < options.loop_count; ++i) {
    auto t = Clock::now();
    call();
    samples.push_back(ns_since(t));
  }
  const double wall_us = ns_since(t0) / 1e3;
  const CpuTimes host1 = cpu_of(::getpid()), server1 = cpu_of(server_pid);
  auto s = plugvisor::bench::summarize(samples);
  const double n = static_cast<double>(options.loop_count);
  std::fprintf(stderr, "%ld calls of %zu B (%s%s): p50 %.1f us, p90 %.1f us, p99 %.1f us, mean %.1f us\n",
               options.loop_count, options.loop_bytes, options.loop_floor ? "floor" : "plugvisor",
               options.loop_tcp ? ", TCP" : "", s.p50 / 1e3, s.p90 / 1e3, s.p99 / 1e3, wall_us / n);
  std::fprintf(stderr, "CPU per call: caller %.1f us user + %.1f us sys; server %.1f us user + %.1f us sys\n",
               (host1.user_us - host0.user_us) / n, (host1.sys_us - host0.sys_us) / n,
               (server1.user_us - server0.user_us) / n, (server1.sys_us - server0.sys_us) / n);
  return 0;
}

// ---------------------------------------------------------------------------
// Machine, table, JSON

std::string first_line_of(const std::string& command) {
  std::string out;
  if (FILE* p = ::popen(command.c_str(), "r")) {
    char buffer[256];
    if (std::fgets(buffer, sizeof buffer, p)) out = buffer;
    ::pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// How many cores other work keeps busy: the busy share of all CPUs over
// `window` while this process sleeps (from /proc/stat), times the core count.
double busy_cores(std::chrono::milliseconds window) {
  auto sample = [] {
    std::ifstream in("/proc/stat");
    std::string cpu;
    double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
    in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
    return std::pair{user + nice + system + irq + softirq + steal, idle + iowait};
  };
  auto [busy0, idle0] = sample();
  std::this_thread::sleep_for(window);
  auto [busy1, idle1] = sample();
  double total = (busy1 - busy0) + (idle1 - idle0);
  return total > 0 ? (busy1 - busy0) / total * std::thread::hardware_concurrency() : 0;
}

Json machine() {
  std::string cpu;
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  }
  utsname u{};
  ::uname(&u);
  return Json{{"nproc", std::thread::hardware_concurrency()},
              {"cpu", cpu},
              {"kernel", std::string(u.sysname) + " " + u.release},
              {"glibc", gnu_get_libc_version()},
              {"compiler", __VERSION__},
              {"busy_cores_at_start", busy_cores(std::chrono::milliseconds(500))},
              {"commit", first_line_of("git -C '" PLUGVISOR_SOURCE_DIR "' describe --always --dirty 2>/dev/null")}};
}

std::string format_value(double v, const std::string& unit) {
  char buffer[64];
  if (unit == "calls/s" || (unit.empty() && v == std::floor(v))) {
    std::snprintf(buffer, sizeof buffer, "%.0f", v);
  } else if (std::fabs(v) >= 100) {
    std::snprintf(buffer, sizeof buffer, "%.0f", v);
  } else if (std::fabs(v) >= 10) {
    std::snprintf(buffer, sizeof buffer, "%.1f", v);
  } else {
    std::snprintf(buffer, sizeof buffer, "%.2f", v);
  }
  return std::string(buffer) + (unit.empty() ? "" : " " + unit);
}

void print_table(const Results& results, const Json& previous) {
  std::map<std::string, double> before;
  if (previous.is_object() && previous.contains("rows")) {
    for (const auto& row : previous["rows"]) before[row["key"].get<std::string>()] = row["value"].get<double>();
  }
  const bool compare = !before.empty();
  std::printf("\n%-62s %14s %14s %8s %8s %5s%s\n", "figure", "plugvisor", "floor", "ratio", "target", "met",
              compare ? "   previous run" : "");
  std::printf("%s\n", std::string(compare ? 130 : 115, '-').c_str());
  for (const auto& row : results.rows) {
    auto ratio = row.ratio();
    auto met = row.met();
    char ratio_text[32] = "-";
    if (ratio) std::snprintf(ratio_text, sizeof ratio_text, "%.2fx", *ratio);
    std::string prev;
    if (auto it = before.find(row.key); it != before.end()) prev = "   " + format_value(it->second, row.unit);
    std::printf("%-62s %14s %14s %8s %8s %5s%s\n", row.figure.c_str(), format_value(row.value, row.unit).c_str(),
                row.floor ? format_value(*row.floor, row.unit).c_str() : "-", ratio_text, row.target.text().c_str(),
                met ? (*met ? "yes" : "NO") : "", prev.c_str());
  }
  for (const auto& note : results.notes) std::printf("note: %s\n", note.c_str());
  int met = 0, missed = 0;
  for (const auto& row : results.rows) {
    if (auto m = row.met()) (*m ? met : missed)++;
  }
  std::printf("targets met: %d of %d\n", met, met + missed);
}

Json results_json(const Options& options, const Results& results, const Json& info) {
  Json rows = Json::array();
  for (const auto& row : results.rows) {
    Json r{{"key", row.key}, {"figure", row.figure}, {"unit", row.unit}, {"value", row.value}};
    r["floor"] = row.floor ? Json(*row.floor) : Json(nullptr);
    r["ratio"] = row.ratio() ? Json(*row.ratio()) : Json(nullptr);
    r["target"] = row.target.text();
    r["met"] = row.met() ? Json(*row.met()) : Json(nullptr);
    if (!row.note.empty()) r["note"] = row.note;
    rows.push_back(std::move(r));
  }
  std::time_t now = std::time(nullptr);
  char when[64];
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return Json{{"version", 1},
              {"when", when},
              {"machine", info},
              {"options", {{"quick", options.quick}, {"tune_malloc", options.tune_malloc},
                           {"untuned_host", options.untuned_host}}},
              {"rows", rows},
              {"notes", results.notes},
              {"raw", results.raw}};
}

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--out") {
      options.out = value();
    } else if (arg == "--python-plugin") {
      options.python_plugin = value();
    } else if (arg == "--plugin-dir") {
      options.plugin_dir = value();
    } else if (arg == "--baseline-cli") {
      options.baseline_cli = value();
    } else if (arg == "--scale-sizes") {
      std::stringstream list(value());
      for (std::string n; std::getline(list, n, ',');) options.scale_sizes.push_back(std::max(1, std::stoi(n)));
    } else if (arg == "--sustain-seconds") {
      options.sustain_seconds = std::max(1, std::stoi(value()));
    } else if (arg == "--quick") {
      options.quick = true;
    } else if (arg == "--tune-malloc") {
      options.tune_malloc = true;
    } else if (arg == "--untuned-host") {
      options.untuned_host = true;
    } else if (arg == "--start-threads") {
      options.start_threads = std::max(1, std::stoi(value()));
    } else if (arg == "--sections") {
      options.sections.clear();
      std::stringstream list(value());
      for (std::string s; std::getline(list, s, ',');) options.sections.insert(s);
    } else if (arg == "--loop") {
      options.loop_bytes = std::stoul(value());
      options.loop_count = std::stol(value());
    } else if (arg == "--proxy-loop") {
      options.proxy_loop_subject = value();
      options.proxy_loop_count = std::stol(value());
    } else if (arg == "--tcp") {
      options.loop_tcp = true;
    } else if (arg == "--floor") {
      options.loop_floor = true;
    } else if (arg == "--cold-child") {
      options.cold_child = value();
    } else if (arg == "--hundred-child") {
      options.hundred_child = true;
    } else {
      throw std::runtime_error("unknown argument " + arg +
                               " (see the top of bench/bench.cpp: --out FILE --python-plugin PATH --quick "
                               "--sections LIST --baseline-cli PATH --scale-sizes LIST --sustain-seconds N --tune-malloc --start-threads N --loop BYTES COUNT [--tcp] [--floor] --proxy-loop disabled|header COUNT)");
    }
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  try {
    Options options = parse(argc, argv);
    if (options.tune_malloc) {
      ::mallopt(M_MMAP_THRESHOLD, tuned_mmap_threshold);
      ::mallopt(M_TRIM_THRESHOLD, tuned_trim_threshold);
      ::mallopt(M_TOP_PAD, tuned_top_pad);
    }
    if (options.hundred_child) return hundred_child(options);
    if (!options.cold_child.empty()) return cold_child_main(options);
    if (options.loop_count > 0) return call_loop(options);
    if (options.proxy_loop_count > 0) return plugvisor::bench::proxy_loop(options);

    Json previous;
    if (fs::exists(options.out)) {
      std::ifstream in(options.out);
      previous = Json::parse(in, nullptr, false);
    }
    const Json info = machine();
    std::fprintf(stderr, "plugvisor-bench on %s (%u cores), %s, commit %s%s%s\n", info["cpu"].get<std::string>().c_str(),
                 info["nproc"].get<unsigned>(), info["kernel"].get<std::string>().c_str(),
                 info["commit"].get<std::string>().c_str(), options.tune_malloc ? ", malloc tuned" : "",
                 options.untuned_host ? ", host malloc untouched" : "");
    auto started = Clock::now();
    Results results;
    auto on = [&](const char* s) { return options.sections.count(s) > 0; };
    if (on("cold")) bench_cold(options, results);
    if (on("latency")) bench_latency(options, results, plugvisor::Transport::unix_socket);
    if (on("tcp")) bench_latency(options, results, plugvisor::Transport::tcp);
    if (on("throughput")) bench_throughput(options, results);
    if (on("internal")) bench_internal(options, results);
    if (on("validation")) bench_validation(options, results);
    if (on("hundred")) bench_hundred(options, results);
    if (on("field")) bench_field(options, results);
    if (on("languages")) bench_languages(options, results);
    if (on("path")) bench_path(options, results);
    if (on("proxy")) bench_proxy(options, results);
    if (on("scale")) bench_scale(options, results);
    results.raw["elapsed_s"] = ns_since(started) / 1e9;
    results.raw["busy_cores_after"] = busy_cores(std::chrono::milliseconds(300));
    // Other work on the machine makes every figure noisier; ratios, measured
    // side by side, suffer less.
    const double busy =
        std::max(info["busy_cores_at_start"].get<double>(), results.raw["busy_cores_after"].get<double>());
    if (busy > 0.25) {
      char text[200];
      std::snprintf(text, sizeof text,
                    "other work kept %.1f of the %u cores busy around the run: figures are noisier "
                    "(ratios, measured side by side, less so)",
                    busy, std::thread::hardware_concurrency());
      results.notes.push_back(text);
    }

    print_table(results, previous);
    Json doc = results_json(options, results, info);
    if (options.out.has_parent_path()) fs::create_directories(options.out.parent_path());
    if (!previous.is_discarded() && previous.is_object()) {
      fs::path kept = options.out;
      kept.replace_extension(".previous.json");
      fs::rename(options.out, kept);
    }
    std::ofstream(options.out) << doc.dump(2) << "\n";
    std::printf("results: %s (%.0f s)\n", options.out.c_str(), ns_since(started) / 1e9);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "plugvisor-bench: %s\n", e.what());
    return 1;
  }
}
