// When the host dies, even by SIGKILL, every plugin exits within a couple of
// seconds, whatever its language (stdin EOF, and the parent-death signal).
#include <signal.h>

#include <fstream>
#include <thread>

#include <catch2/catch.hpp>

#include "process/process_reactor.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Gone, or a zombie waiting for init: either way no longer running.
bool exited(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z';
}

}  // namespace

TEST_CASE("plugins in every language exit soon after their host is killed with SIGKILL", "[host][death]") {
  plugvisor::test::TempDir dir;
  dir.add_text_tools();
  dir.add_fixture("fixture", "good");
  for (const char* other : {"plugin-py-stats", "plugin-node-text"}) {
    fs::path built = fs::path(PLUGVISOR_PLUGIN_DIR) / other;
    REQUIRE(fs::exists(built));
    fs::create_symlink(built, dir.path() / other);
  }
  plugvisor::detail::ProcessReactor reactor;
  plugvisor::detail::SpawnSpec spec;
  spec.path = PLUGVISOR_TEST_HOST_PATH;
  spec.args = {dir.path().string()};
  spec.env = {"PATH=/usr/local/bin:/usr/bin:/bin"};
  std::vector<pid_t> plugins;
  std::mutex mutex;
  std::condition_variable ready;
  bool done = false;
  spec.log = [&](bool is_stderr, std::string_view line) {
    if (is_stderr) return;
    std::lock_guard lock(mutex);
    if (line == "ready") {
      done = true;
      ready.notify_all();
    } else {
      plugins.push_back(std::stoi(std::string(line)));
    }
  };
  auto host = reactor.spawn(spec);
  // The first stdout line is taken as a handshake by the reactor: read it too.
  auto first = host->wait_first_line(std::chrono::steady_clock::now() + 20s);
  REQUIRE(first);
  {
    std::unique_lock lock(mutex);
    REQUIRE(ready.wait_for(lock, 20s, [&] { return done; }));
    plugins.push_back(std::stoi(*first));
  }
  REQUIRE(plugins.size() == 4);
  for (pid_t pid : plugins) REQUIRE_FALSE(exited(pid));

  host->signal(SIGKILL);
  auto deadline = std::chrono::steady_clock::now() + 3s * plugvisor::test::timing_scale;
  for (pid_t pid : plugins) {
    while (!exited(pid) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
    INFO("plugin pid " << pid);
    CHECK(exited(pid));
  }
}
