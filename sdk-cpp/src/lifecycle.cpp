#include "lifecycle.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace plugvisor::sdk::detail {

namespace {

sigset_t shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

// The idle check runs ten times per timeout, at least every second and at
// most every 10 ms, so a plugin idles out within ~10% of its timeout.
int tick_ms(std::chrono::milliseconds idle_timeout) {
  if (idle_timeout.count() == 0) return 1000;
  return static_cast<int>(std::clamp<std::int64_t>(idle_timeout.count() / 10, 10, 1000));
}

}  // namespace

void block_shutdown_signals() {
  sigset_t set = shutdown_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  // A peer that closes early must not kill the plugin through SIGPIPE.
  signal(SIGPIPE, SIG_IGN);
}

Lifecycle::Lifecycle(Server& server, std::chrono::milliseconds idle_timeout)
    : server_(server), idle_timeout_(idle_timeout) {
  sigset_t set = shutdown_signals();
  signal_fd_ = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (signal_fd_ < 0 || wake_fd_ < 0) {
    throw Error(ErrorCode::internal, std::string("cannot watch signals: ") + std::strerror(errno));
  }
  thread_ = std::thread([this] { watch(); });
}

Lifecycle::~Lifecycle() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  thread_.join();
  ::close(signal_fd_);
  ::close(wake_fd_);
}

void Lifecycle::watch() {
  bool stdin_open = true;
  const int tick = tick_ms(idle_timeout_);
  while (true) {
    pollfd fds[3] = {{wake_fd_, POLLIN, 0}, {signal_fd_, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
    int n = ::poll(fds, stdin_open ? 3 : 2, tick);
    if (n < 0 && errno != EINTR) return;
    if (fds[0].revents) return;
    if (fds[1].revents & POLLIN) {
      signalfd_siginfo info{};
      if (::read(signal_fd_, &info, sizeof info) == sizeof info) {
        server_.begin_shutdown(std::string("received SIG") + sigabbrev_np(static_cast<int>(info.ssi_signo)));
      }
    }
    if (stdin_open && fds[2].revents) {
      char buffer[4096];
      ssize_t got = ::read(STDIN_FILENO, buffer, sizeof buffer);
      if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) {
        stdin_open = false;
        server_.begin_shutdown("stdin closed (the manager is gone)");
      }
    }
    if (idle_timeout_.count() > 0) server_.shutdown_if_idle(idle_timeout_);
  }
}

}  // namespace plugvisor::sdk::detail
