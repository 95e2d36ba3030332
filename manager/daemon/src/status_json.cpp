#include "status_json.hpp"

#include "plugvisor/daemon.hpp"

#include <ctime>

#include <fmt/format.h>

namespace plugvisor::detail {

namespace {

Json latency_ms(const LatencyQuantiles& latency) {
  auto ms = [](const std::optional<double>& seconds) { return seconds ? Json(*seconds * 1000.0) : Json(nullptr); };
  return {{"p50", ms(latency.p50)}, {"p90", ms(latency.p90)}, {"p99", ms(latency.p99)}};
}

}  // namespace

std::string rfc3339(std::chrono::system_clock::time_point time, bool millis) {
  auto seconds = std::chrono::time_point_cast<std::chrono::seconds>(time);
  std::time_t t = std::chrono::system_clock::to_time_t(seconds);
  std::tm utc{};
  ::gmtime_r(&t, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  if (!millis) return std::string(text) + "Z";
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(time - seconds).count();
  return fmt::format("{}.{:03}Z", text, ms);
}

Json plugin_json(const PluginStatus& status, bool detailed) {
  const bool running = status.pid > 0 && status.started_at.time_since_epoch().count() != 0;
  double uptime =
      running ? std::chrono::duration<double>(std::chrono::system_clock::now() - status.started_at).count() : 0.0;
  Json types = Json::array();
  std::uint64_t calls = 0, errors = 0;
  for (const auto& declared : status.capabilities.types) {
    Json type{{"contract", declared.contract}, {"type", declared.type}, {"description", declared.description},
              {"calls", 0},  {"errors", 0},        {"latencyMs", latency_ms({})}};
    for (const auto& stats : status.calls) {
      if (stats.contract == declared.contract && stats.type == declared.type) {
        type["calls"] = stats.calls;
        type["errors"] = stats.errors;
        type["latencyMs"] = latency_ms(stats.latency);
        calls += stats.calls;
        errors += stats.errors;
      }
    }
    if (detailed) type["jsonSchema"] = declared.json_schema;
    types.push_back(std::move(type));
  }
  Json transports = Json::array();
  for (auto served : status.capabilities.transports) transports.push_back(std::string(to_string(served)));
  Json contracts = Json::array();
  for (const auto& fit : status.contracts) {
    contracts.push_back({{"contract", fit.contract},
                         {"version", fit.version},
                         {"declared", fit.declared},
                         {"compatibility", to_string(fit.compatibility.level)},
                         {"reason", fit.compatibility.reason},
                         {"missingMethods", fit.compatibility.missing}});
  }
  Json out{
      {"id", status.id},
      {"path", status.path.string()},
      {"name", status.capabilities.name},
      {"version", status.capabilities.version},
      {"description", status.capabilities.description},
      {"state", std::string(to_string(status.state))},
      {"enabled", status.state != PluginState::disabled},
      {"pid", status.pid},
      {"startedAt", running ? Json(rfc3339(status.started_at)) : Json(nullptr)},
      {"uptimeSeconds", std::max(0.0, uptime)},
      {"starts", status.starts},
      {"restarts", status.restarts},
      {"idleExits", status.idle_exits},
      {"crashes", status.crashes},
      {"recentFailures", status.recent_failures},
      {"lastExit", status.last_exit},
      {"lastError", status.last_error},
      {"priority", status.settings.priority},
      {"start", status.settings.start == StartPolicy::eager ? "eager" : "lazy"},
      {"calls", calls},
      {"errors", errors},
      {"latencyMs", latency_ms(status.latency)},
      {"types", std::move(types)},
      {"contracts", std::move(contracts)},
      {"configTypes", status.capabilities.config_types},
      {"transport", std::string(to_string(status.transport))},
      {"transports", transports},
      {"droppedLogLines", status.dropped_log_lines},
      {"security", security_json(status)},
  };
  if (detailed) {
    Json descriptions = Json::object();
    for (const auto& [name, description] : status.capabilities.contracts) descriptions[name] = description.to_json();
    out["contractDescriptions"] = std::move(descriptions);
    out["configSchemas"] = status.capabilities.config_schemas;
    out["settings"] = plugin_settings_json(status.settings);
    out["settings"]["enabled"] = status.settings.enabled;
    out["settings"]["priority"] = status.settings.priority;
  }
  return out;
}

Json log_line_json(const LogLine& line) {
  return {{"seq", line.seq}, {"time", rfc3339(line.time, true)}, {"stream", line.stream}, {"text", line.text}};
}

}  // namespace plugvisor::detail
