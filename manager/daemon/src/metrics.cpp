#include "metrics.hpp"

#include <fmt/format.h>

namespace plugvisor::detail {

namespace {

// A label value: backslash, double quote and line feed are escaped.
std::string label(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// A float as Prometheus writes it.
std::string number(double value) { return fmt::format("{}", value); }

class Writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    text_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void sample(std::string_view name, std::string_view labels, std::string_view value) {
    text_ += name;
    if (!labels.empty()) text_ += fmt::format("{{{}}}", labels);
    text_ += ' ';
    text_ += value;
    text_ += '\n';
  }
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
};

constexpr PluginState all_states[] = {PluginState::registered, PluginState::starting, PluginState::ready,
                                      PluginState::idle,       PluginState::stopping, PluginState::stopped,
                                      PluginState::crashed,    PluginState::failed,   PluginState::disabled};

}  // namespace

std::string prometheus_text(const std::vector<PluginStatus>& plugins, const DaemonFigures& daemon) {
  Writer w;
  w.family("plugvisor_plugin_state", "gauge", "1 for the plugin's current state, 0 for the others.");
  for (const auto& p : plugins) {
    for (PluginState state : all_states) {
      w.sample("plugvisor_plugin_state", fmt::format(R"(plugin="{}",state="{}")", label(p.id), to_string(state)),
               p.state == state ? "1" : "0");
    }
  }
  auto counter = [&](std::string_view name, std::string_view help, auto field) {
    w.family(name, "counter", help);
    for (const auto& p : plugins) w.sample(name, fmt::format(R"(plugin="{}")", label(p.id)), std::to_string(field(p)));
  };
  counter("plugvisor_plugin_starts_total", "Launches of the plugin.", [](const PluginStatus& p) { return p.starts; });
  counter("plugvisor_plugin_restarts_total", "Launches that followed a failure.",
          [](const PluginStatus& p) { return p.restarts; });
  counter("plugvisor_plugin_idle_exits_total", "Exits on the idle timeout.",
          [](const PluginStatus& p) { return p.idle_exits; });
  counter("plugvisor_plugin_crashes_total", "Failures: crashes, failed starts, kills after a hang.",
          [](const PluginStatus& p) { return p.crashes; });
  counter("plugvisor_plugin_dropped_log_lines_total", "Log lines dropped by the rate limit.",
          [](const PluginStatus& p) { return p.dropped_log_lines; });

  auto type_labels = [](const PluginStatus& p, const TypeCallStats& t) {
    return fmt::format(R"(plugin="{}",contract="{}",type="{}")", label(p.id), label(t.contract), label(t.type));
  };
  w.family("plugvisor_calls_total", "counter", "Calls through the manager.");
  for (const auto& p : plugins) {
    for (const auto& t : p.calls) w.sample("plugvisor_calls_total", type_labels(p, t), std::to_string(t.calls));
  }
  w.family("plugvisor_call_errors_total", "counter", "Calls that failed, by error code.");
  for (const auto& p : plugins) {
    for (const auto& t : p.calls) {
      for (const auto& [code, count] : t.errors_by_code) {
        w.sample("plugvisor_call_errors_total", fmt::format(R"({},code="{}")", type_labels(p, t), label(code)),
                 std::to_string(count));
      }
    }
  }
  w.family("plugvisor_call_duration_seconds", "histogram", "Call latency as the caller saw it.");
  const auto& bounds = latency_bucket_bounds();
  for (const auto& p : plugins) {
    for (const auto& t : p.calls) {
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i < t.buckets.size(); ++i) {
        cumulative += t.buckets[i];
        std::string le = i < bounds.size() ? number(bounds[i]) : "+Inf";
        w.sample("plugvisor_call_duration_seconds_bucket", fmt::format(R"({},le="{}")", type_labels(p, t), le),
                 std::to_string(cumulative));
      }
      w.sample("plugvisor_call_duration_seconds_sum", type_labels(p, t), number(t.latency_sum));
      w.sample("plugvisor_call_duration_seconds_count", type_labels(p, t), std::to_string(t.calls));
    }
  }
  w.family("plugvisor_plugins_rejected", "gauge", "Files turned down by discovery or the capabilities probe.");
  w.sample("plugvisor_plugins_rejected", "", std::to_string(daemon.rejected));
  w.family("plugvisor_reloads_total", "counter", "Configuration reloads by result.");
  w.sample("plugvisor_reloads_total", R"(result="ok")", std::to_string(daemon.reloads_ok));
  w.sample("plugvisor_reloads_total", R"(result="error")", std::to_string(daemon.reloads_failed));
  w.family("plugvisor_daemon_start_time_seconds", "gauge", "Unix time the daemon started.");
  w.sample("plugvisor_daemon_start_time_seconds", "",
           number(std::chrono::duration<double>(daemon.started.time_since_epoch()).count()));
  return w.take();
}

}  // namespace plugvisor::detail
