#include "supervision/supervised_plugin.hpp"

#include <signal.h>

#include <optional>
#include <thread>

#include <spdlog/spdlog.h>

#include "process/process_reactor.hpp"
#include "quote.hpp"
#include "supervision/scheduler.hpp"

namespace plugvisor::detail {

namespace {

// How long a call that lost its connection waits to learn whether the plugin
// exited (idle: relaunch and retry; crash: fail).
constexpr auto exit_grace = std::chrono::milliseconds(250);
// A call that was surely not run (never delivered, refused with 503, or lost
// to an idle exit) is sent again, on a relaunched plugin, this many times at
// most, within its deadline.
constexpr int max_redeliveries = 3;
// How long a plugin whose call timed out gets to answer /healthz.
constexpr auto hang_check_timeout = std::chrono::seconds(1);

spdlog::level::level_enum level_named(const std::string& name) {
  auto level = spdlog::level::from_str(name);
  if (level == spdlog::level::off && name != "off") {
    if (name == "warning") return spdlog::level::warn;
    if (name == "error" || name == "fatal") return spdlog::level::err;
    return spdlog::level::info;
  }
  return level;
}

std::string format_ms(std::chrono::milliseconds ms) { return protocol::format_duration(ms); }

// "contract/type method": how error messages name a call.
std::string call_name(std::string_view contract, std::string_view type, std::string_view method) {
  return std::string(contract) + "/" + std::string(type) + " " + std::string(method);
}

}  // namespace

SupervisedPlugin::SupervisedPlugin(PluginDefinition definition, std::filesystem::path socket_path,
                                   PluginServices services, std::shared_ptr<PluginHistory> history)
    : definition_(std::move(definition)),
      socket_path_(std::move(socket_path)),
      services_(std::move(services)),
      history_(history ? std::move(history) : std::make_shared<PluginHistory>()),
      failures_(definition_.settings.restart) {
  for (const auto& declared : definition_.capabilities.types) history_->calls.declare(declared.contract, declared.type);
}

SupervisedPlugin::~SupervisedPlugin() = default;

void SupervisedPlugin::fail(ErrorCode code, const std::string& message) const {
  throw Error(code, "plugin " + id() + ": " + message);
}

void SupervisedPlugin::transition(Lock& lock, PluginState to) {
  PluginState from = state_;
  if (from == to) return;
  state_ = to;
  std::string event = "state " + std::string(to_string(from)) + " -> " + std::string(to_string(to));
  if (to == PluginState::ready && current_) event += " (pid " + std::to_string(current_->child().pid()) + ")";
  if ((to == PluginState::crashed || to == PluginState::failed) && !last_error_.empty()) event += ": " + last_error_;
  if ((to == PluginState::idle || to == PluginState::stopped) && !last_exit_.empty()) {
    event += " (last exit: " + last_exit_ + ")";
  }
  lock.unlock();
  history_->log.append("event", event);
  services_.logger->debug("{}", event);
  if (services_.notify) services_.notify(id(), from, to);
  lock.lock();
}

PluginStatus SupervisedPlugin::status() const {
  std::lock_guard lock(mutex_);
  PluginStatus out;
  out.id = id();
  out.path = definition_.path;
  out.capabilities = definition_.capabilities;
  out.state = state_;
  bool alive = current_ && !current_->exited();
  out.pid = alive ? current_->child().pid() : 0;
  out.started_at = alive ? current_->started_at() : std::chrono::system_clock::time_point{};
  out.starts = history_->starts;
  out.restarts = history_->restarts;
  out.idle_exits = history_->idle_exits;
  out.crashes = history_->crashes;
  out.settings = definition_.settings;
  out.sha256 = definition_.sha256;
  out.signature = definition_.signature;
  if (definition_.signature_check) out.signature_policy = definition_.signature_check->policy;
  if (definition_.sandbox) {
    out.effective = definition_.sandbox->effective;
    out.sandbox = definition_.sandbox->mechanisms;
  }
  out.transport = definition_.transport;
  out.calls = history_->calls.by_type();
  out.latency = history_->calls.overall();
  out.recent_failures = const_cast<FailureHistory&>(failures_).count(Clock::now());
  out.last_exit = last_exit_;
  out.last_error = last_error_;
  out.connections = *connections_;
  out.dropped_log_lines = history_->dropped_lines + (current_ ? current_->child().dropped_lines() : 0);
  return out;
}

void SupervisedPlugin::log_line(bool is_stderr, std::string_view line) {
  history_->log.append(is_stderr ? "stderr" : "stdout", line);
  // A JSON line with "level" and "msg" keeps its level; anything else is info.
  if (!line.empty() && line.front() == '{') {
    Json doc = protocol::parse_json_or_discarded(line);
    if (doc.is_object() && doc.contains("msg") && doc["msg"].is_string()) {
      auto level = doc.contains("level") && doc["level"].is_string() ? level_named(doc["level"]) : spdlog::level::info;
      services_.logger->log(level, "{}", doc["msg"].get<std::string>());
      return;
    }
  }
  services_.logger->info("[{}] {}", is_stderr ? "stderr" : "stdout", line);
}

std::shared_ptr<PluginInstance> SupervisedPlugin::running(Clock::time_point deadline) {
  std::unique_lock start_lock(start_mutex_, std::defer_lock);
  std::unique_lock lock(mutex_);
  while (true) {
    if (closed_) fail(ErrorCode::unavailable, "the manager has shut down");
    if (state_ == PluginState::disabled) {
      fail(ErrorCode::unavailable, "the plugin is disabled; enable it to call it again");
    }
    if (current_ && !current_->exited() && !current_->asked_to_stop) return current_;
    const auto now = Clock::now();
    if (state_ == PluginState::failed && now < circuit_until_) {
      fail(ErrorCode::unavailable,
           "circuit open after " + std::to_string(failures_.count(now)) + " failures (last: " + last_error_ +
               "); restart it by hand" +
               (circuit_until_ == Clock::time_point::max()
                    ? std::string()
                    : " or wait " + format_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        circuit_until_ - now)) + " for the cool-down"));
    }
    if (state_ == PluginState::crashed && now < next_start_) {
      if (next_start_ > deadline) {
        fail(ErrorCode::unavailable,
             "relaunching after a failure in " +
                 format_ms(std::chrono::duration_cast<std::chrono::milliseconds>(next_start_ - now)) +
                 " (backoff), after the call's deadline (last: " + last_error_ + ")");
      }
      auto wake = next_start_;
      lock.unlock();
      if (start_lock.owns_lock()) start_lock.unlock();
      std::this_thread::sleep_until(wake);
      lock.lock();
      continue;
    }
    if (!start_lock.owns_lock()) {
      lock.unlock();
      if (!start_lock.try_lock_until(deadline)) {
        fail(ErrorCode::timeout, "still starting or stopping when the call's deadline passed");
      }
      lock.lock();
      continue;  // someone else may have launched it meanwhile
    }
    return launch_locked(lock);
  }
}

