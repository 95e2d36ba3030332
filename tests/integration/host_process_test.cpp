// A library leaves the host's process alone: the manager changes SIGPIPE's
// disposition and the allocator only when the host asks (ManagerOptions),
// and launching a plugin does not copy the host (vfork, not fork).
#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "plugvisor/manager.hpp"
#include "process/process_reactor.hpp"
#include "test_support.hpp"

using plugvisor::DataProcessor;
using plugvisor::Error;
using plugvisor::Transport;
using plugvisor::test::TempDir;

namespace {

void* sigpipe_handler() {
  struct sigaction current {};
  REQUIRE(::sigaction(SIGPIPE, nullptr, &current) == 0);
  return reinterpret_cast<void*>(current.sa_handler);
}

}  // namespace

TEST_CASE("a host that leaves SIGPIPE at its default survives a plugin that closes its socket mid-call",
          "[host][sigpipe]") {
  ::signal(SIGPIPE, SIG_DFL);
  for (auto transport : {Transport::unix_socket, Transport::tcp}) {
    TempDir dir;
    // It closes the connection as soon as it has read the head of a processData call.
    dir.add_file("closer", std::string("#!/bin/sh\nexec '") + PLUGVISOR_PYTHON3 + "' '" + PLUGVISOR_BROKEN_PLUGIN +
                               "' --break close-mid-call \"$@\"\n");
    auto options = plugvisor::test::test_options(dir.path());
    options.defaults.transport = transport;
    plugvisor::Manager manager(options);
    CHECK(sigpipe_handler() == reinterpret_cast<void*>(SIG_DFL));  // the manager left it alone
    auto echo = manager.registry().get<DataProcessor>("echo");
    echo->ping();
    // 16 MiB: far more than the socket buffers take, so the manager is still
    // writing when the plugin's end goes away. A SIGPIPE would end this process.
    for (int i = 0; i < 3; ++i) CHECK_THROWS_AS(echo->process_data(std::string(16 << 20, 'x')), Error);
    CHECK(sigpipe_handler() == reinterpret_cast<void*>(SIG_DFL));
    echo->ping();  // the plugin, and the manager, still serve
  }
}

TEST_CASE("a host that asks for it gets SIGPIPE ignored, and a handler of its own is kept", "[host][sigpipe]") {
  TempDir dir;
  dir.add_fixture("fixture", "good");
  auto options = plugvisor::test::test_options(dir.path());
  options.ignore_sigpipe = true;
  ::signal(SIGPIPE, SIG_DFL);
  {
    plugvisor::Manager manager(options);
    CHECK(sigpipe_handler() == reinterpret_cast<void*>(SIG_IGN));
  }
  auto own = +[](int) {};
  ::signal(SIGPIPE, own);
  {
    plugvisor::Manager manager(options);
    CHECK(sigpipe_handler() == reinterpret_cast<void*>(own));
  }
  ::signal(SIGPIPE, SIG_DFL);
}

// ThreadSanitizer turns vfork into fork (its interceptor), so there the
// host's fork handlers do run.
#if !defined(__SANITIZE_THREAD__)
namespace {

std::atomic<int> host_forks{0};

}  // namespace

TEST_CASE("launching plugins runs none of the host's fork handlers: the host is not copied", "[host][launch]") {
  // A fork would copy the host's page tables (a launch then costs more the
  // larger the host) and run its pthread_atfork handlers; vfork does neither.
  static const bool registered = ::pthread_atfork([] { ++host_forks; }, nullptr, nullptr) == 0;
  REQUIRE(registered);
  TempDir dir;
  dir.add_fixture("fixture", "good");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));  // probing capabilities is a launch too
  auto echo = manager.registry().get<DataProcessor>("echo");
  CHECK(echo->process_data("x") == "x");
  manager.stop("fixture");
  CHECK(echo->process_data("y") == "y");  // launched again
  CHECK(host_forks == 0);
}
#endif

TEST_CASE("a child's first input is in its stdin before it starts: it need not wait for its launcher",
          "[host][launch]") {
  // The launch configuration goes into the pipe before the child exists. The
  // owner here never writes: the child reads the bytes all the same, and
  // sees end of file after them once the owner closes its end.
  plugvisor::detail::ProcessReactor reactor;
  plugvisor::detail::SpawnSpec spec;
  spec.path = "/bin/cat";
  spec.env = {"PATH=/usr/bin:/bin"};
  spec.pipe_stdin = true;
  spec.stdin_data = "{\"configuration\":1}\n";
  spec.stdout_mode = plugvisor::detail::StdoutMode::capture;
  auto child = reactor.spawn(std::move(spec));
  child->close_stdin();
  auto status = child->wait_until(std::chrono::steady_clock::now() + std::chrono::seconds(5));
  REQUIRE(status);
  CHECK(status->clean());
  CHECK(child->captured().first == "{\"configuration\":1}\n");
}

