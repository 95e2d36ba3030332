// One external plugin under supervision: its state machine (see
// docs/architecture.md), its running instance, restarts with backoff and a
// circuit breaker, and the call path with relaunch-on-idle.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include <spdlog/fwd.h>

#include "supervision/call_stats.hpp"
#include "supervision/failure_history.hpp"
#include "supervision/log_ring.hpp"
#include "supervision/plugin_instance.hpp"
#include "plugvisor/manager.hpp"
#include "plugvisor/wire/call_mutex.hpp"
#include "supervision/timed_gate.hpp"

namespace plugvisor::detail {

class ProcessReactor;
class Scheduler;

/// What the manager learnt about a plugin before running it.
struct PluginDefinition {
  std::string id;
  std::filesystem::path path;
  Capabilities capabilities;
  PluginSettings settings;
  /// The transport the plugin is reached by: settings.transport resolved
  /// against the transports it serves (never automatic).
  Transport transport = Transport::unix_socket;
  /// The config types handed over at launch: [{"type": ..., "data": ...}].
  Json config_types = Json::array();
  /// The executable's SHA-256 as probed.
  std::string sha256;
  /// Its sandbox; null without a grant.
  std::shared_ptr<const SandboxPlan> sandbox;
  /// Its signature as checked at registration.
  SignatureStatus signature;
  /// What each launch checks the signature against; null: not checked (an
  /// unsigned plugin in an optional directory).
  std::shared_ptr<const SignatureCheck> signature_check;
};

/// What outlives one SupervisedPlugin when a reload replaces it: its log,
/// its call statistics and its counters. Thread-safe.
struct PluginHistory {
  LogRing log;
  CallStats calls;
  std::atomic<int> starts{0};
  std::atomic<int> restarts{0};
  std::atomic<int> idle_exits{0};
  std::atomic<int> crashes{0};
  std::atomic<std::uint64_t> dropped_lines{0};  // of instances that have exited
};

/// The services a plugin needs from its manager.
struct PluginServices {
  ProcessReactor& reactor;
  Scheduler& scheduler;
  std::shared_ptr<spdlog::logger> logger;
  StateListener notify;
};

/// A plugin under supervision. Calls launch it on demand; an instance that
/// exits on its idle timeout is relaunched by the next call; a crashed one is
/// relaunched after a backoff (at once by the scheduler if eager, else by the
/// next call), until too many failures open the circuit. Thread-safe.
class SupervisedPlugin : public std::enable_shared_from_this<SupervisedPlugin> {
 public:
  SupervisedPlugin(PluginDefinition definition, std::filesystem::path socket_path, PluginServices services,
                   std::shared_ptr<PluginHistory> history);
  ~SupervisedPlugin();

  const std::string& id() const noexcept { return definition_.id; }
  const PluginDefinition& definition() const noexcept { return definition_; }

  /// Calls `method` of (contract, type), launching the plugin if needed.
  /// Throws Error: timeout, crashed, start_failed, unavailable, bad_reply, or
  /// the plugin's own error code.
  Payload call(std::string_view contract, std::string_view type, std::string_view method, const Payload& input);

  /// Launches the plugin now if it is not running. Throws Error(start_failed).
  void start();
  /// Stops the running instance, if any (see PluginInstance::stop).
  void stop();
  /// Stops, forgets the failures (closing the circuit) and starts again.
  void restart();
  /// Stops the plugin and refuses calls until enable().
  void disable();
  /// Accepts calls again; an eager plugin is started.
  void enable();
  /// Stops and refuses every later call (manager shutdown). Idempotent.
  void close();

  PluginStatus status() const;
  const std::shared_ptr<PluginHistory>& history() const noexcept { return history_; }

 private:
  using Clock = std::chrono::steady_clock;
  using Lock = std::unique_lock<plugvisor::wire::CallMutex>;  // on mutex_

  // call() without the statistics; `began` is when the call began (its
  // deadline counts from there).
  Payload call_unrecorded(std::string_view contract, std::string_view type, std::string_view method, const Payload& input,
                          Clock::time_point began);
  std::shared_ptr<PluginInstance> running(Clock::time_point deadline);
  // With `lock` (on mutex_) held and start_mutex_ owned: launches, records
  // the outcome, and returns the instance or throws.
  std::shared_ptr<PluginInstance> launch_locked(Lock& lock);
  // Stops the current instance; with start_mutex_ owned. Ends in `final_state`.
  void stop_owned(PluginState final_state);
  void on_exit(const std::shared_ptr<PluginInstance>& instance, const ExitStatus& status);
  // With `lock` held: counts a failure and moves to crashed or failed.
  void record_failure(Lock& lock, const std::string& what);
  void schedule_restart(Clock::time_point when);
  void check_hung(const std::shared_ptr<PluginInstance>& instance);
  void log_line(bool is_stderr, std::string_view line);
  // Sets the state and tells the listener, outside the lock.
  void transition(Lock& lock, PluginState to);
  // Takes the reply apart: the body moves into the result, uncopied.
  Payload decode(HttpReply&& reply, std::string_view contract, std::string_view type, std::string_view method) const;
  [[noreturn]] void fail(ErrorCode code, const std::string& message) const;

  const PluginDefinition definition_;
  const std::filesystem::path socket_path_;
  PluginServices services_;
  const std::shared_ptr<PluginHistory> history_;
  const std::shared_ptr<std::atomic<std::uint64_t>> connections_ =
      std::make_shared<std::atomic<std::uint64_t>>(0);

  TimedGate start_mutex_;  // one launch or stop at a time
  // The fields below; taken by every call (running), hence a CallMutex.
  mutable plugvisor::wire::CallMutex mutex_;
  PluginState state_ = PluginState::registered;
  std::shared_ptr<PluginInstance> current_;
  bool closed_ = false;
  bool last_ended_in_failure_ = false;
  FailureHistory failures_;
  Clock::time_point next_start_{};     // crashed: not before this
  Clock::time_point circuit_until_{};  // failed: not before this (max: only by hand)
  std::string last_exit_;
  std::string last_error_;
};

}  // namespace plugvisor::detail
