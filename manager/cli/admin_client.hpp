// A client of a running daemon's admin API (docs/admin-api.md), for the
// commands that talk to `plugvisor serve`: where the daemon is, how to ask it,
// and errors that say what to do.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include <CLI/CLI.hpp>

#include "plugvisor/daemon.hpp"

namespace plugvisor::cli {

/// The options every daemon command takes (--admin, --config, --token), as given.
struct AdminTarget {
  std::string admin;   ///< a Unix socket path or http://127.0.0.1:PORT
  std::string config;  ///< a configuration file whose admin.socket to use
  std::string token;   ///< the bearer token for TCP
};

/// Adds --admin, --config and --token to `command`, writing into `target`.
void add_admin_options(CLI::App* command, AdminTarget& target);

/// Where the admin API is, resolved.
struct AdminEndpoint {
  bool tcp = false;
  std::string socket;  ///< the Unix socket (when !tcp)
  std::string host;    ///< host and port (when tcp)
  int port = 0;
  std::string token;   ///< sent as Authorization: Bearer when not empty
  /// The socket path or http://HOST:PORT, for messages.
  std::string display() const;
};

/// The endpoint from, in order: --admin, --config FILE (its admin.socket),
/// PLUGVISOR_ADMIN, PLUGVISOR_ADMIN_SOCKET, the default socket. The token is
/// --token, else PLUGVISOR_ADMIN_TOKEN. Throws Error(config) for a bad --admin
/// or a configuration file that does not load.
AdminEndpoint resolve_endpoint(const AdminTarget& target, const std::map<std::string, std::string>& environment);

/// A failure to print and exit with: `code` is the daemon's error code
/// ("not_found", "unauthorized", ...) or "unreachable"; what() says what to do.
class AdminError : public std::runtime_error {
 public:
  AdminError(std::string code, const std::string& message, int exit_code)
      : std::runtime_error(message), code_(std::move(code)), exit_code_(exit_code) {}
  const std::string& code() const noexcept { return code_; }
  int exit_code() const noexcept { return exit_code_; }

 private:
  std::string code_;
  int exit_code_;
};

/// One connection (kept alive) to the admin API. Every method throws
/// AdminError: unreachable (exit 3), a 401 (with the hint to pass a token),
/// untrusted_daemon (a Unix socket served by another user's process: nothing
/// is sent), or the daemon's error body. Not thread-safe.
class AdminClient {
 public:
  explicit AdminClient(AdminEndpoint endpoint);
  ~AdminClient();
  AdminClient(const AdminClient&) = delete;
  AdminClient& operator=(const AdminClient&) = delete;

  /// GET `path` (e.g. "/v1/plugins"); the JSON answer.
  Json get(const std::string& path);
  /// POST `body` to `path`; the JSON answer. `timeout` bounds the wait for
  /// the answer (actions wait for stops and starts).
  Json post(const std::string& path, const Json& body, std::chrono::seconds timeout);
  /// An answer as it came: the body with its Content-Type and provider header.
  struct RawAnswer {
    std::string body;
    std::string content_type;
    std::string provider;  ///< X-Plugvisor-Provider of a call through the broker
  };
  /// POST `body` as `content_type` (with extra `headers`) to `path`; a 2xx
  /// answer whatever its body. Errors as for post().
  RawAnswer post_raw(const std::string& path, const std::string& body, const std::string& content_type,
                     std::chrono::seconds timeout, const std::map<std::string, std::string>& headers);
  /// GET an NDJSON stream and call `on_line` for each JSON line as it comes,
  /// until the stream ends (normally) or `on_line` returns false.
  void follow(const std::string& path, const std::function<bool(const Json&)>& on_line);

  const AdminEndpoint& endpoint() const noexcept { return endpoint_; }

 private:
  /// Over a Unix socket, once: the listener runs as this user or root (SO_PEERCRED).
  void check_peer();
  struct Impl;
  AdminEndpoint endpoint_;
  std::unique_ptr<Impl> impl_;
};

/// `text` percent-encoded for one path segment of a URL.
std::string url_segment(const std::string& text);

/// Runs `body`; an AdminError is printed to stderr as `plugvisor: CODE:
/// message` and becomes `exit_code`.
void run_admin_command(int& exit_code, const std::function<void()>& body);

}  // namespace plugvisor::cli
