// One launched process of a plugin: its launch (config, handshake, health),
// its HTTP client, and the way it is stopped.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "process/child_process.hpp"
#include "transport/plugin_client.hpp"
#include "plugvisor/manager.hpp"
#include "signing/signature_file.hpp"

namespace plugvisor::detail {

class ProcessReactor;

/// What a launch needs to know.
struct LaunchSpec {
  std::string id;
  std::filesystem::path path;
  PluginSettings settings;
  Transport transport = Transport::unix_socket;  ///< never automatic
  Json config_types = Json::array();
  std::filesystem::path socket_path;
  std::shared_ptr<std::atomic<std::uint64_t>> connections;
  /// The sandbox to launch it in; null for none.
  std::shared_ptr<const SandboxPlan> sandbox;
  /// The signature check of each launch; null for none.
  std::shared_ptr<const SignatureCheck> signature_check;
};

/// Thrown by PluginInstance::launch when the plugin exited cleanly, on its
/// idle timeout, before the launch completed: not a failure, but an idle
/// timeout shorter than the plugin's start-up.
struct IdleDuringStart {
  std::string message;
};

/// A plugin process from launch to reaping. Thread-safe.
class PluginInstance : public std::enable_shared_from_this<PluginInstance> {
 public:
  using ExitHandler = std::function<void(const std::shared_ptr<PluginInstance>&, const ExitStatus&)>;

  /// Launches the plugin and waits until it is healthy, within the start
  /// timeout. Throws Error(start_failed) saying what went wrong (its stderr
  /// included), or IdleDuringStart; nothing is left running then. `on_exit` runs on the reactor
  /// thread when the process has been reaped; `log` receives its output.
  static std::shared_ptr<PluginInstance> launch(ProcessReactor& reactor, const LaunchSpec& spec, LineSink log,
                                                ExitHandler on_exit);

  ChildProcess& child() { return *child_; }
  PluginClient& client() { return *client_; }
  bool exited() const { return child_->exit_status().has_value(); }
  std::chrono::system_clock::time_point started_at() const { return started_at_; }

  /// Stops the process: /shutdown and stdin EOF, then SIGTERM after `grace`,
  /// then SIGKILL after `term_grace`; always reaped (the last wait is bounded).
  /// Returns the exit status, or nullopt if even SIGKILL did not end it.
  std::optional<ExitStatus> stop(std::chrono::milliseconds grace, std::chrono::milliseconds term_grace,
                                 const std::shared_ptr<spdlog::logger>& logger);
  /// SIGKILL to the process group, then waits for the reaping.
  void kill();
  /// After the process has exited: ends the calls still waiting on it.
  void abort_calls() {
    if (client_) client_->abort_in_flight();
  }

  /// Set before the manager ends the process, so its exit is not a crash.
  std::atomic<bool> asked_to_stop{false};
  /// Set when the manager killed it for hanging.
  std::atomic<bool> killed_for_hang{false};

 private:
  PluginInstance() = default;
  std::string await_handshake(const LaunchSpec& spec, std::chrono::steady_clock::time_point deadline);
  void await_health(const LaunchSpec& spec, std::chrono::steady_clock::time_point deadline);

  std::shared_ptr<ChildProcess> child_;
  std::unique_ptr<PluginClient> client_;
  std::chrono::system_clock::time_point started_at_;
};

}  // namespace plugvisor::detail
