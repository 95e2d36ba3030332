#pragma once

// HOST:PORT, the one parser (docs/protocol.md §5.2; docs/architecture.md,
// "The wire library"). Every place that reads a TCP address uses it: the
// SDK's launch configuration, the manager's handshake check and client, the
// daemon's admin.tcp, the CLI's --admin, validate and the benchmark.

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace plugvisor::wire {

/// A parsed TCP address: an IP literal (or `localhost`, where allowed) and a port.
struct HostPort {
  std::string host;        ///< "127.0.0.1", "::1" (no brackets) or "localhost"
  std::uint16_t port = 0;  ///< 0 only where the rules allow "any free port"
  bool ipv6 = false;

  /// The address as written on the wire: "127.0.0.1:80", "[::1]:80".
  std::string text() const;
  /// True for 127.0.0.0/8, ::1 and localhost.
  bool loopback() const noexcept;
  /// The socket address to connect or bind to (`localhost` is 127.0.0.1: it is
  /// never looked up, since a resolver may send it elsewhere).
  sockaddr_storage socket_address(socklen_t& size) const noexcept;
};

/// What a caller allows beyond the protocol's strict form.
struct AddressRules {
  /// `localhost` accepted as the host. Not for plugin addresses: §5.2 requires
  /// the literal 127.0.0.1.
  bool localhost = false;
  /// Port 0 ("any free port") accepted: for an address to listen on.
  bool any_port = false;
};

/// The outcome of `parse_host_port`: the address, or why the text is not one.
struct ParsedHostPort {
  HostPort address;
  std::string problem;  ///< empty when the text is a valid address
  explicit operator bool() const noexcept { return problem.empty(); }
};

/// Parses HOST:PORT. HOST is a dotted IPv4 literal, an IPv6 literal in
/// brackets ("[::1]:7070"), or `localhost` if `rules.localhost`; no other
/// names. PORT is 1 to 5 decimal digits (no sign, no spaces) from 1 to 65535,
/// or 0 if `rules.any_port`. `problem` says what is wrong, e.g. "has an invalid
/// port (1 to 65535)"; callers prefix it with the text and its origin.
ParsedHostPort parse_host_port(std::string_view text, AddressRules rules = {});

/// A plugin's TCP address (§5.2): exactly 127.0.0.1:PORT. `any_port` as above
/// (the launch configuration may say 0, the handshake may not).
ParsedHostPort parse_plugin_tcp_address(std::string_view text, bool any_port);

}  // namespace plugvisor::wire
