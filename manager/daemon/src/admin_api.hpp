// The admin API's endpoints (docs/admin-api.md), installed on an HTTP server.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "metrics.hpp"
#include "plugvisor/manager.hpp"

namespace httplib {
class Server;
}

namespace plugvisor::detail {

/// What the endpoints need from the daemon.
struct AdminBackend {
  Manager& manager;
  /// GET /v1/daemon's body.
  std::function<Json()> daemon_info;
  /// POST /v1/reload: the answer, or throws Error(config).
  std::function<Json()> reload;
  /// The daemon's own figures for /metrics.
  std::function<DaemonFigures()> figures;
  /// Set when the daemon stops: follow streams end.
  const std::atomic<bool>& stopping;
  /// Follow streams whose response is not yet finished; the daemon waits for
  /// them to end cleanly before it stops the listeners.
  std::atomic<int> open_streams{0};
};

/// Installs every endpoint, the 404/405 answers and the exception handler on `server`.
void install_admin_api(httplib::Server& server, AdminBackend& backend);

/// The dashboard page (manager/daemon/dashboard/index.html).
std::string_view dashboard_html() noexcept;

}  // namespace plugvisor::detail
