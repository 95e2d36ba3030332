// Every language's plugin against a floor in its own language, in the same
// run (bench/lang/CMakeLists.txt builds them):
//   call latency  the plugin called through the registry (one caller, the
//                 plugin kept running), against that language's raw
//                 Unix-socket echo (floor-echo) called by the same C++ client
//                 bench-floor-server has; rounds alternate the two
//   cold start    an idle plugin called through the registry until the
//                 result is in, against that language's hello (the
//                 interpreter or binary, launched the way the plugin is,
//                 printing one line); each sample of one follows one of the other
#include <filesystem>
#include <stdexcept>
#include <string>

#include "floor_client.hpp"
#include "sections.hpp"

namespace plugvisor::bench {

namespace {

namespace fs = std::filesystem;

struct Language {
  std::string name;       // directory under lang/, and the row keys
  std::string label;      // for people
  std::string plugin_id;  // in lang/NAME/plugins
  std::string type;       // its dataProcessor type
  std::string what;       // the note: which plugin, which type
  Target call_target;     // 64 B p50 against the floor
  Target cold_target;
};

std::vector<Language> languages() {
  return {
      {"python", "Python", "bench-py-echo", "py-echo", "the Python SDK (sdk-python), type py-echo",
       {Target::ratio_le, 2}, {Target::ratio_le, 3}},
      {"node", "Node.js", "plugin-node-text", "reverse-lines", "examples/plugin-node-text, type reverse-lines", {}, {}},
      {"go", "Go", "plugin-go-text", "reverse", "examples/plugin-go-text, type reverse", {}, {}},
  };
}

fs::path lang_dir(const Language& l) { return exe_dir() / "lang" / l.name; }

struct CallCase {
  std::string name;
  std::size_t bytes;
  int warmup, rounds, per_round;
};

void measure_calls(const Options& options, const Language& l, Results& results) {
  TempDir dir;
  FloorServer server(lang_dir(l) / "floor-echo", (dir.path() / "floor.sock").string());
  FloorClient floor(server);
  auto manager =
      make_manager(options, lang_dir(l) / "plugins", plugvisor::Transport::unix_socket, std::chrono::milliseconds(0));
  manager->start(l.plugin_id);
  auto plugin = manager->registry().get<plugvisor::DataProcessor>(l.type);
  const std::vector<CallCase> cases = options.quick
                                          ? std::vector<CallCase>{{"64B", 64, 20, 2, 50}, {"64KiB", 64 << 10, 5, 2, 20}}
                                          : std::vector<CallCase>{{"64B", 64, 100, 5, 300}, {"64KiB", 64 << 10, 20, 5, 60}};
  for (const auto& c : cases) {
    const std::string frame = make_frame(c.bytes);
    const std::string payload(c.bytes, 'x');
    auto call_plugin = [&] {
      if (plugin->process_data(payload).size() != payload.size()) {
        throw std::runtime_error(l.plugin_id + " (" + l.type + ") returned a different size");
      }
    };
    for (int i = 0; i < c.warmup; ++i) {
      floor.call(frame);
      call_plugin();
    }
    std::vector<double> floor_samples, samples;
    for (int r = 0; r < c.rounds; ++r) {
      for (int i = 0; i < c.per_round; ++i) {
        auto t0 = Clock::now();
        floor.call(frame);
        floor_samples.push_back(ns_since(t0));
      }
      for (int i = 0; i < c.per_round; ++i) {
        auto t0 = Clock::now();
        call_plugin();
        samples.push_back(ns_since(t0));
      }
    }
    auto f = summarize(floor_samples);
    auto s = summarize(samples);
    results.raw["languages"][l.name][c.name] = Json{{"floor", summary_json(f)}, {"plugin", summary_json(s)}};
    const std::string base = "lang." + l.name + "." + c.name;
    results.add({base + ".p50", l.label + " plugin: " + c.name + " call, p50", "us", s.p50 / 1e3, f.p50 / 1e3,
                 c.bytes == 64 ? l.call_target : Target{}, l.what + "; floor: a raw Unix-socket echo in " + l.label});
    results.add({base + ".p90", l.label + " plugin: " + c.name + " call, p90", "us", s.p90 / 1e3, f.p90 / 1e3, {}, ""});
  }
}

void measure_cold(const Options& options, const Language& l, const fs::path& plugin_dir, const std::string& id,
                  const std::string& type, const std::string& input, const std::string& key,
                  const std::string& figure, const Target& target, const std::string& note, Results& results) {
  // In a fresh process, as the field's and go-plugin's are (harness.hpp says why).
  auto [samples, floor_samples] = cold_starts_in_fresh_process(
      options, {plugin_dir, id, type, input, lang_dir(l) / "hello", options.quick ? 3 : 12});
  auto f = summarize(floor_samples);
  auto s = summarize(samples);
  results.raw["languages"][l.name][key] = Json{{"floor", summary_json(f)}, {"plugin", summary_json(s)}};
  results.add({"lang." + l.name + "." + key + ".p50", figure, "ms", s.p50 / 1e6, f.p50 / 1e6, target,
               note + "; floor: " + l.label + "'s hello, launched as the plugin is, to its first line"});
}

}  // namespace

void bench_languages(const Options& options, Results& results) {
  for (const auto& l : languages()) {
    if (!fs::exists(lang_dir(l) / "plugins" / l.plugin_id) || !fs::exists(lang_dir(l) / "floor-echo")) {
      results.notes.push_back(l.label + " figures skipped: " + (lang_dir(l) / "plugins" / l.plugin_id).string() +
                              " or its floor was not built (bench/lang/CMakeLists.txt says why at configure time)");
      continue;
    }
    section(l.label + " plugin against " + l.label + " floors");
    measure_calls(options, l, results);
    measure_cold(options, l, lang_dir(l) / "plugins", l.plugin_id, l.type, std::string(64, 'x'), "cold",
                 l.label + " plugin: cold start (idle -> result), p50", l.cold_target, l.what, results);
    if (l.name == "python" && !options.python_plugin.empty() && fs::exists(options.python_plugin)) {
      // The example plugin too: its own imports (csv, json, math) on top of the SDK's.
      TempDir dir;
      fs::create_symlink(fs::absolute(options.python_plugin), dir.path() / options.python_plugin.filename());
      measure_cold(options, l, dir.path(), options.python_plugin.filename(), "stats", "1 2 3 4", "example_cold",
                   "Python plugin-py-stats: cold start (idle -> result), p50", {}, "examples/plugin-py-stats, type stats",
                   results);
    }
  }
}

}  // namespace plugvisor::bench