std::shared_ptr<PluginInstance> SupervisedPlugin::launch_locked(Lock& lock) {
  const bool half_open = state_ == PluginState::failed;
  ++history_->starts;
  if (last_ended_in_failure_) ++history_->restarts;
  transition(lock, PluginState::starting);
  lock.unlock();

  std::weak_ptr<SupervisedPlugin> weak = weak_from_this();
  LaunchSpec spec{id(),         definition_.path, definition_.settings, definition_.transport,
                  definition_.config_types, socket_path_,      connections_,         definition_.sandbox,
                  definition_.signature_check};
  std::shared_ptr<PluginInstance> instance;
  std::optional<IdleDuringStart> idle_twice;
  try {
    // An idle timeout shorter than the start-up can end a launch cleanly: one
    // more try, then the advice to raise it. Neither is a failure.
    for (int attempt = 0; !instance && !idle_twice; ++attempt) {
      try {
        instance = PluginInstance::launch(
            services_.reactor, spec,
            [weak](bool is_stderr, std::string_view line) {
              if (auto self = weak.lock()) self->log_line(is_stderr, line);
            },
            [weak](const std::shared_ptr<PluginInstance>& exited, const ExitStatus& status) {
              if (auto self = weak.lock()) self->on_exit(exited, status);
            });
      } catch (const IdleDuringStart& idle) {
        if (attempt > 0) idle_twice = idle;
      }
    }
  } catch (const Error& e) {
    lock.lock();
    last_exit_ = "failed to start";
    last_error_ = std::string("could not start: ") + e.what();
    services_.logger->error("{}", last_error_);
    record_failure(lock, last_error_);
    fail(ErrorCode::start_failed, last_error_);
  }
  lock.lock();
  if (idle_twice) {
    // Outside the try above: fail() throws an Error, which its handler
    // would take for a failed start (and lock `lock` a second time).
    ++history_->idle_exits;
    last_exit_ = "idle";
    last_error_ = idle_twice->message + ", twice: set an idle timeout longer than its start-up";
    transition(lock, PluginState::idle);
    fail(ErrorCode::start_failed, last_error_);
  }
  if (half_open) failures_.clear();  // the trial after the cool-down worked
  current_ = instance;
  last_ended_in_failure_ = false;
  transition(lock, PluginState::ready);
  services_.logger->info("ready (pid {})", instance->child().pid());
  return instance;
}

