#include "permissions.hpp"

#include <algorithm>
#include <climits>

#include "../quote.hpp"

namespace plugvisor {

namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const std::string& what) { throw Error(ErrorCode::config, "permissions: " + what); }

const std::vector<std::string> keys{"network", "read", "write", "memoryBytes", "cpuTime", "processes"};

std::vector<fs::path> paths(const Json& doc, const char* key) {
  std::vector<fs::path> out;
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return out;
  if (!it->is_array()) fail(std::string("\"") + key + "\" must be an array of absolute paths, not " + it->dump());
  if (it->size() > 256) fail(std::string("\"") + key + "\" lists more than 256 paths");
  for (const auto& entry : *it) {
    if (!entry.is_string() || entry.get<std::string>().empty() || entry.get<std::string>().size() > 4096 ||
        entry.get<std::string>().find('\0') != std::string::npos) {
      fail(std::string("\"") + key + "\" must hold paths (non-empty strings up to 4096 bytes), not " +
           detail::quote(entry.dump()));
    }
    fs::path path(entry.get<std::string>());
    if (!path.is_absolute()) {
      fail(std::string("\"") + key + "\" path " + detail::quote(path.string()) + " is not absolute: write it in full");
    }
    path = path.lexically_normal();
    if (!path.has_filename() && path != path.root_path()) path = path.parent_path();
    out.push_back(path);
  }
  return out;
}

std::uint64_t count(const Json& doc, const char* key, std::uint64_t max) {
  auto it = doc.find(key);
  if (it == doc.end() || it->is_null()) return 0;
  if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<std::int64_t>() >= 0)) {
    fail(std::string("\"") + key + "\" must be a whole number of at least 0 (0: no limit), not " + it->dump());
  }
  if (it->get<std::uint64_t>() > max) {
    fail(std::string("\"") + key + "\" must be at most " + std::to_string(max) + ", not " + it->dump());
  }
  return it->get<std::uint64_t>();
}

std::string limit_text(std::uint64_t value, const std::string& unit) {
  return value == 0 ? "no limit" : std::to_string(value) + unit;
}

}  // namespace

std::string_view to_string(NetworkAccess network) noexcept {
  switch (network) {
    case NetworkAccess::none:
      return "none";
    case NetworkAccess::loopback:
      return "loopback";
    case NetworkAccess::outbound:
      return "outbound";
  }
  return "none";
}

std::string_view to_string(Enforcement enforce) noexcept {
  return enforce == Enforcement::required ? "required" : "best-effort";
}

Json permissions_json(const Permissions& p) {
  Json read = Json::array(), write = Json::array();
  for (const auto& path : p.read) read.push_back(path.string());
  for (const auto& path : p.write) write.push_back(path.string());
  return Json{{"network", std::string(to_string(p.network))},
              {"read", std::move(read)},
              {"write", std::move(write)},
              {"memoryBytes", p.memory_bytes},
              {"cpuTime", protocol::format_duration(p.cpu_time)},
              {"processes", p.processes}};
}

Permissions parse_permissions(const Json& doc) {
  if (!doc.is_object()) fail("must be an object with the keys network, read, write, memoryBytes, cpuTime, processes");
  for (const auto& item : doc.items()) {
    if (std::find(keys.begin(), keys.end(), item.key()) == keys.end()) {
      fail("unknown key " + detail::quote(item.key()) +
           " (allowed: network, read, write, memoryBytes, cpuTime, processes)");
    }
  }
  Permissions out;
  if (auto it = doc.find("network"); it != doc.end() && !it->is_null()) {
    std::string value = it->is_string() ? it->get<std::string>() : it->dump();
    if (value == "none") out.network = NetworkAccess::none;
    else if (value == "loopback") out.network = NetworkAccess::loopback;
    else if (value == "outbound") out.network = NetworkAccess::outbound;
    else fail("\"network\" must be \"none\", \"loopback\" or \"outbound\", not " + detail::quote(value));
  }
  out.read = paths(doc, "read");
  out.write = paths(doc, "write");
  out.memory_bytes = count(doc, "memoryBytes", static_cast<std::uint64_t>(INT64_MAX));
  out.processes = count(doc, "processes", 1'000'000);
  if (auto it = doc.find("cpuTime"); it != doc.end() && !it->is_null()) {
    if (!it->is_string()) fail("\"cpuTime\" must be a duration string such as \"30s\", not " + it->dump());
    std::chrono::milliseconds cpu{};
    try {
      cpu = protocol::parse_duration(it->get<std::string>());
    } catch (const Error& e) {
      fail(std::string("\"cpuTime\": ") + e.what());
    }
    if (cpu.count() % 1000 != 0) fail("\"cpuTime\" must be whole seconds (the kernel counts CPU time in seconds)");
    out.cpu_time = std::chrono::duration_cast<std::chrono::seconds>(cpu);
  }
  return out;
}

namespace detail {

bool path_within(const fs::path& path, const fs::path& base) {
  auto b = base.begin(), p = path.begin();
  for (; b != base.end(); ++b, ++p) {
    if (p == path.end() || *p != *b) return false;
  }
  return true;
}

namespace {

bool covered(const fs::path& path, const std::vector<fs::path>& by) {
  return std::any_of(by.begin(), by.end(), [&](const fs::path& base) { return path_within(path, base); });
}

std::string list(const std::vector<fs::path>& paths) {
  if (paths.empty()) return "none";
  std::string out;
  for (const auto& path : paths) out += (out.empty() ? "" : ", ") + path.string();
  return out;
}

void check_limit(std::vector<std::string>& out, const std::string& what, std::uint64_t declared,
                 std::uint64_t granted, const std::string& unit) {
  if (granted != 0 && declared > granted) {
    out.push_back(what + " " + limit_text(declared, unit) + " (granted: " + limit_text(granted, unit) + ")");
  }
}

std::size_t smaller_set(std::size_t a, std::size_t b) { return a == 0 ? b : b == 0 ? a : std::min(a, b); }

}  // namespace

std::vector<std::string> permission_excess(const Permissions& declared, const Permissions& granted) {
  std::vector<std::string> out;
  if (declared.network > granted.network) {
    out.push_back("network " + std::string(to_string(declared.network)) + " (granted: " +
                  std::string(to_string(granted.network)) + ")");
  }
  std::vector<fs::path> readable = granted.read;
  readable.insert(readable.end(), granted.write.begin(), granted.write.end());
  for (const auto& path : declared.read) {
    if (!covered(path, readable)) out.push_back("read " + path.string() + " (granted: " + list(readable) + ")");
  }
  for (const auto& path : declared.write) {
    if (!covered(path, granted.write)) out.push_back("write " + path.string() + " (granted: " + list(granted.write) + ")");
  }
  check_limit(out, "memoryBytes", declared.memory_bytes, granted.memory_bytes, " bytes");
  check_limit(out, "cpuTime", static_cast<std::uint64_t>(declared.cpu_time.count()),
              static_cast<std::uint64_t>(granted.cpu_time.count()), " s");
  check_limit(out, "processes", declared.processes, granted.processes, "");
  return out;
}

Permissions narrow(const Permissions& declared, const Permissions& granted) {
  Permissions out = declared;
  out.memory_bytes = smaller_set(declared.memory_bytes, granted.memory_bytes);
  out.processes = smaller_set(declared.processes, granted.processes);
  out.cpu_time = std::chrono::seconds(smaller_set(static_cast<std::size_t>(declared.cpu_time.count()),
                                                  static_cast<std::size_t>(granted.cpu_time.count())));
  return out;
}

}  // namespace detail

}  // namespace plugvisor
