// Checks of the handshake (H, protocol §6) on the live plugin: a launch with
// a valid configuration that then stays up for the call and connection checks.
#include "conformance/checker.hpp"

#include <cstdlib>
#include <thread>

namespace plugvisor::cli::conformance {

using namespace std::chrono_literals;

void Checker::check_live_plugin() {
  auto dir = std::make_unique<ScratchDir>();
  auto session = launch(*dir, {}, "H6", "launched with --config -, the plugin starts");
  if (!session) return;
  record("H6", "§6", "launched with --config -, the plugin prints its handshake within 10 s", true, "");
  check_handshake(*session, tcp_, true);
  if (tcp_) {
    not_applicable("A5", "§9", "the Unix socket file has mode 0600", not_served(Transport::unix_socket));
    not_applicable("F1", "§15", "the lock file <socket>.lock holds the plugin's pid",
                   not_served(Transport::unix_socket));
  } else {
    check_socket_files(*session);
  }
  // N2: a kept-alive connection left idle for 4.5 s (a plugin may close it
  // after 5 s): its first request now, its second from a thread of its own
  // while the calls here and the other groups run.
  std::string error;
  auto connection = RawConnection::open(session->endpoint(), error);
  if (connection && connection->send(http_request(session->endpoint(), "GET", "/healthz", "", "", "")) &&
      connection->receive(2s, error)) {
    idle_probe_ = std::thread([endpoint = session->endpoint(), connection = std::move(*connection), this]() mutable {
      std::string probe_error;
      std::this_thread::sleep_for(4500ms);
      if (connection.send(http_request(endpoint, "GET", "/healthz", "", "", ""))) {
        idle_answer_ = connection.receive(2s, probe_error);
      }
      idle_error_ = probe_error.empty() ? "the plugin closed the connection" : probe_error;
    });
  } else {
    idle_error_ = "its first request, before the idle time, got no answer: " +
                  (error.empty() ? std::string("the plugin closed the connection") : error);
  }
  check_calls(*session);
  live_ = std::move(session);
  live_dir_ = std::move(dir);
}

// The handshake of the whole set's launch (`main`: H2, H4, H2p), or of the
// TCP launch (H2t, H5).
void Checker::check_handshake(PluginSession& session, bool tcp, bool main) {
  const Json& hs = session.handshake();
  bool version_ok = hs.contains("protocolVersion") && hs["protocolVersion"].is_number_integer() &&
                    hs["protocolVersion"] == 1;
  bool type_ok = hs.value("type", Json()) == (tcp ? "tcp" : "unix");
  record(main ? "H2" : "H2t", "§6",
         std::string("the handshake is one JSON line with protocolVersion 1 and the configured type") +
             (main ? "" : " (over TCP)"),
         version_ok && type_ok, "first line " + detail::quote(*session.first_line()));
  if (main && !tcp) {
    record("H4", "§6", "unix: the handshake address equals the configured socket path",
           hs.value("address", Json()) == session.socket_path(), "address " + hs.value("address", Json()).dump());
  } else if (main) {
    not_applicable("H4", "§6", "unix: the handshake address equals the configured socket path",
                   not_served(Transport::unix_socket));
  }
  if (!main) {
    std::string address = hs.value("address", "");
    bool ok = address.rfind("127.0.0.1:", 0) == 0 && std::atoi(address.c_str() + 10) > 0;
    record("H5", "§6", "tcp: the handshake address is 127.0.0.1:PORT with the bound port", ok,
           "address " + detail::quote(address));
  }
  if (main) {
    record("H2p", "§6", "the handshake carries the plugin's pid",
           hs.contains("pid") && hs["pid"].is_number_integer(), "no integer pid in " + detail::quote(*session.first_line()),
           Weight::should);
  }
}

}  // namespace plugvisor::cli::conformance
