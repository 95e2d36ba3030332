#include "test_support.hpp"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

namespace plugvisor::test {

namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "plugvisor-test-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

fs::path TempDir::add_file(const std::string& name, const std::string& content, unsigned mode) {
  auto path = path_ / name;
  {
    std::ofstream out(path);
    out << content;
  }
  fs::permissions(path, static_cast<fs::perms>(mode), fs::perm_options::replace);
  return path;
}

fs::path TempDir::add_fixture(const std::string& name, const std::string& mode) {
  return add_file(name, "#!/bin/sh\nexec '" PLUGVISOR_FIXTURE_PATH "' --mode " + mode + " \"$@\"\n");
}

fs::path TempDir::add_text_tools() {
  auto path = path_ / "plugin-text-tools";
  fs::create_symlink(text_tools_path(), path);
  return path;
}

fs::path text_tools_path() { return fs::path(PLUGVISOR_PLUGIN_DIR) / "plugin-text-tools"; }

ManagerOptions test_options(const fs::path& dir) {
  ManagerOptions options;
  options.plugin_dirs = {dir};
  options.defaults.capabilities_timeout = std::chrono::seconds(2) * timing_scale;
  options.defaults.start_timeout = std::chrono::seconds(2) * timing_scale;
  options.defaults.call_timeout = std::chrono::seconds(10);
  options.defaults.stop_grace = std::chrono::seconds(2);
  return options;
}

std::vector<pid_t> child_pids() {
  std::vector<pid_t> out;
  const pid_t self = ::getpid();
  DIR* proc = ::opendir("/proc");
  if (!proc) return out;
  while (dirent* entry = ::readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(entry->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    std::ifstream stat("/proc/" + std::string(entry->d_name) + "/stat");
    std::string line;
    std::getline(stat, line);
    auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    char state = 0;
    long ppid = 0;
    rest >> state >> ppid;
    if (ppid == self) out.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(proc);
  return out;
}

bool stop_process(pid_t pid) {
  ::kill(pid, SIGSTOP);
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  return wait_for([&] {
    std::error_code error;
    for (const auto& task : fs::directory_iterator(tasks, error)) {
      std::ifstream stat(task.path() / "stat");
      std::string line;
      std::getline(stat, line);
      auto close = line.rfind(')');
      if (close == std::string::npos || close + 2 >= line.size()) return false;
      char state = line[close + 2];
      if (state != 'T' && state != 't') return false;
    }
    return !error;
  });
}

std::vector<pid_t> wait_for_no_children(std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    auto pids = child_pids();
    if (pids.empty() || std::chrono::steady_clock::now() > deadline) return pids;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::map<int, std::string> open_descriptors(pid_t pid) {
  std::map<int, std::string> out;
  const std::string dir = pid == 0 ? "/proc/self/fd" : "/proc/" + std::to_string(pid) + "/fd";
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    std::error_code link_ec;
    auto target = fs::read_symlink(it->path(), link_ec);
    if (link_ec) continue;  // closed meanwhile (the listing's own descriptor, for one)
    out[std::stoi(it->path().filename().string())] = target.string();
  }
  return out;
}

std::size_t thread_count(pid_t pid) {
  const std::string dir = pid == 0 ? "/proc/self/task" : "/proc/" + std::to_string(pid) + "/task";
  std::size_t n = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) ++n;
  return n;
}

bool process_gone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

ScopedEnv::ScopedEnv(std::string name, const std::string& value) : name_(std::move(name)) {
  if (const char* old = std::getenv(name_.c_str())) previous_ = old;
  ::setenv(name_.c_str(), value.c_str(), 1);
}

ScopedEnv::~ScopedEnv() {
  if (previous_) {
    ::setenv(name_.c_str(), previous_->c_str(), 1);
  } else {
    ::unsetenv(name_.c_str());
  }
}

bool wait_for(const std::function<bool()>& condition, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

bool wait_for_state(const Manager& manager, const std::string& id, PluginState state,
                    std::chrono::milliseconds limit) {
  return wait_for([&] { return manager.plugin(id)->state == state; }, limit);
}

}  // namespace plugvisor::test
