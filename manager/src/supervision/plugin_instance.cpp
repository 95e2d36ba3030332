#include "supervision/plugin_instance.hpp"

#include <signal.h>

#include <future>
#include <thread>

#include <spdlog/spdlog.h>

#include "discovery/capabilities.hpp"
#include "plugvisor/wire/address.hpp"
#include "process/environment.hpp"
#include "process/process_reactor.hpp"
#include "quote.hpp"
#include "transport/token.hpp"

namespace plugvisor::detail {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kill_wait = std::chrono::seconds(5);

}  // namespace

std::shared_ptr<PluginInstance> PluginInstance::launch(ProcessReactor& reactor, const LaunchSpec& spec, LineSink log,
                                                       ExitHandler on_exit) {
  const auto& settings = spec.settings;
  const auto deadline = protocol::deadline_after(settings.start_timeout);
  const bool unix_socket = spec.transport == Transport::unix_socket;
  const std::string address = unix_socket ? spec.socket_path.string() : "127.0.0.1:0";
  const std::string token = random_token();

  std::shared_ptr<PluginInstance> instance(new PluginInstance());
  std::weak_ptr<PluginInstance> weak = instance;
  SpawnSpec spawn;
  spawn.path = spec.path.string();
  spawn.args = {"--config", "-"};
  spawn.env = plugin_environment(settings.env);
  spawn.pipe_stdin = true;
  spawn.stdin_data = Json{{"protocolVersion", protocol::version},
                          {"id", spec.id},
                          {"type", unix_socket ? "unix" : "tcp"},
                          {"address", address},
                          {"idleTimeout", protocol::format_duration(settings.idle_timeout)},
                          {"token", token},
                          {"maxBodyBytes", settings.max_body_bytes},
                          {"configTypes", spec.config_types}}
                         .dump() +
                     "\n";
  spawn.stdout_mode = StdoutMode::handshake;
  spawn.log = std::move(log);
  spawn.log_lines_per_second = settings.log_lines_per_second;
  spawn.limits = settings.limits;
  // Opened once: the digest checked is that of the file that runs.
  spawn.executable = OpenedExecutable::open(spec.path, !settings.sha256.empty() || spec.signature_check);
  spawn.executable->check_pin(settings.sha256);
  if (spec.signature_check) check_signature(spec.path, spawn.executable->sha256(), *spec.signature_check);
  if (spec.sandbox) {
    spawn.sandbox = PreparedSandbox::prepare(*spec.sandbox);
    const auto& effective = spec.sandbox->effective;
    spawn.limits.memory_bytes = smaller_limit(spawn.limits.memory_bytes, effective.memory_bytes);
    spawn.limits.cpu_time = std::chrono::seconds(smaller_limit(static_cast<std::size_t>(spawn.limits.cpu_time.count()),
                                                               static_cast<std::size_t>(effective.cpu_time.count())));
  }
  // The reactor may reap a child that exits at once before spawn() has
  // returned here: its exit handler waits until child_ is set.
  auto spawned = std::make_shared<std::promise<void>>();
  spawn.on_exit = [weak, child_set = spawned->get_future().share(),
                   on_exit = std::move(on_exit)](const ExitStatus& status) {
    child_set.wait();
    if (auto self = weak.lock()) on_exit(self, status);
  };
  try {
    instance->child_ = reactor.spawn(std::move(spawn));
  } catch (...) {
    spawned->set_value();
    throw;
  }
  spawned->set_value();
  instance->started_at_ = std::chrono::system_clock::now();

  try {
    if (!instance->child_->write_stdin_data(deadline)) {
      auto exit = instance->child_->wait_until(Clock::now() + std::chrono::milliseconds(250));
      throw Error(ErrorCode::start_failed,
                  exit ? exit->describe() + " before reading its configuration" : "did not read its configuration");
    }
    std::string reported = instance->await_handshake(spec, deadline);
    instance->client_ = std::make_unique<PluginClient>(unix_socket, reported, token, spec.connections);
    instance->await_health(spec, deadline);
  } catch (const Error& e) {
    // Failed before its handshake was read (its configuration could not be
    // written): what it prints on stdout is log, as after a handshake.
    instance->child_->give_up_first_line();
    auto exit = instance->child_->exit_status();
    if (exit && exit->clean() && instance->child_->first_line_seen()) {
      throw IdleDuringStart{"exited on its idle timeout (" + protocol::format_duration(settings.idle_timeout) +
                            ") before the launch completed"};
    }
    instance->kill();
    std::string tail = instance->child_->stderr_tail();
    throw Error(ErrorCode::start_failed, e.what() + (tail.empty() ? std::string() : "; its stderr: " + tail));
  } catch (...) {  // out of memory, a system error: the launch is over all the same
    instance->child_->give_up_first_line();
    instance->kill();
    throw;
  }
  return instance;
}