void SupervisedPlugin::record_failure(Lock& lock, const std::string& what) {
  last_ended_in_failure_ = true;
  ++history_->crashes;
  const auto now = Clock::now();
  const auto& policy = definition_.settings.restart;
  const bool eager = definition_.settings.start == StartPolicy::eager;
  failures_.record(now);
  if (failures_.circuit_open(now)) {
    circuit_until_ = policy.cool_down.count() == 0 ? Clock::time_point::max() : protocol::deadline_after(policy.cool_down, now);
    services_.logger->error("{} failures within {} (last: {}): circuit open, calls fail until a manual restart{}",
                            failures_.count(now), format_ms(policy.window), what,
                            policy.cool_down.count() == 0 ? "" : " or " + format_ms(policy.cool_down) + " from now");
    transition(lock, PluginState::failed);
    if (eager && policy.cool_down.count() > 0) schedule_restart(circuit_until_);
    return;
  }
  next_start_ = protocol::deadline_after(failures_.backoff(now), now);
  transition(lock, PluginState::crashed);
  if (eager) schedule_restart(next_start_);
}

void SupervisedPlugin::schedule_restart(Clock::time_point when) {
  std::weak_ptr<SupervisedPlugin> weak = weak_from_this();
  services_.scheduler.at(when, [weak] {
    auto self = weak.lock();
    if (!self) return;
    {
      std::lock_guard lock(self->mutex_);
      // Only a plugin still waiting to come back; a stop or disable cancels.
      if (self->state_ != PluginState::crashed && self->state_ != PluginState::failed) return;
    }
    try {
      self->start();
    } catch (const Error&) {
      // Recorded as a failure by the launch itself.
    }
  });
}

void SupervisedPlugin::on_exit(const std::shared_ptr<PluginInstance>& instance, const ExitStatus& status) {
  std::unique_lock lock(mutex_);
  history_->dropped_lines += instance->child().dropped_lines();
  // A child the plugin forked may still hold a connection: the calls in
  // flight learn of the exit now, not at their deadline (whichever
  // instance this was).
  instance->abort_calls();
  if (instance != current_) return;  // a launch that failed, or an older instance
  current_.reset();
  if (instance->asked_to_stop) {
    last_exit_ = "asked (" + status.describe() + ")";
    return;  // whoever asked sets the state
  }
  if (instance->killed_for_hang) {
    last_exit_ = "killed after a hang";
    last_error_ = "a call timed out and the plugin did not answer /healthz within 1s: killed";
    record_failure(lock, last_error_);
    return;
  }
  if (status.clean()) {
    ++history_->idle_exits;
    last_exit_ = "idle";
    services_.logger->info("exited on its idle timeout; the next call relaunches it");
    transition(lock, PluginState::idle);
    return;
  }
  std::string what = status.describe();
  const auto& limits = definition_.settings.limits;
  if (status.signal == SIGXCPU || (status.signal == SIGKILL && limits.cpu_time.count() > 0)) {
    what += " (its CPU time limit of " + std::to_string(limits.cpu_time.count()) + "s was used up)";
  } else if (limits.memory_bytes > 0) {
    what += " (it has a memory limit of " + std::to_string(limits.memory_bytes >> 20) +
            " MiB: an allocation beyond it fails, a likely cause)";
  }
  last_exit_ = what;
  last_error_ = "crashed: " + what;
  services_.logger->warn("{}", last_error_);
  record_failure(lock, last_error_);
}

