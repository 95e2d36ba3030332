// The field's reference in the same run: plugvisor's C++ echo plugin, called
// through the registry, against go-plugin's echo plugin called by a go-plugin
// host (bench-goplugin, go-plugin-peer/), over net/rpc and over gRPC.
//
// Same definitions on both sides:
//   latency     one caller, one plugin process kept running; 64 B, 64 KiB, 16 MiB
//   cold start  from "no plugin process" to the first call's result: for
//               plugvisor an idle plugin called through the registry, for
//               go-plugin NewClient + Client() + Dispense + the call
//   throughput  64 B calls/s with 1 and 4 caller threads (goroutines in Go)
//               sharing one plugin process, for the same time
// Rounds alternate plugvisor, net/rpc and gRPC, so that the machine's drift
// hits all three alike; percentiles are over the samples of all rounds.
#include <filesystem>
#include <stdexcept>
#include <string>

#include "child_output.hpp"
#include "sections.hpp"

namespace plugvisor::bench {

namespace {

namespace fs = std::filesystem;

struct FieldCase {
  std::string name;
  std::size_t bytes;
  int warmup;
  int count;
};

struct Subject {
  std::vector<double> cold;
  std::map<std::string, std::vector<double>> latency;  // by case name
  std::map<int, std::vector<double>> rate;             // calls/s by threads, one per round
};

constexpr int field_threads[] = {1, 4};

std::string peer_missing() {
#ifdef PLUGVISOR_BENCH_GOPLUGIN_MISSING
  return "not built: missing " PLUGVISOR_BENCH_GOPLUGIN_MISSING " (make setup, then configure again)";
#else
  if (!fs::exists(exe_dir() / "bench-goplugin")) return "not built: " + (exe_dir() / "bench-goplugin").string();
  return "";
#endif
}

void run_go_round(const std::string& transport, const std::vector<FieldCase>& cases, int cold, int duration_ms,
                  Subject& subject) {
  std::string latency;
  for (const auto& c : cases) {
    latency += (latency.empty() ? "" : ",") + std::to_string(c.bytes) + ":" + std::to_string(c.warmup) + ":" +
               std::to_string(c.count);
  }
  std::string threads;
  for (int t : field_threads) threads += (threads.empty() ? "" : ",") + std::to_string(t);
  auto child = run_child({(exe_dir() / "bench-goplugin").string(), "host", "--transport", transport, "--cold",
                          std::to_string(cold), "--latency", latency, "--threads", threads, "--duration-ms",
                          std::to_string(duration_ms)},
                         std::chrono::seconds(600));
  if (child.status != 0) {
    throw std::runtime_error("bench-goplugin host --transport " + transport + " failed (exit " +
                             std::to_string(child.status) + "): " + child.err);
  }
  Json doc = Json::parse(child.out);
  for (auto ns : doc.at("cold_ns")) subject.cold.push_back(ns.get<double>());
  for (const auto& c : cases) {
    for (auto ns : doc.at("latency_ns").at(std::to_string(c.bytes))) subject.latency[c.name].push_back(ns.get<double>());
  }
  for (int t : field_threads) subject.rate[t].push_back(doc.at("calls_per_s").at(std::to_string(t)).get<double>());
}

// plugvisor's cold starts come from a fresh plugvisor-bench process
// (cold_starts_in_fresh_process), as go-plugin's come from a fresh host.
void run_plugvisor_cold(const Options& options, int cold, Subject& subject, std::vector<double>& fork_exec_floor) {
  auto [samples, floor] =
      cold_starts_in_fresh_process(options, {echo_plugin_dir(), echo_id, echo_type, std::string(64, 'x'), {}, cold});
  subject.cold.insert(subject.cold.end(), samples.begin(), samples.end());
  fork_exec_floor.insert(fork_exec_floor.end(), floor.begin(), floor.end());
}

void run_plugvisor_round(plugvisor::DataProcessor& echo, const std::vector<FieldCase>& cases, int duration_ms,
                         Subject& subject) {
  for (const auto& c : cases) {
    const std::string payload(c.bytes, 'x');
    auto call = [&] {
      if (echo.process_data(payload).size() != payload.size()) throw std::runtime_error("echo returned a different size");
    };
    for (int i = 0; i < c.warmup; ++i) call();
    for (int i = 0; i < c.count; ++i) {
      auto t0 = Clock::now();
      call();
      subject.latency[c.name].push_back(ns_since(t0));
    }
  }
  const std::string payload(64, 'x');
  for (int t : field_threads) {
    subject.rate[t].push_back(run_for(t, std::chrono::milliseconds(duration_ms), [&](int) {
      if (echo.process_data(payload).size() != payload.size()) throw std::runtime_error("echo returned a different size");
    }));
  }
}

void add_rows(Results& results, const std::string& transport, const std::string& label, Subject& plugvisor,
              Subject& peer, const std::vector<FieldCase>& cases) {
  const std::string base = "field." + transport;
  const std::string note = "floor column: go-plugin " + label + " (the reference), same run";
  for (const auto& c : cases) {
    auto mine = summarize(plugvisor.latency[c.name]);
    auto theirs = summarize(peer.latency[c.name]);
    const bool big = c.bytes >= (1u << 20);
    Target target = c.bytes == 64 ? Target{Target::ratio_le, 0.2} : Target{};
    results.add({base + "." + c.name + ".p50", "vs go-plugin " + label + ": " + c.name + " call, p50", big ? "ms" : "us",
                 mine.p50 / (big ? 1e6 : 1e3), theirs.p50 / (big ? 1e6 : 1e3), target, note});
    results.raw["field"][transport]["latency"][c.name] = summary_json(theirs);
  }
  auto mine = summarize(plugvisor.cold);
  auto theirs = summarize(peer.cold);
  results.add({base + ".cold.p50", "vs go-plugin " + label + ": cold start (no process -> result), p50", "ms",
               mine.p50 / 1e6, theirs.p50 / 1e6, {Target::ratio_le, 1.0 / 3}, note});
  results.raw["field"][transport]["cold"] = summary_json(theirs);
  for (int t : field_threads) {
    const double m = median(plugvisor.rate[t]), r = median(peer.rate[t]);
    Target target = t == 4 ? Target{Target::ratio_ge, 3} : Target{};
    results.add({base + ".throughput." + std::to_string(t),
                 "vs go-plugin " + label + ": 64 B calls/s, " + std::to_string(t) + " caller thread" +
                     (t > 1 ? "s" : ""),
                 "calls/s", m, r, target, note});
    results.raw["field"][transport]["calls_per_s"][std::to_string(t)] = peer.rate[t];
  }
}

}  // namespace

void bench_field(const Options& options, Results& results) {
  section("the field's reference: go-plugin (net/rpc, gRPC) against plugvisor");
  if (auto missing = peer_missing(); !missing.empty()) {
    results.notes.push_back("go-plugin comparison skipped: bench-goplugin " + missing);
    return;
  }
  const std::vector<FieldCase> cases =
      options.quick ? std::vector<FieldCase>{{"64B", 64, 50, 200}, {"64KiB", 64 << 10, 10, 40}, {"16MiB", 16 << 20, 1, 1}}
                    : std::vector<FieldCase>{{"64B", 64, 300, 1000}, {"64KiB", 64 << 10, 50, 200}, {"16MiB", 16 << 20, 1, 3}};
  const int rounds = options.quick ? 1 : 3;
  const int cold = options.quick ? 3 : 10;
  const int duration_ms = options.quick ? 300 : 1000;

  auto manager = make_manager(options, echo_plugin_dir(), plugvisor::Transport::unix_socket, std::chrono::milliseconds(0));
  manager->start(echo_id);
  auto echo = manager->registry().get<plugvisor::DataProcessor>(echo_type);
  std::vector<double> fork_exec_floor;

  Subject plugvisor_subject, rpc, grpc;
  for (int r = 0; r < rounds; ++r) {
    run_plugvisor_cold(options, cold, plugvisor_subject, fork_exec_floor);
    run_plugvisor_round(*echo, cases, duration_ms, plugvisor_subject);
    run_go_round("rpc", cases, cold, duration_ms, rpc);
    run_go_round("grpc", cases, cold, duration_ms, grpc);
  }
  add_rows(results, "rpc", "net/rpc", plugvisor_subject, rpc, cases);
  add_rows(results, "grpc", "gRPC", plugvisor_subject, grpc, cases);
  results.raw["field"]["plugvisor"]["cold"] = summary_json(summarize(plugvisor_subject.cold));
  results.raw["field"]["fork_exec_floor"] = summary_json(summarize(fork_exec_floor));
  results.raw["field"]["rounds"] = rounds;
}

}  // namespace plugvisor::bench