std::string PluginInstance::await_handshake(const LaunchSpec& spec, Clock::time_point deadline) {
  auto line = child_->wait_first_line(deadline);
  if (!line) {
    if (auto exit = child_->exit_status()) throw Error(ErrorCode::start_failed, exit->describe() + " before the handshake");
    throw Error(ErrorCode::start_failed,
                "printed no handshake line within " + protocol::format_duration(spec.settings.start_timeout));
  }
  auto bad = [&](const std::string& why) {
    return Error(ErrorCode::start_failed,
                 "printed " + quote(*line) + " where the handshake line belongs (" + why +
                     "). The first line on stdout must be the handshake JSON; log to stderr instead");
  };
  Json doc = protocol::parse_json_or_discarded(*line);
  if (!doc.is_object()) throw bad("not a JSON object");
  auto version = doc.value("protocolVersion", Json());
  if (!version.is_number_integer() || version != protocol::version) throw bad("protocolVersion must be 1");
  const bool unix_socket = spec.transport == Transport::unix_socket;
  if (doc.value("type", Json()) != (unix_socket ? "unix" : "tcp")) {
    throw bad(std::string("type must be \"") + (unix_socket ? "unix" : "tcp") + "\" as the configuration said");
  }
  auto address = doc.value("address", Json());
  if (!address.is_string()) throw bad("address must be a string");
  std::string reported = address.get<std::string>();
  if (unix_socket && reported != spec.socket_path.string()) throw bad("address must be the configured socket path");
  if (!unix_socket) {
    auto parsed = wire::parse_plugin_tcp_address(reported, /*any_port=*/false);
    if (!parsed) throw bad("address " + parsed.problem + ": the plugin must report the port it bound, 127.0.0.1:PORT");
  }
  return reported;
}

void PluginInstance::await_health(const LaunchSpec& spec, Clock::time_point deadline) {
  std::string last = "no answer";
  auto pause = std::chrono::milliseconds(1);
  while (true) {
    if (auto exit = child_->exit_status()) {
      throw Error(ErrorCode::start_failed, exit->describe() + " before /healthz answered");
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    auto answer = client_->health(std::min(left, std::chrono::milliseconds(1000)));
    if (answer.ok()) return;
    if (answer.reply) last = "HTTP " + std::to_string(answer.reply->status) + " " + quote(answer.reply->body);
    if (answer.definitive_failure()) {
      // Asking again until the timeout would get the same answer.
      throw Error(ErrorCode::start_failed,
                  "/healthz answered " + (answer.malformed.empty() ? last : answer.malformed) +
                      ", a refusal that asking again will not change: the plugin's /healthz must answer 200 "
                      "to a GET without a token (docs/protocol.md section 8)");
    }
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
  throw Error(ErrorCode::start_failed, "/healthz did not answer 200 within " +
                                           protocol::format_duration(spec.settings.start_timeout) + " (last: " + last +
                                           ")");
}

void PluginInstance::kill() {
  asked_to_stop = true;
  child_->close_stdin();
  child_->signal(SIGKILL);
  child_->wait_until(Clock::now() + kill_wait);
}

std::optional<ExitStatus> PluginInstance::stop(std::chrono::milliseconds grace, std::chrono::milliseconds term_grace,
                                               const std::shared_ptr<spdlog::logger>& logger) {
  asked_to_stop = true;
  if (client_) {
    try {
      client_->post("/shutdown", Payload{Encoding::none, "{}"},
                    protocol::deadline_after(std::min(grace, std::chrono::milliseconds(1000))));
    } catch (const TransportError&) {
      // Already going; the signals below make sure.
    }
    client_->close_idle();
  }
  child_->close_stdin();
  auto exit = child_->wait_until(protocol::deadline_after(grace));
  if (!exit) {
    logger->warn("did not exit within {} of being asked; sending SIGTERM", protocol::format_duration(grace));
    child_->signal(SIGTERM);
    exit = child_->wait_until(protocol::deadline_after(term_grace));
  }
  if (!exit) {
    logger->warn("ignored SIGTERM for {}; sending SIGKILL", protocol::format_duration(term_grace));
    child_->signal(SIGKILL);
    exit = child_->wait_until(Clock::now() + kill_wait);
  }
  return exit;
}

}  // namespace plugvisor::detail
