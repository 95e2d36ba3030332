// The admin API's listeners: a Unix socket (mode 0600) and, optionally,
// loopback TCP with a bearer token.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "admin_api.hpp"

namespace plugvisor::detail {

/// Binds in the constructor (so errors surface before anything starts),
/// serves from start() until stop() or destruction. Stopping removes the
/// socket file.
class AdminServer {
 public:
  /// Throws Error(unavailable) if a listener cannot be bound. `tcp_address`
  /// empty: Unix socket only; then `token` is unused.
  AdminServer(const std::filesystem::path& socket, const std::string& tcp_address, const std::string& token);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  /// The address bound over TCP ("127.0.0.1:43211"), empty if none.
  const std::string& tcp_bound() const noexcept;
  /// Installs the endpoints and starts serving on both listeners.
  void start(AdminBackend& backend);
  /// Stops both listeners and waits for their requests. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace plugvisor::detail
