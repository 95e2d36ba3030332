#include "admin_server.hpp"

#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include <httplib.h>

#include "admission.hpp"
#include "plugvisor/wire/address.hpp"
#include "gated_server.hpp"
#include "lean_call.hpp"
#include "socket_file.hpp"

namespace plugvisor::detail {

namespace {

// The listener's bounds (docs/operations.md, "Limits under attack").
GatedLimits listener_limits() {
  GatedLimits limits;
  limits.workers = 16;  // a follow stream holds one: admin_api caps them below this
  return limits;
}

void configure(httplib::Server& server, const AdmissionRules& rules) {
  server.set_tcp_nodelay(true);
  // Chunked bodies have no declared length for the gate to check: this is their bound.
  server.set_payload_max_length(rules.call_body_limit);
}

}  // namespace

struct AdminServer::Impl {
  std::filesystem::path socket;
  std::string tcp_bound;
  std::unique_ptr<GatedServer> unix_server;
  std::unique_ptr<GatedServer> tcp_server;
  std::thread unix_thread, tcp_thread;
  bool stopped = false;
};

AdminServer::AdminServer(const std::filesystem::path& socket, const std::string& tcp_address,
                         const std::string& token)
    : impl_(std::make_unique<Impl>()) {
  impl_->socket = socket;
  AdmissionRules unix_rules;
  impl_->unix_server = std::make_unique<GatedServer>(admin_admission(unix_rules), listener_limits());
  configure(*impl_->unix_server, unix_rules);
  impl_->unix_server->set_address_family(AF_UNIX);
  // The caller holds the admin lock: a socket here is a dead daemon's. Anything
  // else is not ours to delete.
  replace_stale_socket(socket);
  mode_t old_mask = ::umask(0177);  // created 0600: the file system is the authentication
  bool bound = impl_->unix_server->bind_to_port(socket.string(), 80);
  ::umask(old_mask);
  if (!bound) {
    throw Error(ErrorCode::unavailable, "cannot listen on the admin socket " + socket.string() +
                                            ": check that its directory exists and is writable, or set admin.socket");
  }
  ::chmod(socket.c_str(), 0600);
  impl_->unix_server->widen_backlog();

  if (tcp_address.empty()) return;
  // load_configuration checked it with the same rule; parsed again, not trusted.
  auto parsed = wire::parse_host_port(tcp_address, {.localhost = true, .any_port = true});
  if (!parsed) {
    remove_socket(socket);
    throw Error(ErrorCode::config, "the admin address " + tcp_address + " " + parsed.problem);
  }
  std::string host = parsed.address.host;
  int port = parsed.address.port;
  AdmissionRules tcp_rules;
  tcp_rules.token = token;
  impl_->tcp_server = std::make_unique<GatedServer>(admin_admission(tcp_rules), listener_limits());
  configure(*impl_->tcp_server, tcp_rules);
  if (port == 0) {
    port = impl_->tcp_server->bind_to_any_port(host);
  } else if (!impl_->tcp_server->bind_to_port(host, port)) {
    port = -1;
  }
  if (port <= 0) {
    remove_socket(socket);
    throw Error(ErrorCode::unavailable, "cannot listen on the admin address " + tcp_address +
                                            ": is the port in use? Pick another admin.tcp (port 0: any free port)");
  }
  impl_->tcp_server->widen_backlog();
  parsed.address.port = static_cast<std::uint16_t>(port);
  impl_->tcp_bound = parsed.address.text();
}

AdminServer::~AdminServer() { stop(); }

const std::string& AdminServer::tcp_bound() const noexcept { return impl_->tcp_bound; }

void AdminServer::start(AdminBackend& backend) {
  install_admin_api(*impl_->unix_server, backend);
  impl_->unix_server->set_lean_route(lean_call_route(backend.manager));
  impl_->unix_thread = std::thread([this] { impl_->unix_server->listen_after_bind(); });
  if (impl_->tcp_server) {
    install_admin_api(*impl_->tcp_server, backend);
    impl_->tcp_server->set_lean_route(lean_call_route(backend.manager));
    impl_->tcp_thread = std::thread([this] { impl_->tcp_server->listen_after_bind(); });
  }
}

void AdminServer::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  // Requests are refused from here on; handlers under way finish (follow streams see `stopping`).
  // stop() before listen has begun would be lost: wait for it (bounded).
  auto stop_server = [](httplib::Server& server, const std::thread& thread) {
    if (!thread.joinable()) return;
    for (int i = 0; i < 200 && !server.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    server.stop();
  };
  stop_server(*impl_->unix_server, impl_->unix_thread);
  if (impl_->tcp_server) stop_server(*impl_->tcp_server, impl_->tcp_thread);
  if (impl_->unix_thread.joinable()) impl_->unix_thread.join();
  if (impl_->tcp_thread.joinable()) impl_->tcp_thread.join();
  impl_->unix_server->stop_workers();
  if (impl_->tcp_server) impl_->tcp_server->stop_workers();
  remove_socket(impl_->socket);
}

}  // namespace plugvisor::detail
