// Scale: the daemon (`plugvisor serve`) with 10, 100 and 1,000 plugins
// registered (symlinks of bench-scale, each its own plugin and type) and a
// tenth of them running. For each size: the time to start (every plugin is
// probed), the daemon's resident memory idle and with a tenth running, the
// latency of GET /v1/plugins (list) and GET /v1/plugins/ID (status), and of
// POST /v1/reload when nothing changed (no running plugin may be restarted
// by it). Then, at the largest size, calls through the broker at a fixed
// rate (10,000 calls/s for 60 s; --quick: 500/s for 1 s) spread over the
// running plugins, latency counted from each call's scheduled moment, so
// that falling behind shows (no coordinated omission).
// The growth 10 -> 100 -> 1,000 is given as an exponent per tenfold:
// log10(figure at 10n / figure at n): 0 is constant, 1 linear, 2 quadratic.
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "daemon_process.hpp"
#include "raw_http.hpp"
#include "sections.hpp"

namespace plugvisor::bench {

namespace {

namespace fs = std::filesystem;

fs::path scale_program() { return exe_dir() / "scale-plugin" / "bench-scale"; }

std::string plugin_name(int i) {
  char name[32];
  std::snprintf(name, sizeof name, "scale-%04d", i);
  return name;
}

// p50 (ns) of `count` requests; each must answer 200.
double p50_of(RawHttpClient& client, const std::string& method, const std::string& target, int count,
              std::size_t* body_bytes = nullptr) {
  std::vector<double> samples;
  for (int i = 0; i < count + 1; ++i) {
    auto t0 = Clock::now();
    int status = client.request(method, target);
    double ns = ns_since(t0);
    if (status != 200) {
      throw std::runtime_error(method + " " + target + " answered " + std::to_string(status) + ": " +
                               client.body().substr(0, 300));
    }
    if (i > 0) samples.push_back(ns);  // the first warms up
  }
  if (body_bytes) *body_bytes = client.body().size();
  return summarize(samples).p50;
}

// The pids of the running plugins, by id, from GET /v1/plugins.
std::map<std::string, long> running_pids(RawHttpClient& client) {
  if (client.request("GET", "/v1/plugins") != 200) throw std::runtime_error("GET /v1/plugins failed");
  std::map<std::string, long> out;
  // Named: a range-for over a member of the temporary Json::parse(...) read a
  // destroyed object (the temporary dies before the loop), and found nothing.
  const Json list = Json::parse(client.body());
  for (const auto& p : list.at("plugins")) {
    if (p["pid"].get<long>() > 0) out[p["id"].get<std::string>()] = p["pid"].get<long>();
  }
  return out;
}

// Resident memory of the daemon's direct children (the plugins), KiB.
long children_rss_kib(pid_t parent, int& count) {
  long total = 0;
  count = 0;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat;
    std::getline(in, stat);
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    std::string state;
    long ppid = 0;
    rest >> state >> ppid;
    if (ppid != parent || state == "Z") continue;
    long rss = rss_kib(std::stoi(name));
    if (rss > 0) {
      total += rss;
      ++count;
    }
  }
  return total;
}

struct Sustained {
  double target_rate = 0, achieved_rate = 0, seconds = 0;
  int connections = 0;
  std::size_t calls = 0;
  Summary latency;  // from each call's scheduled moment to its answer
  Summary service;  // from the moment it was sent
  SchedTimes callers;  // the calling threads' own CPU and run-queue wait
};

// This thread's SchedTimes.
SchedTimes this_thread_times() {
  std::ifstream in("/proc/thread-self/schedstat");
  SchedTimes out;
  in >> out.run_ns >> out.wait_ns;
  return out;
}

// Calls at `rate` per second for `duration` over `connections` kept-alive
// connections, each call to the next running plugin in turn.
Sustained sustain(const fs::path& admin, int running, double rate, std::chrono::milliseconds duration,
                  int connections) {
  std::vector<std::vector<double>> late(connections), served(connections);
  std::vector<SchedTimes> spent(connections);
  std::atomic<bool> failed{false};
  std::string failure;
  std::mutex failure_mutex;
  const std::string payload(64, 'x');
  const auto start = Clock::now() + std::chrono::milliseconds(50);
  const auto end = start + duration;
  const auto interval = std::chrono::duration<double>(connections / rate);
  std::vector<std::thread> threads;
  for (int t = 0; t < connections; ++t) {
    threads.emplace_back([&, t] {
      const SchedTimes t0 = this_thread_times();
      try {
        RawHttpClient client(admin.string(), "");
        // Connection t makes calls t, t + n, t + 2n ... of one schedule.
        const auto offset = std::chrono::duration<double>(t / rate);
        for (long k = 0; !failed; ++k) {
          auto due = start + std::chrono::duration_cast<Clock::duration>(offset + k * interval);
          if (due >= end) break;
          std::this_thread::sleep_until(due);
          const std::string target = "/v1/call/dataProcessor/" +
                                     plugin_name(static_cast<int>((k * connections + t) % running)) + "/processData";
          auto sent = Clock::now();
          int status = client.post(target, payload);
          auto done = Clock::now();
          if (status != 200 || client.body().size() != payload.size()) {
            throw std::runtime_error("a call answered " + std::to_string(status) + ": " + client.body().substr(0, 200));
          }
          late[t].push_back(std::chrono::duration<double, std::nano>(done - due).count());
          served[t].push_back(std::chrono::duration<double, std::nano>(done - sent).count());
        }
      } catch (const std::exception& e) {
        std::lock_guard guard(failure_mutex);
        if (!failed.exchange(true)) failure = e.what();
      }
      const SchedTimes t1 = this_thread_times();
      spent[t] = {t1.run_ns - t0.run_ns, t1.wait_ns - t0.wait_ns};
    });
  }
  for (auto& thread : threads) thread.join();
  if (failed) throw std::runtime_error("sustained calls through the daemon failed: " + failure);
  const double seconds = ns_since(start) / 1e9;
  std::vector<double> all_late, all_served;
  Sustained out;
  for (int t = 0; t < connections; ++t) {
    all_late.insert(all_late.end(), late[t].begin(), late[t].end());
    all_served.insert(all_served.end(), served[t].begin(), served[t].end());
    out.callers.run_ns += spent[t].run_ns;
    out.callers.wait_ns += spent[t].wait_ns;
  }
  out.target_rate = rate;
  out.connections = connections;
  out.calls = all_late.size();
  out.seconds = seconds;
  out.achieved_rate = static_cast<double>(out.calls) / seconds;
  out.latency = summarize(all_late);
  out.service = summarize(all_served);
  return out;
}

// One size: registered, then a tenth running; the rate test at the largest.
Json measure(const Options& options, int count, bool sustained_here) {
  TempDir dir;
  const fs::path plugins = dir.path() / "plugins";
  fs::create_directory(plugins);
  for (int i = 0; i < count; ++i) fs::create_symlink(scale_program(), plugins / plugin_name(i));
  const fs::path admin = dir.path() / "admin.sock";
  const int running = std::max(1, count / 10);
  const int samples = options.quick ? 5 : (count >= 1000 ? 30 : 100);
  const int reloads = options.quick ? 2 : 7;

  auto t0 = Clock::now();
  DaemonProcess daemon(cli_program(), plugins, admin);
  Json r{{"plugins", count}, {"running", running}, {"startup_ms", ns_since(t0) / 1e6}};
  RawHttpClient client(admin.string(), "");
  std::size_t list_bytes = 0;
  r["idle"] = {{"rss_kib", rss_kib(daemon.pid())},
               {"list_p50_us", p50_of(client, "GET", "/v1/plugins", samples, &list_bytes) / 1e3},
               {"list_bytes", list_bytes},
               {"status_p50_us", p50_of(client, "GET", "/v1/plugins/" + plugin_name(count - 1), samples) / 1e3},
               {"reload_p50_ms", p50_of(client, "POST", "/v1/reload", reloads) / 1e6}};
  if (Json::parse(client.body())["unchanged"].size() != static_cast<std::size_t>(count)) {
    throw std::runtime_error("a reload with nothing changed did not keep all " + std::to_string(count) +
                             " plugins: " + client.body().substr(0, 300));
  }

  t0 = Clock::now();
  for (int i = 0; i < running; ++i) {
    if (client.request("POST", "/v1/plugins/" + plugin_name(i) + "/start") != 200) {
      throw std::runtime_error("starting " + plugin_name(i) + " failed: " + client.body().substr(0, 300));
    }
  }
  const double start_ms = ns_since(t0) / 1e6;
  const auto before = running_pids(client);
  int children = 0;
  const long children_kib = children_rss_kib(daemon.pid(), children);
  // A reload's wall time, and the daemon's CPU for it and its time waiting for one.
  const SchedTimes reload_from = sched_times(daemon.pid());
  const double reload_ms = p50_of(client, "POST", "/v1/reload", reloads) / 1e6;
  const SchedTimes reload_to = sched_times(daemon.pid());
  r["running_phase"] = {{"start_one_by_one_ms", start_ms},
                        {"rss_kib", rss_kib(daemon.pid())},
                        {"plugin_processes", children},
                        {"plugins_rss_kib", children_kib},
                        {"list_p50_us", p50_of(client, "GET", "/v1/plugins", samples) / 1e3},
                        {"status_p50_us", p50_of(client, "GET", "/v1/plugins/" + plugin_name(count - 1), samples) / 1e3},
                        {"reload_p50_ms", reload_ms},
                        {"reload_cpu_ms", (reload_to.run_ns - reload_from.run_ns) / (reloads + 1) / 1e6},
                        {"reload_runqueue_ms", (reload_to.wait_ns - reload_from.wait_ns) / (reloads + 1) / 1e6}};
  const auto after = running_pids(client);
  int restarted = 0;
  for (const auto& [id, pid] : before) restarted += !after.contains(id) || after.at(id) != pid;
  if (static_cast<int>(before.size()) != running) {
    throw std::runtime_error("the daemon lists " + std::to_string(before.size()) + " running plugins after " +
                             std::to_string(running) + " were started");
  }
  r["running_phase"]["running_before_reload"] = before.size();
  r["running_phase"]["restarted_by_reload"] = restarted;

  if (sustained_here) {
    const double rate = options.quick ? 500 : 10'000;
    const int seconds = options.sustain_seconds > 0 ? options.sustain_seconds : options.quick ? 1 : 60;
    // Where the CPU goes: the daemon, the plugins, the calling threads.
    auto plugins_times = [&] {
      SchedTimes sum;
      for (const auto& [id, pid] : after) {
        const SchedTimes t = sched_times(static_cast<pid_t>(pid));
        sum.run_ns += t.run_ns;
        sum.wait_ns += t.wait_ns;
      }
      return sum;
    };
    const SchedTimes daemon_from = sched_times(daemon.pid()), plugins_from = plugins_times();
    auto s = sustain(admin, running, rate, std::chrono::seconds(seconds), 8);
    const SchedTimes daemon_to = sched_times(daemon.pid()), plugins_to = plugins_times();
    const double calls = static_cast<double>(std::max<std::size_t>(s.calls, 1));
    auto per_call = [&](const SchedTimes& from, const SchedTimes& to) {
      return Json{{"cpu_us", (to.run_ns - from.run_ns) / calls / 1e3},
                  {"runqueue_us", (to.wait_ns - from.wait_ns) / calls / 1e3}};
    };
    r["sustained"] = {{"target_rate", s.target_rate}, {"achieved_rate", s.achieved_rate},
                      {"seconds", s.seconds},         {"connections", s.connections},
                      {"calls", s.calls},             {"latency_from_schedule", summary_json(s.latency)},
                      {"service", summary_json(s.service)}, {"rss_kib_after", rss_kib(daemon.pid())},
                      {"per_call", {{"daemon", per_call(daemon_from, daemon_to)},
                                    {"plugins", per_call(plugins_from, plugins_to)},
                                    {"callers", per_call({}, s.callers)}}}};
  }
  return r;
}

// log10 of the ratio: per tenfold, 0 constant, 1 linear.
double exponent(double at_n, double at_10n) { return at_n > 0 && at_10n > 0 ? std::log10(at_10n / at_n) : 0; }

std::string growth_word(double e) {
  if (e < 0.3) return "constant";
  if (e < 0.7) return "sublinear";
  if (e < 1.3) return "linear";
  return "worse than linear";
}

}  // namespace

