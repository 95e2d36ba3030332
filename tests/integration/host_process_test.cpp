// A library leaves the host's process alone: the manager changes SIGPIPE's
// disposition and the allocator only when the host asks (ManagerOptions).
#include <malloc.h>
#include <signal.h>

#include <catch2/catch.hpp>

#include "plugvisor/manager.hpp"
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