namespace {

// One "SigXxx:" mask of /proc/PID/status, as a number.
std::uint64_t status_mask(const std::string& status, const std::string& name) {
  auto at = status.find("\n" + name + ":");
  REQUIRE(at != std::string::npos);
  return std::stoull(status.substr(at + name.size() + 2), nullptr, 16);
}

std::uint64_t bit(int sig) { return std::uint64_t{1} << (sig - 1); }

}  // namespace

TEST_CASE("a child starts with an empty signal mask and no caught signal, whatever the host blocks, catches or ignores",
          "[host][launch]") {
  // The host catches SIGUSR1 and SIGTERM, ignores SIGPIPE and SIGUSR2, and the
  // thread that creates the reactor (whose thread inherits its mask) blocks
  // SIGUSR1 and SIGINT. protocol.md: default dispositions (SIGPIPE, SIGTERM,
  // SIGINT, SIGHUP, SIGCHLD whatever the host does; other ignored signals
  // stay ignored, as across a fork) and an empty mask.
  struct sigaction caught {}, ignored {}, old_usr1 {}, old_term {}, old_pipe {}, old_usr2 {};
  caught.sa_handler = [](int) {};
  ignored.sa_handler = SIG_IGN;
  ::sigaction(SIGUSR1, &caught, &old_usr1);
  ::sigaction(SIGTERM, &caught, &old_term);
  ::sigaction(SIGPIPE, &ignored, &old_pipe);
  ::sigaction(SIGUSR2, &ignored, &old_usr2);
  sigset_t blocked, old_mask;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGUSR1);
  sigaddset(&blocked, SIGINT);
  ::pthread_sigmask(SIG_BLOCK, &blocked, &old_mask);
  std::string status;
  {
    plugvisor::detail::ProcessReactor reactor;
    plugvisor::detail::SpawnSpec spec;
    spec.path = "/bin/cat";
    spec.args = {"/proc/self/status"};
    spec.env = {"PATH=/usr/bin:/bin"};
    spec.stdout_mode = plugvisor::detail::StdoutMode::capture;
    auto child = reactor.spawn(std::move(spec));
    auto exit = child->wait_until(std::chrono::steady_clock::now() + std::chrono::seconds(10));
    REQUIRE(exit);
    CHECK(exit->clean());
    status = child->captured().first;
  }
  INFO(status);
  CHECK(status_mask(status, "SigBlk") == 0);
  CHECK(status_mask(status, "SigCgt") == 0);
  const std::uint64_t ignored_signals = status_mask(status, "SigIgn");
  CHECK((ignored_signals & bit(SIGUSR2)) != 0);
  CHECK((ignored_signals & (bit(SIGPIPE) | bit(SIGTERM) | bit(SIGUSR1))) == 0);
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  ::sigaction(SIGUSR1, &old_usr1, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  ::sigaction(SIGPIPE, &old_pipe, nullptr);
  ::sigaction(SIGUSR2, &old_usr2, nullptr);
}

namespace {

plugvisor::detail::SpawnSpec shell(const std::string& script) {
  plugvisor::detail::SpawnSpec spec;
  spec.path = "/bin/sh";
  spec.args = {"-c", script};
  spec.env = {"PATH=/usr/bin:/bin"};
  spec.pipe_stdin = true;
  return spec;
}

}  // namespace

TEST_CASE("the launching thread reads the handshake line itself: a busy reactor thread does not delay a launch",
          "[host][launch][handshake]") {
  using namespace std::chrono_literals;
  std::promise<void> stuck, release;  // before the reactor: its sinks use them until it is gone
  auto released = release.get_future().share();
  bool first = true;
  plugvisor::detail::ProcessReactor reactor;
  // `late` prints its handshake only when told, after the reactor thread is stuck.
  auto late = reactor.spawn(shell("read go; echo '{\"handshake\":1}'; echo 'a log line'; exec sleep 30"));
  auto blocker = shell("echo 'a line that blocks the reactor' >&2; exec sleep 30");
  blocker.log = [&, released](bool, std::string_view) {
    if (!std::exchange(first, false)) return;
    stuck.set_value();
    released.wait_for(20s);  // a sink that blocks, which it must not: here on purpose
  };
  auto other = reactor.spawn(std::move(blocker));
  REQUIRE(stuck.get_future().wait_for(10s) == std::future_status::ready);

  REQUIRE(late->write_stdin("go\n", std::chrono::steady_clock::now() + 5s));
  auto line = late->wait_first_line(std::chrono::steady_clock::now() + 10s);
  release.set_value();
  REQUIRE(line);
  CHECK(*line == "{\"handshake\":1}");
  late->signal(SIGKILL);
  other->signal(SIGKILL);
  CHECK(late->wait_until(std::chrono::steady_clock::now() + 10s));
  CHECK(other->wait_until(std::chrono::steady_clock::now() + 10s));
}

