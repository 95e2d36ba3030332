#include "admin_server.hpp"

#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include <httplib.h>

namespace plugvisor::detail {

namespace {

// Worker threads per listener; a follow stream holds one while it lasts.
constexpr std::size_t worker_threads = 16;

bool same_token(std::string_view given, std::string_view expected) {
  // The time does not depend on where the first differing byte is.
  unsigned char diff = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < given.size(); ++i) {
    diff |= static_cast<unsigned char>(given[i] ^ expected[i % std::max<std::size_t>(expected.size(), 1)]);
  }
  return diff == 0 && !expected.empty();
}

void configure(httplib::Server& server) {
  server.new_task_queue = [] { return new httplib::ThreadPool(worker_threads); };
  server.set_keep_alive_max_count(std::numeric_limits<int>::max());
  server.set_keep_alive_timeout(30);
  server.set_tcp_nodelay(true);
  server.set_payload_max_length(64 * 1024 * 1024);
}

}  // namespace

struct AdminServer::Impl {
  std::filesystem::path socket;
  std::string token;
  std::string tcp_bound;
  httplib::Server unix_server;
  std::unique_ptr<httplib::Server> tcp_server;
  std::thread unix_thread, tcp_thread;
  bool stopped = false;
};

AdminServer::AdminServer(const std::filesystem::path& socket, const std::string& tcp_address,
                         const std::string& token)
    : impl_(std::make_unique<Impl>()) {
  impl_->socket = socket;
  impl_->token = token;
  configure(impl_->unix_server);
  impl_->unix_server.set_address_family(AF_UNIX);
  // The caller holds the admin lock: a socket file here is a dead daemon's.
  ::unlink(socket.c_str());
  mode_t old_mask = ::umask(0177);  // created 0600: the file system is the authentication
  bool bound = impl_->unix_server.bind_to_port(socket.string(), 80);
  ::umask(old_mask);
  if (!bound) {
    throw Error(ErrorCode::unavailable, "cannot listen on the admin socket " + socket.string() +
                                            ": check that its directory exists and is writable, or set admin.socket");
  }
  ::chmod(socket.c_str(), 0600);

  if (tcp_address.empty()) return;
  auto colon = tcp_address.rfind(':');
  std::string host = tcp_address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  int port = std::stoi(tcp_address.substr(colon + 1));
  impl_->tcp_server = std::make_unique<httplib::Server>();
  configure(*impl_->tcp_server);
  if (port == 0) {
    port = impl_->tcp_server->bind_to_any_port(host);
  } else if (!impl_->tcp_server->bind_to_port(host, port)) {
    port = -1;
  }
  if (port <= 0) {
    ::unlink(socket.c_str());
    throw Error(ErrorCode::unavailable, "cannot listen on the admin address " + tcp_address +
                                            ": is the port in use? Pick another admin.tcp (port 0: any free port)");
  }
  bool v6 = host.find(':') != std::string::npos;
  impl_->tcp_bound = (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
  // Every request but the page itself and /healthz needs the token.
  impl_->tcp_server->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (req.method == "GET" && (req.path == "/" || req.path == "/healthz")) return httplib::Server::HandlerResponse::Unhandled;
    std::string header = req.get_header_value("Authorization");
    constexpr std::string_view scheme = "Bearer ";
    bool ok = header.size() > scheme.size() && std::string_view(header).substr(0, scheme.size()) == scheme &&
              same_token(std::string_view(header).substr(scheme.size()), impl_->token);
    if (ok) return httplib::Server::HandlerResponse::Unhandled;
    res.status = 401;
    res.set_header("WWW-Authenticate", "Bearer");
    res.set_content(Json{{"error",
                          {{"code", "unauthorized"},
                           {"message", header.empty() ? "the admin API over TCP needs Authorization: Bearer TOKEN "
                                                        "(admin.token); the Unix socket needs none"
                                                      : "wrong token: use the daemon's admin.token"}}}}
                        .dump(),
                    "application/json");
    return httplib::Server::HandlerResponse::Handled;
  });
}

AdminServer::~AdminServer() { stop(); }

const std::string& AdminServer::tcp_bound() const noexcept { return impl_->tcp_bound; }

void AdminServer::start(AdminBackend& backend) {
  install_admin_api(impl_->unix_server, backend);
  impl_->unix_thread = std::thread([this] { impl_->unix_server.listen_after_bind(); });
  if (impl_->tcp_server) {
    install_admin_api(*impl_->tcp_server, backend);
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
  stop_server(impl_->unix_server, impl_->unix_thread);
  if (impl_->tcp_server) stop_server(*impl_->tcp_server, impl_->tcp_thread);
  if (impl_->unix_thread.joinable()) impl_->unix_thread.join();
  if (impl_->tcp_thread.joinable()) impl_->tcp_thread.join();
  ::unlink(impl_->socket.c_str());
}

}  // namespace plugvisor::detail
