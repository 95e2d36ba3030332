#include "process/environment.hpp"

#include <array>
#include <cstdlib>
#include <string_view>

#include "plugvisor/contracts.hpp"

extern char** environ;

namespace plugvisor::detail {

namespace {

constexpr std::array<std::string_view, 12> allowlist{
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR",
    "ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS", "LD_LIBRARY_PATH"};

bool allowed(std::string_view name) {
  if (name.starts_with("LC_")) return true;
  for (auto entry : allowlist) {
    if (entry == name) return true;
  }
  return false;
}

}  // namespace

std::vector<std::string> plugin_environment(const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> env;
  for (char** entry = environ; entry && *entry; ++entry) {
    std::string_view text(*entry);
    auto eq = text.find('=');
    if (eq == std::string_view::npos) continue;
    std::string name(text.substr(0, eq));
    if (allowed(name)) env[name] = std::string(text.substr(eq + 1));
  }
  if (!env.contains("PATH")) env["PATH"] = "/usr/local/bin:/usr/bin:/bin";
  for (const auto& [name, value] : extra) env[name] = value;
  env[std::string(protocol::env_protocol)] = std::to_string(protocol::version);
  std::vector<std::string> out;
  for (const auto& [name, value] : env) out.push_back(name + "=" + value);
  return out;
}

}  // namespace plugvisor::detail
