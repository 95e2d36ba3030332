// cpp-httplib clients of a daemon's admin API, for the daemon suites
// (daemon_test.cpp, daemon_hardening_test.cpp: one executable). Only files
// that get cpp-httplib's compile flags (PkgConfig::HTTPLIB) may include it.
#pragma once

#include <sys/socket.h>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include <httplib.h>

#include "plugvisor/wire/address.hpp"

namespace plugvisor::test {

/// A client of the admin Unix socket; reads give up after `seconds`.
inline std::unique_ptr<httplib::Client> unix_client(const std::filesystem::path& socket, int seconds = 30) {
  auto client = std::make_unique<httplib::Client>(socket.string(), 80);
  client->set_address_family(AF_UNIX);
  client->set_read_timeout(seconds, 0);
  return client;
}

/// A client of the admin TCP listener at "HOST:PORT"; connecting and reads
/// give up after `seconds`.
inline std::unique_ptr<httplib::Client> tcp_client(const std::string& address, int seconds = 30) {
  auto parsed = wire::parse_host_port(address);
  if (!parsed) throw std::invalid_argument("admin TCP address " + address + " " + parsed.problem);
  auto client = std::make_unique<httplib::Client>(parsed.address.host, parsed.address.port);
  client->set_read_timeout(seconds, 0);
  client->set_connection_timeout(seconds, 0);
  return client;
}

}  // namespace plugvisor::test
