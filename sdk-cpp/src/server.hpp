// The plugin's HTTP server: auth, dispatch, in-flight tracking and drain.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "launch_config.hpp"
#include "plugvisor/sdk.hpp"

namespace plugvisor::sdk::detail {

/// Serves one plugin's endpoints. bind() then serve() from the main thread;
/// the other members are thread-safe.
class Server {
 public:
  /// `handlers` are keyed "contract/type"; at most `max_connections` are
  /// served at once, the others wait in the listen backlog.
  Server(const LaunchConfig& launch, std::map<std::string, Plugin::Handler> handlers, std::size_t max_connections);
  ~Server();

  /// Binds the configured address; returns the address to report in the
  /// handshake. Throws Error(unavailable) if it cannot bind, Error(config) if
  /// the address is not allowed.
  std::string bind();

  /// Serves until a shutdown completes (blocks); returns the exit code
  /// (0, or 1 if calls were abandoned after the grace).
  int serve();

  /// Starts a graceful shutdown: new calls get 503, the socket file is
  /// removed at once, in-flight calls finish. Idempotent.
  void begin_shutdown(const std::string& reason);

  /// Starts the shutdown if no call is in flight and none arrived for
  /// `idle_timeout`; returns whether it did.
  bool shutdown_if_idle(std::chrono::milliseconds idle_timeout);


 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace plugvisor::sdk::detail
