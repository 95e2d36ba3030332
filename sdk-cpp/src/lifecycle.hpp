// What ends a plugin besides /shutdown: SIGTERM/SIGINT, EOF on stdin, and the
// idle timer. One thread watches all three.
#pragma once

#include <chrono>
#include <thread>

#include "server.hpp"

namespace plugvisor::sdk::detail {

/// Blocks SIGTERM and SIGINT in the calling thread (and every thread it
/// creates afterwards) so that only the Lifecycle watcher receives them.
/// Call before any thread is started.
void block_shutdown_signals();

/// Watches for the events that end a plugin and starts the server's graceful
/// shutdown on the first one. Stops and joins on destruction.
class Lifecycle {
 public:
  Lifecycle(Server& server, std::chrono::milliseconds idle_timeout);
  ~Lifecycle();
  Lifecycle(const Lifecycle&) = delete;
  Lifecycle& operator=(const Lifecycle&) = delete;

 private:
  void watch();

  Server& server_;
  std::chrono::milliseconds idle_timeout_;
  int signal_fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;
};

}  // namespace plugvisor::sdk::detail