void SupervisedPlugin::check_hung(const std::shared_ptr<PluginInstance>& instance) {
  if (instance->exited()) return;
  if (instance->client().health(hang_check_timeout).ok()) return;  // busy, but alive
  services_.logger->warn("a call timed out and /healthz did not answer within 1s: killing pid {}",
                         instance->child().pid());
  instance->killed_for_hang = true;
  instance->child().signal(SIGKILL);
}

Payload SupervisedPlugin::decode(HttpReply&& reply, std::string_view contract, std::string_view type,
                                 std::string_view method) const {
  if (reply.status == 200) {
    bool bytes = reply.content_type.starts_with("application/octet-stream");
    if (!bytes && !Json::accept(reply.body)) {
      fail(ErrorCode::bad_reply, call_name(contract, type, method) + " answered 200 with a body that is not JSON: " +
                                     quote(reply.body));
    }
    return Payload{bytes ? Encoding::bytes : Encoding::json, std::move(reply.body)};
  }
  const std::string what = call_name(contract, type, method);
  Json doc = protocol::parse_json_or_discarded(reply.body);
  if (doc.is_object() && doc.contains("error") && doc["error"].is_object()) {
    const Json& error = doc["error"];
    const std::string name =
        error.contains("code") && error["code"].is_string() ? error["code"].get<std::string>() : std::string();
    auto code = error_code_from_string(name);
    std::string message = error.contains("message") && error["message"].is_string() ? error["message"].get<std::string>()
                                                                                      : std::string("(no message)");
    if (code && !plugin_may_answer(*code)) {
      // Only the manager sees a crash, a timeout or a bad reply: a plugin
      // that claims one would steer the caller's retries and alerts.
      fail(ErrorCode::bad_reply, std::string(what) + " answered the error code " + quote(name) +
                                     ", which only the manager reports; a plugin answers invalid_input, "
                                     "unauthorized, not_found, too_large, internal or unavailable (protocol.md "
                                     "10.6). Its message: " + quote(message));
    }
    // The plugin's message usually names the call already; avoid saying it twice.
    fail(code.value_or(ErrorCode::internal),
         message.find(what) == std::string::npos ? std::string(what) + ": " + message : message);
  }
  fail(ErrorCode::bad_reply, std::string(what) + " answered HTTP " + std::to_string(reply.status) +
                                 " without the protocol's error body: " + quote(reply.body));
}

Payload SupervisedPlugin::call(std::string_view contract, std::string_view type, std::string_view method,
                               const Payload& input) {
  const auto began = Clock::now();
  try {
    Payload result = call_unrecorded(contract, type, method, input, began);
    const auto ended = Clock::now();
    history_->calls.record(contract, type, ended, ended - began, std::nullopt);
    return result;
  } catch (const Error& e) {
    const auto ended = Clock::now();
    history_->calls.record(contract, type, ended, ended - began, e.code());
    throw;
  }
}

