#include "supervised_plugin.hpp"

#include <signal.h>

#include <charconv>
#include <thread>

#include <spdlog/spdlog.h>

#include "environment.hpp"
#include "process_reactor.hpp"
#include "token.hpp"

namespace plugvisor::detail {

namespace {

// How long a call that lost its connection waits to learn whether the plugin
// exited (idle: relaunch and retry; crash: fail).
constexpr auto exit_grace = std::chrono::milliseconds(250);
constexpr auto kill_wait = std::chrono::seconds(5);

std::string quote(std::string_view text) {
  std::string cut(text.substr(0, 200));
  if (text.size() > 200) cut += "...";
  return Json(cut).dump(-1, ' ', false, Json::error_handler_t::replace);
}

spdlog::level::level_enum level_named(const std::string& name) {
  auto level = spdlog::level::from_str(name);
  if (level == spdlog::level::off && name != "off") {
    if (name == "warning") return spdlog::level::warn;
    if (name == "error" || name == "fatal") return spdlog::level::err;
    return spdlog::level::info;
  }
  return level;
}

}  // namespace

SupervisedPlugin::SupervisedPlugin(PluginDefinition definition, ProcessReactor& reactor,
                                   std::filesystem::path socket_path, std::shared_ptr<spdlog::logger> logger,
                                   StateListener notify)
    : definition_(std::move(definition)),
      reactor_(reactor),
      socket_path_(std::move(socket_path)),
      logger_(std::move(logger)),
      notify_(std::move(notify)) {}

SupervisedPlugin::~SupervisedPlugin() = default;

void SupervisedPlugin::fail(ErrorCode code, const std::string& message) const {
  throw Error(code, "plugin " + id() + ": " + message);
}

void SupervisedPlugin::transition(std::unique_lock<std::mutex>& lock, PluginState to) {
  PluginState from = state_;
  if (from == to) return;
  state_ = to;
  lock.unlock();
  logger_->debug("state {} -> {}", to_string(from), to_string(to));
  if (notify_) notify_(id(), from, to);
  lock.lock();
}

PluginStatus SupervisedPlugin::status() const {
  std::lock_guard lock(mutex_);
  PluginStatus out;
  out.id = id();
  out.path = definition_.path;
  out.capabilities = definition_.capabilities;
  out.state = state_;
  out.pid = current_ && current_->child && !current_->exited() ? current_->child->pid() : 0;
  out.starts = starts_;
  out.last_exit = last_exit_;
  out.last_error = last_error_;
  out.connections = *connections_;
  return out;
}

void SupervisedPlugin::log_line(bool is_stderr, std::string_view line) {
  // A JSON line with "level" and "msg" keeps its level; anything else is info.
  if (!line.empty() && line.front() == '{') {
    Json doc = Json::parse(line, nullptr, false);
    if (doc.is_object() && doc.contains("msg") && doc["msg"].is_string()) {
      auto level = doc.contains("level") && doc["level"].is_string() ? level_named(doc["level"]) : spdlog::level::info;
      logger_->log(level, "{}", doc["msg"].get<std::string>());
      return;
    }
  }
  logger_->info("[{}] {}", is_stderr ? "stderr" : "stdout", line);
}

std::shared_ptr<SupervisedPlugin::Instance> SupervisedPlugin::launch() {
  const auto& settings = definition_.settings;
  const auto deadline = Clock::now() + settings.start_timeout;
  const bool unix_socket = settings.transport == Transport::unix_socket;
  const std::string address = unix_socket ? socket_path_.string() : "127.0.0.1:0";
  const std::string token = random_token();

  auto instance = std::make_shared<Instance>();
  std::weak_ptr<SupervisedPlugin> weak_self = weak_from_this();
  std::weak_ptr<Instance> weak_instance = instance;
  SpawnSpec spec;
  spec.path = definition_.path.string();
  spec.args = {"--config", "-"};
  spec.env = plugin_environment(settings.env);
  spec.pipe_stdin = true;
  spec.stdout_mode = StdoutMode::handshake;
  spec.log = [weak_self](bool is_stderr, std::string_view line) {
    if (auto self = weak_self.lock()) self->log_line(is_stderr, line);
  };
  spec.on_exit = [weak_self, weak_instance](const ExitStatus& status) {
    auto self = weak_self.lock();
    auto inst = weak_instance.lock();
    if (self && inst) self->on_exit(inst, status);
  };
  instance->child = reactor_.spawn(std::move(spec));

  try {
    Json config{{"protocolVersion", protocol::version},
                {"id", id()},
                {"type", unix_socket ? "unix" : "tcp"},
                {"address", address},
                {"idleTimeout", protocol::format_duration(settings.idle_timeout)},
                {"token", token},
                {"maxBodyBytes", settings.max_body_bytes},
                {"configTypes", definition_.config_types}};
    if (!instance->child->write_stdin(config.dump() + "\n", deadline)) {
      auto exit = instance->child->wait_until(Clock::now() + exit_grace);
      throw Error(ErrorCode::start_failed,
                  exit ? exit->describe() + " before reading its configuration" : "did not read its configuration");
    }
    std::string reported = await_handshake(*instance, deadline, address);
    instance->client = std::make_unique<PluginClient>(unix_socket, reported, token, connections_);
    await_health(*instance, deadline);
  } catch (const Error& e) {
    terminate(*instance);
    std::string tail = instance->child->stderr_tail();
    throw Error(ErrorCode::start_failed, e.what() + (tail.empty() ? std::string() : "; its stderr: " + tail));
  }
  return instance;
}

std::string SupervisedPlugin::await_handshake(Instance& instance, Clock::time_point deadline,
                                       const std::string& expected_address) {
  auto& child = *instance.child;
  auto line = child.wait_first_line(deadline);
  if (!line) {
    if (auto exit = child.exit_status()) throw Error(ErrorCode::start_failed, exit->describe() + " before the handshake");
    throw Error(ErrorCode::start_failed, "printed no handshake line within " +
                                             protocol::format_duration(definition_.settings.start_timeout));
  }
  auto bad = [&](const std::string& why) {
    return Error(ErrorCode::start_failed,
                 "printed " + quote(*line) + " where the handshake line belongs (" + why +
                     "). The first line on stdout must be the handshake JSON; log to stderr instead");
  };
  Json doc = Json::parse(*line, nullptr, false);
  if (!doc.is_object()) throw bad("not a JSON object");
  auto version = doc.value("protocolVersion", Json());
  if (!version.is_number_integer() || version != protocol::version) throw bad("protocolVersion must be 1");
  const bool unix_socket = definition_.settings.transport == Transport::unix_socket;
  if (doc.value("type", Json()) != (unix_socket ? "unix" : "tcp")) {
    throw bad(std::string("type must be \"") + (unix_socket ? "unix" : "tcp") + "\" as configured");
  }
  auto address = doc.value("address", Json());
  if (!address.is_string()) throw bad("address must be a string");
  std::string reported = address.get<std::string>();
  if (unix_socket && reported != expected_address) throw bad("address must be the configured socket path");
  if (!unix_socket) {
    auto colon = reported.rfind(':');
    int port = 0;
    const char* begin = reported.data() + (colon == std::string::npos ? reported.size() : colon + 1);
    const char* end = reported.data() + reported.size();
    auto [stop, ec] = std::from_chars(begin, end, port);
    bool port_ok = ec == std::errc() && stop == end && port > 0 && port <= 65535;
    if (colon == std::string::npos || reported.substr(0, colon) != "127.0.0.1" || !port_ok) {
      throw bad("address must be 127.0.0.1:PORT");
    }
  }
  return reported;
}

void SupervisedPlugin::await_health(Instance& instance, Clock::time_point deadline) {
  std::string last = "no answer";
  auto pause = std::chrono::milliseconds(1);
  while (true) {
    if (auto exit = instance.child->exit_status()) {
      throw Error(ErrorCode::start_failed, exit->describe() + " before /healthz answered");
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    if (auto reply = instance.client->health(std::min(left, std::chrono::milliseconds(1000)))) {
      if (reply->status == 200) return;
      last = "HTTP " + std::to_string(reply->status) + " " + quote(reply->body);
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
  throw Error(ErrorCode::start_failed, "/healthz did not answer 200 within " +
                                           protocol::format_duration(definition_.settings.start_timeout) +
                                           " (last: " + last + ")");
}

void SupervisedPlugin::terminate(Instance& instance) {
  instance.asked_to_stop = true;
  instance.child->close_stdin();
  instance.child->signal(SIGKILL);
  instance.child->wait_until(Clock::now() + kill_wait);
}

std::shared_ptr<SupervisedPlugin::Instance> SupervisedPlugin::running(Clock::time_point deadline) {
  auto usable = [&]() -> std::shared_ptr<Instance> {
    if (closed_) fail(ErrorCode::unavailable, "the manager has shut down");
    return current_ && !current_->exited() && !current_->asked_to_stop ? current_ : nullptr;
  };
  {
    std::lock_guard lock(mutex_);
    if (auto instance = usable()) return instance;
  }
  std::unique_lock start_lock(start_mutex_, deadline);
  if (!start_lock.owns_lock()) {
    fail(ErrorCode::timeout, "still starting or stopping when the call's deadline passed");
  }
  std::unique_lock lock(mutex_);
  if (auto instance = usable()) return instance;
  ++starts_;
  transition(lock, PluginState::starting);
  lock.unlock();
  std::shared_ptr<Instance> instance;
  try {
    instance = launch();
  } catch (const Error& e) {
    lock.lock();
    last_error_ = std::string("could not start: ") + e.what();
    transition(lock, PluginState::crashed);
    logger_->error("{}", last_error_);
    fail(ErrorCode::start_failed, last_error_);
  }
  lock.lock();
  current_ = instance;
  transition(lock, PluginState::ready);
  logger_->info("ready (pid {})", instance->child->pid());
  return instance;
}

void SupervisedPlugin::on_exit(const std::shared_ptr<Instance>& instance, const ExitStatus& status) {
  std::unique_lock lock(mutex_);
  if (instance != current_) return;  // a launch that failed, or an older instance
  current_.reset();
  if (instance->asked_to_stop) {
    last_exit_ = "asked (" + status.describe() + ")";
    return;  // stop() sets the state
  }
  if (status.clean()) {
    last_exit_ = "idle";
    logger_->info("exited on its idle timeout; the next call relaunches it");
    transition(lock, PluginState::idle);
    return;
  }
  last_exit_ = status.describe();
  last_error_ = "crashed: " + status.describe();
  logger_->warn("{}", last_error_);
  transition(lock, PluginState::crashed);
}

Payload SupervisedPlugin::decode(const HttpReply& reply, std::string_view what) const {
  if (reply.status == 200) {
    bool bytes = reply.content_type.starts_with("application/octet-stream");
    return Payload{bytes ? Encoding::bytes : Encoding::json, reply.body};
  }
  Json doc = Json::parse(reply.body, nullptr, false);
  if (doc.is_object() && doc.contains("error") && doc["error"].is_object()) {
    const Json& error = doc["error"];
    auto code = error_code_from_string(error.value("code", ""));
    std::string message = error.contains("message") && error["message"].is_string() ? error["message"].get<std::string>()
                                                                                      : std::string("(no message)");
    // The plugin's message usually names the call already; avoid saying it twice.
    fail(code.value_or(ErrorCode::internal),
         message.find(what) == std::string::npos ? std::string(what) + ": " + message : message);
  }
  fail(ErrorCode::bad_reply, std::string(what) + " answered HTTP " + std::to_string(reply.status) +
                                 " without the protocol's error body: " + quote(reply.body));
}

Payload SupervisedPlugin::call(std::string_view contract, std::string_view type, std::string_view method,
                               const Payload& input) {
  const auto deadline = DeadlineScope::current().value_or(Clock::now() + definition_.settings.call_timeout);
  const std::string what = std::string(contract) + "/" + std::string(type) + " " + std::string(method);
  const std::string path = "/v1/" + std::string(contract) + "/" + std::string(type) + "/" + std::string(method);
  for (int attempt = 0;; ++attempt) {
    auto instance = running(deadline);
    try {
      HttpReply reply = instance->client->post(path, input, deadline);
      if (reply.status == 503 && attempt == 0) {
        // The plugin began its shutdown (idle) as the call arrived: the call
        // was not run; relaunch once it is gone.
        instance->child->wait_until(std::min(deadline, Clock::now() + definition_.settings.stop_grace));
        continue;
      }
      return decode(reply, what);
    } catch (const TransportError& e) {
      if (e.failure == TransportFailure::not_delivered) {
        // Never delivered: the socket is gone or refused (an idle exit under way).
        instance->child->wait_until(std::min(deadline, Clock::now() + exit_grace));
        if (attempt == 0) continue;
        fail(ErrorCode::unavailable, what + ": cannot connect (" + e.detail + ") even after a relaunch");
      }
      auto exit = instance->child->wait_until(Clock::now() + exit_grace);
      if (exit && exit->clean() && !instance->asked_to_stop && attempt == 0) {
        continue;  // idle exit raced with the call; the SDK never runs a call it then drops
      }
      if (Clock::now() >= deadline) {
        fail(ErrorCode::timeout, what + " did not answer within its deadline");
      }
      std::string tail = instance->child->stderr_tail();
      if (exit) {
        fail(ErrorCode::crashed, what + ": the plugin process " + exit->describe() + " while the call was in flight" +
                                     (tail.empty() ? "" : "; its stderr: " + tail));
      }
      fail(ErrorCode::crashed, what + ": the connection closed without an answer (" + e.detail + ")");
    }
  }
}

void SupervisedPlugin::start() {
  running(Clock::now() + definition_.settings.start_timeout + std::chrono::seconds(1));
}

void SupervisedPlugin::stop() {
  std::lock_guard start_lock(start_mutex_);
  std::unique_lock lock(mutex_);
  auto instance = current_;
  if (!instance || instance->exited()) {
    if (state_ != PluginState::registered) transition(lock, PluginState::stopped);
    return;
  }
  instance->asked_to_stop = true;
  transition(lock, PluginState::stopping);
  lock.unlock();

  const auto grace = definition_.settings.stop_grace;
  try {
    instance->client->post("/shutdown", Payload{Encoding::none, "{}"},
                           Clock::now() + std::min(grace, std::chrono::milliseconds(1000)));
  } catch (const TransportError&) {
    // Already going; the signals below make sure.
  }
  instance->client->close_idle();
  instance->child->close_stdin();
  auto exit = instance->child->wait_until(Clock::now() + grace);
  if (!exit) {
    logger_->warn("did not exit within {} of being asked; sending SIGTERM", protocol::format_duration(grace));
    instance->child->signal(SIGTERM);
    exit = instance->child->wait_until(Clock::now() + grace);
  }
  if (!exit) {
    logger_->warn("ignored SIGTERM for {}; sending SIGKILL", protocol::format_duration(grace));
    instance->child->signal(SIGKILL);
    exit = instance->child->wait_until(Clock::now() + kill_wait);
  }
  lock.lock();
  if (current_ == instance) current_.reset();
  if (exit) last_exit_ = "asked (" + exit->describe() + ")";
  transition(lock, PluginState::stopped);
}

void SupervisedPlugin::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  stop();
}

}  // namespace plugvisor::detail
