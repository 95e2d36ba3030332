// wire::parse_host_port: the one HOST:PORT rule (docs/protocol.md §5.2), as
// one table. Every reader of a TCP address uses it: the SDK, the manager's
// handshake check and client, the daemon's admin.tcp, the CLI's --admin,
// validate and the benchmark.

#include <catch2/catch.hpp>

#include <netinet/in.h>

#include "plugvisor/wire/address.hpp"

using plugvisor::wire::AddressRules;
using plugvisor::wire::parse_host_port;
using plugvisor::wire::parse_plugin_tcp_address;

namespace {

struct Row {
  const char* text;
  AddressRules rules;
  const char* host;     ///< expected host, or nullptr when refused
  int port;             ///< expected port
  const char* problem;  ///< a part of the reason when refused
};

constexpr AddressRules strict{};
constexpr AddressRules listening{.localhost = true, .any_port = true};

const Row rows[] = {
    {"127.0.0.1:80", strict, "127.0.0.1", 80, nullptr},
    {"127.0.0.1:65535", strict, "127.0.0.1", 65535, nullptr},
    {"127.0.0.1:00080", strict, "127.0.0.1", 80, nullptr},
    {"10.1.2.3:1", strict, "10.1.2.3", 1, nullptr},
    {"[::1]:7070", strict, "::1", 7070, nullptr},
    {"[fe80::1]:1", strict, "fe80::1", 1, nullptr},
    {"localhost:7070", listening, "localhost", 7070, nullptr},
    {"127.0.0.1:0", listening, "127.0.0.1", 0, nullptr},
    {"[::1]:0", listening, "::1", 0, nullptr},
    // the port
    {"127.0.0.1:0", strict, nullptr, 0, "invalid port (1 to 65535)"},
    {"127.0.0.1:65536", strict, nullptr, 0, "invalid port"},
    {"127.0.0.1:99999", listening, nullptr, 0, "invalid port (0 to 65535, 0: any free port)"},
    {"127.0.0.1:123456", strict, nullptr, 0, "invalid port"},
    {"127.0.0.1:99999999999999999999", strict, nullptr, 0, "invalid port"},
    {"127.0.0.1:", strict, nullptr, 0, "invalid port"},
    {"127.0.0.1:+80", strict, nullptr, 0, "invalid port"},
    {"127.0.0.1:-1", strict, nullptr, 0, "invalid port"},
    {"127.0.0.1: 80", strict, nullptr, 0, "invalid port"},
    {"127.0.0.1:80 ", strict, nullptr, 0, "invalid port"},
    {"127.0.0.1:0x50", strict, nullptr, 0, "invalid port"},
    {"[::1]:", strict, nullptr, 0, "invalid port"},
    // the host
    {"127.0.0.1", strict, nullptr, 0, "is not HOST:PORT"},
    {":80", strict, nullptr, 0, "is not HOST:PORT"},
    {"", strict, nullptr, 0, "is not HOST:PORT"},
    {"localhost:80", strict, nullptr, 0, "localhost, which may resolve elsewhere"},
    {"example.com:80", listening, nullptr, 0, "not an IP address"},
    {"127.1:80", strict, nullptr, 0, "not an IP address"},
    {"127.0.0.01:80", strict, nullptr, 0, "not an IP address"},
    {" 127.0.0.1:80", strict, nullptr, 0, "not an IP address"},
    {"::1:80", strict, nullptr, 0, "without brackets"},
    {"[::1]", strict, nullptr, 0, "is not [IPv6]:PORT"},
    {"[::1:80", strict, nullptr, 0, "is not [IPv6]:PORT"},
    {"[127.0.0.1]:80", strict, nullptr, 0, "invalid IPv6 address"},
    {"[localhost]:80", listening, nullptr, 0, "invalid IPv6 address"},
};

}  // namespace

TEST_CASE("every HOST:PORT is read by one rule, the table of protocol 5.2", "[wire][address]") {
  for (const Row& row : rows) {
    INFO(row.text << " (localhost " << row.rules.localhost << ", any port " << row.rules.any_port << ")");
    auto parsed = parse_host_port(row.text, row.rules);
    if (row.host) {
      REQUIRE(parsed);
      CHECK(parsed.address.host == row.host);
      CHECK(parsed.address.port == row.port);
    } else {
      CHECK_FALSE(parsed);
      CHECK_THAT(parsed.problem, Catch::Contains(row.problem));
    }
  }
}

TEST_CASE("a plugin's TCP address is exactly 127.0.0.1:PORT", "[wire][address]") {
  CHECK(parse_plugin_tcp_address("127.0.0.1:0", true).address.port == 0);
  CHECK(parse_plugin_tcp_address("127.0.0.1:4711", false).address.port == 4711);
  CHECK_FALSE(parse_plugin_tcp_address("127.0.0.1:0", false));
  for (const char* other : {"localhost:80", "[::1]:80", "127.0.0.2:80", "0.0.0.0:80", "10.0.0.1:80"}) {
    INFO(other);
    auto parsed = parse_plugin_tcp_address(other, true);
    CHECK_FALSE(parsed);
    CHECK_THAT(parsed.problem, Catch::Contains("127.0.0.1"));
  }
}

TEST_CASE("a parsed address is written back with brackets around IPv6 and tells loopback", "[wire][address]") {
  CHECK(parse_host_port("[::1]:80").address.text() == "[::1]:80");
  CHECK(parse_host_port("127.0.0.1:80").address.text() == "127.0.0.1:80");
  CHECK(parse_host_port("127.9.9.9:80").address.loopback());
  CHECK(parse_host_port("[::1]:80").address.loopback());
  CHECK(parse_host_port("localhost:80", listening).address.loopback());
  CHECK_FALSE(parse_host_port("[::]:80").address.loopback());
  CHECK_FALSE(parse_host_port("0.0.0.0:80").address.loopback());
  CHECK_FALSE(parse_host_port("128.0.0.1:80").address.loopback());

  socklen_t size = 0;
  auto v4 = parse_host_port("localhost:8080", listening).address.socket_address(size);
  REQUIRE(size == sizeof(sockaddr_in));
  const auto* in4 = reinterpret_cast<const sockaddr_in*>(&v4);
  CHECK(in4->sin_family == AF_INET);
  CHECK(ntohs(in4->sin_port) == 8080);
  CHECK(ntohl(in4->sin_addr.s_addr) == INADDR_LOOPBACK);
  auto v6 = parse_host_port("[::1]:9").address.socket_address(size);
  REQUIRE(size == sizeof(sockaddr_in6));
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&v6);
  CHECK(in6->sin6_family == AF_INET6);
  CHECK(ntohs(in6->sin6_port) == 9);
  CHECK(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));
}