TEST_CASE("the lines that follow the handshake in the same write reach the log, on the reactor thread",
          "[host][launch][handshake]") {
  using namespace std::chrono_literals;
  std::mutex mutex;
  std::vector<std::pair<std::string, std::thread::id>> lines;
  plugvisor::detail::ProcessReactor reactor;
  auto spec = shell("printf '{\"handshake\":1}\\nfirst log line\\nsecond log line\\n'; read wait_for_eof; echo after");
  spec.log = [&](bool is_stderr, std::string_view line) {
    std::lock_guard lock(mutex);
    if (!is_stderr) lines.emplace_back(std::string(line), std::this_thread::get_id());
  };
  auto child = reactor.spawn(std::move(spec));
  auto line = child->wait_first_line(std::chrono::steady_clock::now() + 10s);
  REQUIRE(line);
  CHECK(*line == "{\"handshake\":1}");
  child->close_stdin();  // the script goes on and prints "after", then exits
  REQUIRE(child->wait_until(std::chrono::steady_clock::now() + 10s));
  std::unique_lock lock(mutex);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].first == "first log line");
  CHECK(lines[1].first == "second log line");
  CHECK(lines[2].first == "after");
  for (const auto& [text, thread] : lines) CHECK(thread != std::this_thread::get_id());
}

TEST_CASE("a handshake line followed by the child's exit is still the handshake", "[host][launch][handshake]") {
  using namespace std::chrono_literals;
  plugvisor::detail::ProcessReactor reactor;
  for (const char* script : {"echo '{\"handshake\":1}'", "printf '{\"handshake\":1}'", "printf '{\"handshake\":1}' & exec sleep 0.2",
                             "(sleep 30 >&2 &) ; printf '{\"handshake\"'; sleep 0.1; echo ':1}'; exit 3"}) {
    INFO(script);
    auto child = reactor.spawn(shell(script));
    auto line = child->wait_first_line(std::chrono::steady_clock::now() + 10s);
    REQUIRE(line);
    CHECK(*line == "{\"handshake\":1}");
    child->signal(SIGKILL);
    CHECK(child->wait_until(std::chrono::steady_clock::now() + 10s));
  }
}

TEST_CASE("a child that never prints its handshake line is given up at the deadline, and one that exits at once",
          "[host][launch][handshake]") {
  using namespace std::chrono_literals;
  plugvisor::detail::ProcessReactor reactor;
  auto silent = reactor.spawn(shell("exec sleep 30"));
  CHECK_FALSE(silent->wait_first_line(std::chrono::steady_clock::now() + 200ms));
  CHECK_FALSE(silent->exit_status());
  silent->signal(SIGKILL);
  CHECK(silent->wait_until(std::chrono::steady_clock::now() + 10s));

  // A grandchild keeps stdout open: the exit, not the end of stdout, ends the wait.
  auto gone = reactor.spawn(shell("sleep 30 & exit 4"));
  CHECK_FALSE(gone->wait_first_line(std::chrono::steady_clock::now() + 20s));
  auto status = gone->exit_status();
  REQUIRE(status);
  CHECK(status->code == 4);
}

// glibc's allocator only: sanitizers bring their own. With glibc's defaults a
// 16 MiB block is a mapping of its own (mallinfo2().hblks counts them);
// tuned, it comes from the heap. glibc raises its threshold after freeing a
// mapped block, so each case needs a fresh process (ctest runs each alone).
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
namespace {

std::size_t mapped_blocks_for_16_mib() {
  auto before = ::mallinfo2().hblks;
  void* block = std::malloc(16 << 20);
  REQUIRE(block);
  auto during = ::mallinfo2().hblks;
  std::free(block);
  return during - before;
}

}  // namespace

TEST_CASE("by default the manager leaves the host's allocator settings alone", "[host][malloc]") {
  TempDir dir;
  dir.add_fixture("fixture", "good");
  plugvisor::Manager manager(plugvisor::test::test_options(dir.path()));
  CHECK(manager.registry().get<DataProcessor>("echo")->process_data("x") == "x");
  CHECK(mapped_blocks_for_16_mib() == 1);
}

TEST_CASE("a host that asks for it gets the allocator tuned for large calls", "[host][malloc]") {
  TempDir dir;
  dir.add_fixture("fixture", "good");
  auto options = plugvisor::test::test_options(dir.path());
  options.tune_malloc = true;
  plugvisor::Manager manager(options);
  CHECK(mapped_blocks_for_16_mib() == 0);
}
#endif
