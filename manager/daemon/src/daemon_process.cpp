#include "daemon_process.hpp"

#include <malloc.h>

#include <csignal>
#include <cstdlib>
#include <string_view>

namespace plugvisor::detail {

void own_daemon_process(bool return_freed_memory) {
  struct sigaction current {};
  if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL &&
      !(current.sa_flags & SA_SIGINFO)) {
    ::signal(SIGPIPE, SIG_IGN);
  }
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables && std::string_view(tunables).find("glibc.malloc.") != std::string_view::npos) return;
  ::mallopt(M_MMAP_THRESHOLD, 32 << 20);
  ::mallopt(M_TRIM_THRESHOLD, return_freed_memory ? 1 << 20 : 128 << 20);
  ::mallopt(M_TOP_PAD, return_freed_memory ? 1 << 20 : 16 << 20);
}

}  // namespace plugvisor::detail