Payload SupervisedPlugin::call_unrecorded(std::string_view contract, std::string_view type, std::string_view method,
                                          const Payload& input, Clock::time_point began) {
  const auto deadline =
      DeadlineScope::current().value_or(protocol::deadline_after(definition_.settings.call_timeout, began));
  // The call's name in error messages: spelt only when one is, not on every call.
  const auto what = [&] { return call_name(contract, type, method); };
  for (int attempt = 0;; ++attempt) {
    auto instance = running(deadline);
    try {
      // The path, in this thread's buffer (no allocation per call), written
      // just before post(): a launch above may run a host's callback, which
      // may call a plugin on this thread; post() runs no host code.
      thread_local std::string path;
      path.assign("/v1/").append(contract).append("/").append(type).append("/").append(method);
      HttpReply reply = instance->client().post(path, input, deadline);
      if (reply.status == 503 && attempt < max_redeliveries) {
        // The plugin began its shutdown (idle) as the call arrived: the call
        // was not run; relaunch once it is gone.
        instance->child().wait_until(std::min(deadline, protocol::deadline_after(definition_.settings.stop_grace)));
        continue;
      }
      return decode(std::move(reply), contract, type, method);
    } catch (const TransportError& e) {
      if (e.failure == TransportFailure::not_delivered) {
        // Never delivered: the socket is gone or refused (an idle exit under way).
        instance->child().wait_until(std::min(deadline, Clock::now() + exit_grace));
        if (attempt < max_redeliveries && Clock::now() < deadline) continue;
        fail(ErrorCode::unavailable, what() + ": cannot connect (" + e.detail + ") even after " +
                                         std::to_string(attempt) + " relaunch(es)");
      }
      auto exit = instance->child().wait_until(Clock::now() + exit_grace);
      if (exit && exit->clean() && !instance->asked_to_stop && attempt < max_redeliveries) {
        continue;  // idle exit raced with the call; the SDK never runs a call it then drops
      }
      if (Clock::now() >= deadline && !exit) {
        std::weak_ptr<SupervisedPlugin> weak = weak_from_this();
        services_.scheduler.at(Clock::now(), [weak, instance] {
          if (auto self = weak.lock()) self->check_hung(instance);
        });
        fail(ErrorCode::timeout, what() + " did not answer within its deadline");
      }
      std::string tail = instance->child().stderr_tail();
      if (exit) {
        fail(ErrorCode::crashed, what() + ": the plugin process " + exit->describe() +
                                     " while the call was in flight" + (tail.empty() ? "" : "; its stderr: " + tail));
      }
      fail(ErrorCode::crashed, what() + ": the connection closed without an answer (" + e.detail + ")");
    }
  }
}

void SupervisedPlugin::start() {
  running(protocol::deadline_after(definition_.settings.start_timeout + std::chrono::seconds(1)));
}

void SupervisedPlugin::stop_owned(PluginState final_state) {
  std::unique_lock lock(mutex_);
  auto instance = current_;
  if (!instance || instance->exited()) {
    // Nothing runs; a failed or disabled plugin stays so unless disabling.
    bool keep = state_ == PluginState::registered || state_ == PluginState::failed ||
                state_ == PluginState::disabled;
    if (final_state == PluginState::disabled || !keep) transition(lock, final_state);
    return;
  }
  instance->asked_to_stop = true;
  transition(lock, PluginState::stopping);
  lock.unlock();
  auto exit = instance->stop(definition_.settings.stop_grace, definition_.settings.term_grace, services_.logger);
  lock.lock();
  if (current_ == instance) current_.reset();
  last_exit_ = exit ? "asked (" + exit->describe() + ")" : "asked; did not die even after SIGKILL";
  transition(lock, final_state);
}

void SupervisedPlugin::stop() {
  std::lock_guard start_lock(start_mutex_);
  stop_owned(PluginState::stopped);
}

void SupervisedPlugin::restart() {
  {
    std::lock_guard start_lock(start_mutex_);
    stop_owned(PluginState::stopped);
    std::lock_guard lock(mutex_);
    failures_.clear();
    next_start_ = {};
    circuit_until_ = {};
    last_ended_in_failure_ = false;
  }
  start();
}

void SupervisedPlugin::disable() {
  std::lock_guard start_lock(start_mutex_);
  stop_owned(PluginState::disabled);
}

void SupervisedPlugin::enable() {
  {
    std::unique_lock lock(mutex_);
    if (state_ != PluginState::disabled) return;
    transition(lock, PluginState::stopped);
  }
  if (definition_.settings.start == StartPolicy::eager) start();
}

void SupervisedPlugin::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  stop();
}

}  // namespace plugvisor::detail
