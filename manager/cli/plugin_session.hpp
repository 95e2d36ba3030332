// One launch of a plugin under test, for the conformance checker.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "process/child_process.hpp"
#include "transport/plugin_client.hpp"
#include "plugvisor/contracts.hpp"
#include "process/process_reactor.hpp"
#include "raw_http.hpp"
#include "start_gate.hpp"

namespace plugvisor::cli {

/// How to launch the plugin under test.
struct SessionOptions {
  bool tcp = false;
  bool config_on_stdin = true;  ///< `--config -`; else `--config '<json>'`
  Json overrides = Json::object();  ///< merged into the launch configuration
  std::vector<std::string> without = {};  ///< members left out of it (to see their defaults)
  std::chrono::milliseconds start_timeout = std::chrono::seconds(10);
  StartGate* gate = nullptr;  ///< the start waits for its place here first (none: at once)
};

/// Launches the plugin in a private directory with a fresh token and waits
/// for its handshake. Kills and reaps it on destruction.
class PluginSession {
 public:
  PluginSession(const std::filesystem::path& plugin, const std::filesystem::path& dir, SessionOptions options);
  ~PluginSession();
  PluginSession(const PluginSession&) = delete;
  PluginSession& operator=(const PluginSession&) = delete;

  /// The first stdout line, if one came within the start timeout.
  const std::optional<std::string>& first_line() const { return first_line_; }
  /// The handshake as JSON (null if the first line was not a JSON object).
  const Json& handshake() const { return handshake_; }
  const std::string& token() const { return token_; }
  const std::string& socket_path() const { return socket_path_; }
  Endpoint endpoint() const;
  detail::ChildProcess& child() { return *child_; }

  /// Sends one request and reads the answer: GET /healthz without a token
  /// and POSTs with the session's token through the manager's PluginClient
  /// (the same bytes as the manager), any other on a raw new connection.
  std::optional<RawResponse> request(const std::string& method, const std::string& path, const std::string& body,
                                     const std::string& content_type, const std::string& token,
                                     std::string& error, std::chrono::milliseconds timeout = std::chrono::seconds(5));

  /// Waits for the process to exit.
  std::optional<detail::ExitStatus> wait_exit(std::chrono::milliseconds limit);

 private:
  std::optional<RawResponse> managed_request(bool health, const std::string& path, const std::string& body,
                                             const std::string& content_type, std::string& error,
                                             std::chrono::milliseconds timeout);

  detail::ProcessReactor reactor_;
  std::shared_ptr<detail::ChildProcess> child_;
  std::string token_;
  std::string socket_path_;
  bool tcp_;
  std::optional<std::string> first_line_;
  Json handshake_;
  std::unique_ptr<detail::PluginClient> client_;  ///< made on first use, once the address is known
};

}  // namespace plugvisor::cli
