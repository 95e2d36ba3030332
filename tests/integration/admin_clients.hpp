// Clients of a daemon's admin API for the daemon suites: cpp-httplib's, and a
// raw connection for what no well-behaved client sends
// (daemon_test.cpp, daemon_hardening_test.cpp, daemon_broker_test.cpp: one executable). Only files
// that get cpp-httplib's compile flags (PkgConfig::HTTPLIB) may include it.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <httplib.h>

#include "plugvisor/daemon.hpp"
#include "plugvisor/wire/address.hpp"
#include "test_support.hpp"

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

/// A raw connection, for what no well-behaved client sends.
class Raw {
 public:
  explicit Raw(const std::string& tcp_address) {
    auto parsed = plugvisor::wire::parse_host_port(tcp_address);
    // Not REQUIRE: tests open these from their own threads, and Catch's
    // assertions are not thread-safe (ThreadSanitizer reported it).
    if (!parsed) throw std::invalid_argument("Raw: " + tcp_address + ": " + parsed.problem);
    socklen_t size = 0;
    sockaddr_storage addr = parsed.address.socket_address(size);
    fd_ = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), size) == 0;
  }
  explicit Raw(const std::filesystem::path& socket) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket.c_str(), sizeof addr.sun_path - 1);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~Raw() { ::close(fd_); }
  Raw(const Raw&) = delete;
  Raw& operator=(const Raw&) = delete;

  bool connected() const { return connected_; }
  /// Sends all of `data`; false once the peer stops taking it.
  bool send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  /// Reads until a whole answer head is in, the peer closes, or `limit` passes.
  std::string read_head(std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    std::string in;
    auto end = std::chrono::steady_clock::now() + limit;
    while (in.find("\r\n\r\n") == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buffer[4096];
      ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      in.append(buffer, static_cast<std::size_t>(n));
    }
    return in;
  }
  /// Reads one whole answer, head and Content-Length body ("" if it did not
  /// come within `limit`); bytes past it are kept for the next call.
  std::string read_answer(std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (true) {
      auto blank = pending_.find("\r\n\r\n");
      if (blank != std::string::npos) {
        std::size_t length = 0;
        std::string head = pending_.substr(0, blank + 4);
        for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (auto at = head.find("\r\ncontent-length:"); at != std::string::npos) {
          length = std::stoul(head.substr(at + 17));
        }
        if (pending_.size() >= blank + 4 + length) {
          std::string answer = pending_.substr(0, blank + 4 + length);
          pending_.erase(0, answer.size());
          return answer;
        }
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      if (left.count() <= 0) return "";
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return "";
      char buffer[4096];
      ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) return "";
      pending_.append(buffer, static_cast<std::size_t>(n));
    }
  }
  /// Whether the peer has closed (within `limit`).
  bool closed_within(std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) {
        char buffer[4096];
        ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
        if (n <= 0) return true;
      }
    }
    return false;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string pending_;  // read past the last answer
};

/// A daemon's configuration directory: the file `plugvisor.jsonc` (the
/// fixture writes it) and the admin socket `admin.sock` beside it.
struct DaemonConfDir {
  TempDir conf;
  std::filesystem::path file = conf.path() / "plugvisor.jsonc";

  DaemonOptions options() const {
    DaemonOptions options;
    options.config_file = file;
    options.environment = {};
    return options;
  }
  std::filesystem::path socket() const { return conf.path() / "admin.sock"; }
};

/// plugin-text-tools behind a daemon on `conf/admin.sock` and loopback TCP,
/// with the admin token `token`.
struct TextToolsDaemon : DaemonConfDir {
  static constexpr const char* token = "0123456789abcdef0123456789abcdef";
  TempDir plugins;

  TextToolsDaemon() {
    plugins.add_text_tools();
    std::ofstream(file) << R"({"pluginDirs": [")" << plugins.path().string()
                        << R"("], "defaults": {"startTimeout": "5s", "stopGrace": "2s"},
        "admin": {"socket": "admin.sock", "tcp": "127.0.0.1:0", "token": ")"
                        << token << R"("}})";
  }
};

}  // namespace plugvisor::test
