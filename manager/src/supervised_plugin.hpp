// One external plugin under supervision: its state machine, its running
// process (if any), and the call path with relaunch-on-idle.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include <spdlog/fwd.h>

#include "child_process.hpp"
#include "plugin_client.hpp"
#include "plugvisor/manager.hpp"

namespace plugvisor::detail {

class ProcessReactor;

/// What the manager learnt about a plugin before running it.
struct PluginDefinition {
  std::string id;
  std::filesystem::path path;
  Capabilities capabilities;
  PluginSettings settings;
  /// The config types handed over at launch: [{"type": ..., "data": ...}].
  Json config_types = Json::array();
};

/// A plugin under supervision. Calls launch it on demand; an instance that
/// exits on its idle timeout is relaunched by the next call. Thread-safe.
class SupervisedPlugin : public std::enable_shared_from_this<SupervisedPlugin> {
 public:
  SupervisedPlugin(PluginDefinition definition, ProcessReactor& reactor, std::filesystem::path socket_path,
                   std::shared_ptr<spdlog::logger> logger, StateListener notify);
  ~SupervisedPlugin();

  const std::string& id() const noexcept { return definition_.id; }
  const PluginDefinition& definition() const noexcept { return definition_; }

  /// Calls `method` of (contract, type), launching the plugin if needed.
  /// Throws Error: timeout, crashed, start_failed, unavailable, bad_reply, or
  /// the plugin's own error code.
  Payload call(std::string_view contract, std::string_view type, std::string_view method, const Payload& input);

  /// Launches the plugin now if it is not running. Throws Error(start_failed).
  void start();
  /// Stops the running instance, if any: /shutdown and stdin EOF, then
  /// SIGTERM, then SIGKILL, each after the grace; always reaped.
  void stop();
  /// Stops and refuses every later call (manager shutdown). Idempotent.
  void close();

  PluginStatus status() const;

 private:
  struct Instance {
    std::shared_ptr<ChildProcess> child;
    std::unique_ptr<PluginClient> client;
    std::atomic<bool> asked_to_stop{false};
    bool exited() const { return child && child->exit_status().has_value(); }
  };
  using Clock = std::chrono::steady_clock;

  std::shared_ptr<Instance> running(Clock::time_point deadline);
  std::shared_ptr<Instance> launch();
  // Reads and checks the handshake line; returns the address it reports.
  std::string await_handshake(Instance& instance, Clock::time_point deadline, const std::string& expected_address);
  void await_health(Instance& instance, Clock::time_point deadline);
  void terminate(Instance& instance);
  void on_exit(const std::shared_ptr<Instance>& instance, const ExitStatus& status);
  void log_line(bool is_stderr, std::string_view line);
  // Sets the state and tells the listener, outside the lock.
  void transition(std::unique_lock<std::mutex>& lock, PluginState to);
  Payload decode(const HttpReply& reply, std::string_view what) const;
  [[noreturn]] void fail(ErrorCode code, const std::string& message) const;

  const PluginDefinition definition_;
  ProcessReactor& reactor_;
  const std::filesystem::path socket_path_;
  std::shared_ptr<spdlog::logger> logger_;
  StateListener notify_;

  std::timed_mutex start_mutex_;  // one launch or stop at a time
  mutable std::mutex mutex_;       // the fields below
  PluginState state_ = PluginState::registered;
  std::shared_ptr<Instance> current_;
  bool closed_ = false;
  int starts_ = 0;
  std::string last_exit_;
  std::string last_error_;
  std::shared_ptr<std::atomic<std::uint64_t>> connections_ = std::make_shared<std::atomic<std::uint64_t>>(0);
};

}  // namespace plugvisor::detail
