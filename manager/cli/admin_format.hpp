// Human-readable values from admin API answers: durations, latencies, counts.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>

#include "plugvisor/contracts.hpp"

namespace plugvisor::cli {

/// Seconds as "42s", "5m12s", "3h04m", "2d05h"; "-" for none (0 or not a number).
inline std::string format_uptime(const Json& seconds) {
  if (!seconds.is_number() || seconds.get<double>() <= 0) return "-";
  auto s = static_cast<long long>(seconds.get<double>());
  char text[32];
  if (s < 60) {
    std::snprintf(text, sizeof text, "%llds", s);
  } else if (s < 3600) {
    std::snprintf(text, sizeof text, "%lldm%02llds", s / 60, s % 60);
  } else if (s < 86400) {
    std::snprintf(text, sizeof text, "%lldh%02lldm", s / 3600, s % 3600 / 60);
  } else {
    std::snprintf(text, sizeof text, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
  }
  return text;
}

/// Milliseconds as "0.31ms", "12.5ms", "340ms", "2.1s"; "-" for null (no call yet).
inline std::string format_ms(const Json& ms) {
  if (!ms.is_number()) return "-";
  double v = ms.get<double>();
  char text[32];
  if (v >= 1000) {
    std::snprintf(text, sizeof text, "%.1fs", v / 1000);
  } else if (v >= 100) {
    std::snprintf(text, sizeof text, "%.0fms", v);
  } else if (v >= 10) {
    std::snprintf(text, sizeof text, "%.1fms", v);
  } else {
    std::snprintf(text, sizeof text, "%.2fms", v);
  }
  return text;
}

/// A JSON value as a table cell: strings bare, numbers and the rest as JSON, null and "" as "-".
inline std::string cell(const Json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) return value.get<std::string>().empty() ? "-" : value.get<std::string>();
  return value.dump();
}

/// A member of `object` as a cell, "-" when missing.
inline std::string cell(const Json& object, const char* key) {
  return object.is_object() && object.contains(key) ? cell(object[key]) : "-";
}

/// Strings of a JSON array joined by ", "; "-" when empty or missing.
inline std::string joined(const Json& list) {
  std::string out;
  if (list.is_array()) {
    for (const auto& item : list) out += (out.empty() ? "" : ", ") + (item.is_string() ? item.get<std::string>() : item.dump());
  }
  return out.empty() ? "-" : out;
}

}  // namespace plugvisor::cli
