#include "plugvisor/wire/address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace plugvisor::wire {

namespace {

ParsedHostPort failed(std::string problem) { return {HostPort{}, std::move(problem)}; }

/// 1 to 5 ASCII digits, at most 65535; -1 otherwise.
int parse_port(std::string_view digits) {
  if (digits.empty() || digits.size() > 5) return -1;
  int value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return -1;
    value = value * 10 + (c - '0');
  }
  return value <= 65535 ? value : -1;
}

}  // namespace

std::string HostPort::text() const {
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

bool HostPort::loopback() const noexcept {
  if (host == "localhost") return true;
  if (ipv6) {
    in6_addr v6{};
    return ::inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
  }
  in_addr v4{};
  return ::inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

sockaddr_storage HostPort::socket_address(socklen_t& size) const noexcept {
  sockaddr_storage storage{};
  if (ipv6) {
    auto* addr = reinterpret_cast<sockaddr_in6*>(&storage);
    addr->sin6_family = AF_INET6;
    addr->sin6_port = htons(port);
    ::inet_pton(AF_INET6, host.c_str(), &addr->sin6_addr);
    size = sizeof(sockaddr_in6);
  } else {
    auto* addr = reinterpret_cast<sockaddr_in*>(&storage);
    addr->sin_family = AF_INET;
    addr->sin_port = htons(port);
    if (host == "localhost") {
      addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else {
      ::inet_pton(AF_INET, host.c_str(), &addr->sin_addr);
    }
    size = sizeof(sockaddr_in);
  }
  return storage;
}

ParsedHostPort parse_host_port(std::string_view text, AddressRules rules) {
  const std::string example = rules.localhost ? "127.0.0.1:7070, [::1]:7070 or localhost:7070" : "127.0.0.1:7070";
  HostPort out;
  std::string_view port;
  if (text.starts_with('[')) {
    auto close = text.find("]:");
    if (close == std::string_view::npos) return failed("is not [IPv6]:PORT, e.g. [::1]:7070");
    out.host = std::string(text.substr(1, close - 1));
    out.ipv6 = true;
    port = text.substr(close + 2);
    in6_addr v6{};
    if (::inet_pton(AF_INET6, out.host.c_str(), &v6) != 1) return failed("has an invalid IPv6 address in brackets");
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return failed("is not HOST:PORT, e.g. " + example);
    out.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
    if (out.host.find(':') != std::string::npos) {
      return failed("has an IPv6 address without brackets: write it as [ADDRESS]:PORT, e.g. [::1]:7070");
    }
    in_addr v4{};
    bool literal = ::inet_pton(AF_INET, out.host.c_str(), &v4) == 1;
    if (!literal && !(rules.localhost && out.host == "localhost")) {
      return failed(out.host == "localhost" ? "names localhost, which may resolve elsewhere: write 127.0.0.1"
                                            : "has a host that is not an IP address (" + out.host +
                                                  "): names are not looked up; e.g. " + example);
    }
  }
  int value = parse_port(port);
  if (value < 0 || (value == 0 && !rules.any_port)) {
    return failed(rules.any_port ? "has an invalid port (0 to 65535, 0: any free port)"
                                 : "has an invalid port (1 to 65535)");
  }
  out.port = static_cast<std::uint16_t>(value);
  return {std::move(out), {}};
}

ParsedHostPort parse_plugin_tcp_address(std::string_view text, bool any_port) {
  auto parsed = parse_host_port(text, {.localhost = false, .any_port = any_port});
  if (parsed && (parsed.address.ipv6 || parsed.address.host != "127.0.0.1")) {
    return failed("is not 127.0.0.1:PORT: plugins listen on 127.0.0.1 only (not localhost, which may resolve "
                  "elsewhere, nor another address)");
  }
  return parsed;
}

}  // namespace plugvisor::wire
