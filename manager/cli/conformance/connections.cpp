// Checks of connections (N, protocol §12): keep-alive, concurrency,
// callers that go away, the listen backlog.
#include "conformance/checker.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "plugvisor/wire/address.hpp"

namespace plugvisor::cli::conformance {

using namespace std::chrono_literals;

void Checker::check_keep_alive(PluginSession& session) {
  std::string error;
  auto connection = RawConnection::open(session.endpoint(), error);
  int answered = 0;
  bool closed_early = false;
  for (int i = 0; connection && i < 20; ++i) {
    if (!connection->send(http_request(session.endpoint(), "GET", "/healthz", "", "", ""))) break;
    auto response = connection->receive(5s, error);
    if (!response || response->status != 200) break;
    ++answered;
    if (response->header("connection") == "close") {
      closed_early = true;
      break;
    }
  }
  record("N1", "§12", "a connection stays open for request after request (20 on one connection)",
         answered == 20 && !closed_early,
         "answered " + std::to_string(answered) + " of 20" + (closed_early ? ", then Connection: close" : "") +
             (error.empty() ? "" : " (" + error + ")"));
}

// N3: a second connection is served while the first one's request is unfinished.
void Checker::check_concurrency(PluginSession& session) {
  const std::string path = ping_path();
  if (path.empty()) return;
  std::string error;
  auto first = RawConnection::open(session.endpoint(), error);
  std::optional<RawResponse> second_answer, first_answer;
  if (first) {
    std::string request = http_request(session.endpoint(), "POST", path, std::string(16, ' '), "application/json",
                                       session.token());
    first->send(request.substr(0, request.size() - 8));  // the body's last 8 bytes held back
    std::this_thread::sleep_for(100ms);
    auto second = RawConnection::open(session.endpoint(), error);
    if (second && second->send(http_request(session.endpoint(), "GET", "/healthz", "", "", ""))) {
      second_answer = second->receive(3s, error);
    }
    first->send(request.substr(request.size() - 8));
    first_answer = first->receive(5s, error);
  }
  record("N3", "§12",
         "connections are served at once: /healthz on a second connection is answered while a call's body is "
         "still coming on the first",
         second_answer && second_answer->status == 200,
         "second connection: " + describe(second_answer, error));
}

// N4: a caller that goes away in the middle of a call.
void Checker::check_client_gone(PluginSession& session) {
  auto target = first_type("dataProcessor");
  const std::string path =
      target ? "/v1/dataProcessor/" + target->second + "/processData" : ping_path();
  if (path.empty()) return;
  std::string error;
  for (int i = 0; i < 3; ++i) {
    auto connection = RawConnection::open(session.endpoint(), error);
    if (!connection) break;
    // 4 MiB of bytes (echoed by most processData) and gone before the answer is read.
    connection->send(http_request(session.endpoint(), "POST", path, std::string(4 << 20, 'a'),
                                  target ? "application/octet-stream" : "application/json", session.token()));
  }
  std::this_thread::sleep_for(300ms);
  auto exit = session.child().exit_status();
  auto health = exit ? std::nullopt : session.request("GET", "/healthz", "", "", "", error);
  record("N4", "§12", "callers that close their connection in the middle of a call (4 MiB sent, the answer unread) "
                      "do not crash the plugin, which keeps serving",
         !exit && health && health->status == 200,
         exit ? exit->describe() + "; stderr: " + detail::quote(session.child().stderr_tail()) : describe(health, error));
}

void Checker::check_backlog(PluginSession& session) {
  if (session.endpoint().address.empty()) return;
  ::kill(session.child().pid(), SIGSTOP);  // nothing is accepted meanwhile: only the backlog holds connects
  int refused = 0;
  std::vector<int> fds;
  const Endpoint endpoint = session.endpoint();
  for (int i = 0; i < 64; ++i) {
    int fd = ::socket(endpoint.unix_socket ? AF_UNIX : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int rc = -1;
    if (endpoint.unix_socket) {
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::strncpy(addr.sun_path, endpoint.address.c_str(), sizeof addr.sun_path - 1);
      rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    } else {
      // An address that is not 127.0.0.1:PORT gives 0.0.0.0:0, whose connect fails (counted as refused).
      socklen_t size = 0;
      sockaddr_storage addr = wire::parse_plugin_tcp_address(endpoint.address, false).address.socket_address(size);
      rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), size);
      if (rc != 0 && errno == EINPROGRESS) rc = 1;  // settled below
    }
    if (rc < 0) ++refused;
    fds.push_back(fd);
  }
  if (!endpoint.unix_socket) {
    // Over TCP a connect beyond the backlog is not refused: its SYN is
    // dropped, and it is still pending a second later.
    auto until = Clock::now() + 1s;
    for (int fd : fds) {
      pollfd p{fd, POLLOUT, 0};
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      int error = 0;
      socklen_t size = sizeof error;
      if (::poll(&p, 1, static_cast<int>(std::max<long long>(left, 0))) != 1 ||
          ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0 || error != 0) {
        ++refused;
      }
    }
  }
  ::kill(session.child().pid(), SIGCONT);
  for (int fd : fds) ::close(fd);
  record("N6", "§12", "a burst of 64 simultaneous connects is accepted (listen backlog of at least 64)",
         refused == 0,
         std::to_string(refused) + " of 64 connects " + (endpoint.unix_socket ? "refused" : "not accepted within 1 s"),
         Weight::should);
}

}  // namespace plugvisor::cli::conformance