void bench_scale(const Options& options, Results& results) {
  section("scale: plugins registered and running under the daemon");
  if (!fs::exists(cli_program()) || !fs::exists(scale_program())) {
    results.notes.push_back("scale figures skipped: " + cli_program().string() + " or " + scale_program().string() +
                            " was not built");
    return;
  }
  const std::vector<int> sizes = !options.scale_sizes.empty() ? options.scale_sizes
                                 : options.quick            ? std::vector<int>{10, 30}
                                                            : std::vector<int>{10, 100, 1000};
  // The daemon with no plugin: what the memory figures grow from.
  long empty_rss_kib = 0;
  {
    TempDir dir;
    fs::create_directory(dir.path() / "plugins");
    DaemonProcess daemon(cli_program(), dir.path() / "plugins", dir.path() / "admin.sock");
    RawHttpClient client((dir.path() / "admin.sock").string(), "");
    p50_of(client, "GET", "/v1/plugins", 3);
    empty_rss_kib = rss_kib(daemon.pid());
  }
  Json all = Json::array();
  for (int count : sizes) {
    section("scale: " + std::to_string(count) + " plugins");
    Json r = measure(options, count, count == sizes.back());
    r["idle"]["rss_growth_kib"] = r["idle"]["rss_kib"].get<long>() - empty_rss_kib;
    const std::string base = "scale." + std::to_string(count) + ".";
    const std::string n = std::to_string(count), running = std::to_string(r["running"].get<int>());
    results.add({base + "startup_ms", "daemon start, " + n + " plugins registered (each probed)", "ms",
                 r["startup_ms"].get<double>(), std::nullopt, {}, "spawn to the admin socket line"});
    results.add({base + "rss_idle_mib", "  daemon RSS, " + n + " registered, none running", "MiB",
                 r["idle"]["rss_kib"].get<double>() / 1024, empty_rss_kib / 1024.0, {},
                 "floor: the daemon with no plugin"});
    results.add({base + "rss_running_mib", "  daemon RSS, " + running + " of them running", "MiB",
                 r["running_phase"]["rss_kib"].get<double>() / 1024, std::nullopt, {},
                 "the plugins: " + std::to_string(r["running_phase"]["plugins_rss_kib"].get<long>() / 1024) +
                     " MiB more in " + std::to_string(r["running_phase"]["plugin_processes"].get<int>()) +
                     " processes"});
    results.add({base + "list.p50", "  GET /v1/plugins (list), " + running + " running, p50", "us",
                 r["running_phase"]["list_p50_us"].get<double>(), std::nullopt, {},
                 std::to_string(r["idle"]["list_bytes"].get<std::size_t>() / 1024) + " KiB of JSON"});
    results.add({base + "status.p50", "  GET /v1/plugins/ID (status of one), p50", "us",
                 r["running_phase"]["status_p50_us"].get<double>(), std::nullopt, {}, ""});
    results.add({base + "reload.p50", "  POST /v1/reload, nothing changed, p50", "ms",
                 r["running_phase"]["reload_p50_ms"].get<double>(), std::nullopt, {}, ""});
    char reload_cpu[120];
    std::snprintf(reload_cpu, sizeof reload_cpu, "the daemon's CPU for it %.1f ms; runnable, waiting for a CPU %.1f ms",
                  r["running_phase"]["reload_cpu_ms"].get<double>(), r["running_phase"]["reload_runqueue_ms"].get<double>());
    results.add({base + "reload_cpu", "  POST /v1/reload: the daemon's CPU per reload", "ms",
                 r["running_phase"]["reload_cpu_ms"].get<double>(), std::nullopt, {}, reload_cpu});
    results.add({base + "reload_restarted", "  running plugins a reload restarted", "",
                 r["running_phase"]["restarted_by_reload"].get<double>(), std::nullopt, {Target::value_eq, 0},
                 "of " + running});
    all.push_back(std::move(r));
  }
  results.raw["scale"] = {{"empty_daemon_rss_kib", empty_rss_kib}, {"sizes", all}};
  const Json& s = all.back()["sustained"];
  const std::string over = std::to_string(all.back()["running"].get<int>());
  char note[160];
  std::snprintf(note, sizeof note, "%.0f s, %d connections, over %s running plugins", s["seconds"].get<double>(),
                s["connections"].get<int>(), over.c_str());
  results.add({"scale.sustained.rate", "sustained 64 B calls through the daemon, achieved", "calls/s",
               s["achieved_rate"].get<double>(), std::nullopt,
               {Target::value_ge, s["target_rate"].get<double>() * 0.99}, note});
  results.add({"scale.sustained.p50", "  latency from each call's scheduled moment, p50", "ms",
               s["latency_from_schedule"]["p50_ns"].get<double>() / 1e6, std::nullopt, {}, ""});
  char service[80];
  std::snprintf(service, sizeof service, "service time (from sending) p99 %.2f ms",
                s["service"]["p99_ns"].get<double>() / 1e6);
  results.add({"scale.sustained.p99", "  latency from each call's scheduled moment, p99", "ms",
               s["latency_from_schedule"]["p99_ns"].get<double>() / 1e6, std::nullopt, {}, service});
  results.add({"scale.sustained.service_p99", "  service time (from sending), p99", "ms",
               s["service"]["p99_ns"].get<double>() / 1e6, std::nullopt, {}, ""});
  const Json& per_call = s["per_call"];
  char cpu[200];
  std::snprintf(cpu, sizeof cpu,
                "daemon %.0f + plugins %.0f + callers %.0f us; waiting for a CPU: %.0f + %.0f + %.0f us",
                per_call["daemon"]["cpu_us"].get<double>(), per_call["plugins"]["cpu_us"].get<double>(),
                per_call["callers"]["cpu_us"].get<double>(), per_call["daemon"]["runqueue_us"].get<double>(),
                per_call["plugins"]["runqueue_us"].get<double>(), per_call["callers"]["runqueue_us"].get<double>());
  results.add({"scale.sustained.cpu_per_call", "  CPU per call, all processes", "us",
               per_call["daemon"]["cpu_us"].get<double>() + per_call["plugins"]["cpu_us"].get<double>() +
                   per_call["callers"]["cpu_us"].get<double>(),
               std::nullopt, {}, cpu});
  // Growth per tenfold between consecutive sizes.
  struct Figure {
    const char* name;
    std::vector<const char*> path;
  };
  const std::vector<Figure> figures{{"startup", {"startup_ms"}},
                                    {"rss_idle_growth", {"idle", "rss_growth_kib"}},
                                    {"list", {"running_phase", "list_p50_us"}},
                                    {"status", {"running_phase", "status_p50_us"}},
                                    {"reload", {"running_phase", "reload_p50_ms"}}};
  Json growth = Json::object();
  std::string summary;
  for (const auto& f : figures) {
    auto value = [&](const Json& r) {
      const Json* at = &r;
      for (const char* key : f.path) at = &(*at)[key];
      return at->get<double>();
    };
    Json steps = Json::array();
    std::string words;
    for (std::size_t i = 1; i < all.size(); ++i) {
      const double scale = std::log10(all[i]["plugins"].get<double>() / all[i - 1]["plugins"].get<double>());
      const double e = exponent(value(all[i - 1]), value(all[i])) / scale;
      steps.push_back(e);
      char text[64];
      std::snprintf(text, sizeof text, "%s%.2f", words.empty() ? "" : " then ", e);
      words += text;
    }
    growth[f.name] = steps;
    summary += std::string(summary.empty() ? "" : "; ") + f.name + " " + words + " (" +
               growth_word(steps.empty() ? 0 : steps.back().get<double>()) + ")";
  }
  results.raw["scale"]["growth_exponent_per_tenfold"] = growth;
  results.notes.push_back("scale: growth per tenfold of plugins (0 constant, 1 linear; memory above the empty daemon's): " +
                          summary);
}

}  // namespace plugvisor::bench
