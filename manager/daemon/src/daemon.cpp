#include "plugvisor/daemon.hpp"

#include <unistd.h>

#include <chrono>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "admin_api.hpp"
#include "admin_lock.hpp"
#include "admin_server.hpp"
#include "daemon_process.hpp"
#include "socket_file.hpp"
#include "status_json.hpp"

namespace plugvisor {

namespace {

// The configuration: the file (or the -d directories alone), with the -d
// directories searched first.
Configuration load(const DaemonOptions& options) {
  for (const auto& dir : options.plugin_dirs) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
      throw Error(ErrorCode::config, "plugin directory " + dir.string() + " (from -d) does not exist or is not a directory");
    }
  }
  std::vector<std::filesystem::path> dirs;
  for (const auto& dir : options.plugin_dirs) dirs.push_back(std::filesystem::absolute(dir).lexically_normal());
  Configuration config;
  if (!options.config_file.empty()) {
    config = load_configuration(options.config_file, options.environment);
  } else {
    if (dirs.empty() && !options.environment.contains("PLUGVISOR_PLUGIN_DIRS")) {
      throw Error(ErrorCode::config,
                  "nothing to serve: give a configuration file (--config FILE) or plugin directories (-d DIR)");
    }
    Json text = Json::object();
    if (!dirs.empty()) {
      text["pluginDirs"] = Json::array();
      for (const auto& dir : dirs) text["pluginDirs"].push_back(dir.string());
    }
    config = parse_configuration(text.dump(), "(command line)", std::filesystem::current_path(), options.environment);
  }
  auto& plugin_dirs = config.manager.plugin_dirs;
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    if (std::find(plugin_dirs.begin(), plugin_dirs.end(), *it) == plugin_dirs.end()) {
      plugin_dirs.insert(plugin_dirs.begin(), *it);
    }
  }
  config.manager.logger = options.logger;
  // The daemon sets its process's signal and allocator state itself, in one
  // place (own_daemon_process): its manager leaves them alone.
  config.manager.ignore_sigpipe = false;
  config.manager.tune_malloc = false;
  return config;
}

}  // namespace

struct Daemon::Impl {
  DaemonOptions options;
  std::shared_ptr<spdlog::logger> logger;
  Configuration config;  // guarded by reload_mutex
  std::mutex reload_mutex;
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
  std::atomic<std::uint64_t> reloads_ok{0}, reloads_failed{0};
  std::string last_reload_error;  // guarded by reload_mutex
  std::atomic<bool> stopping{false};
  // Destroyed in reverse: the API stops, then the plugins, then the lock goes.
  std::unique_ptr<detail::AdminLock> lock;
  std::unique_ptr<detail::AdminServer> server;
  std::unique_ptr<Manager> manager;
  std::unique_ptr<detail::AdminBackend> backend;

  Json daemon_info() {
    std::lock_guard guard(reload_mutex);
    Json dirs = Json::array();
    for (const auto& dir : config.manager.plugin_dirs) dirs.push_back(dir.string());
    return {{"version", PLUGVISOR_VERSION},
            {"pid", ::getpid()},
            {"startedAt", detail::rfc3339(started)},
            {"uptimeSeconds", std::chrono::duration<double>(std::chrono::system_clock::now() - started).count()},
            {"config", config.source.empty() ? Json(nullptr) : Json(config.source.string())},
            {"adminSocket", config.admin.socket.string()},
            {"tcp", server->tcp_bound().empty() ? Json(nullptr) : Json(server->tcp_bound())},
            {"pluginDirs", std::move(dirs)},
            {"reloads", reloads_ok.load()},
            {"lastReloadError", last_reload_error}};
  }

  ReloadResult reload(std::vector<std::string>& needs_restart) {
    std::lock_guard guard(reload_mutex);
    Configuration next;
    try {
      next = load(options);
    } catch (const Error& e) {
      ++reloads_failed;
      last_reload_error = e.what();
      logger->error("reload refused, the running configuration stays: {}", e.what());
      throw;
    } catch (const Json::exception& e) {
      // The loader turns JSON errors into Error(config) with their position;
      // should one still get through, it is a refused file all the same.
      ++reloads_failed;
      last_reload_error = std::string("invalid configuration: ") + e.what();
      logger->error("reload refused, the running configuration stays: {}", last_reload_error);
      throw Error(ErrorCode::config, last_reload_error);
    }
    if (next.admin.socket != config.admin.socket) needs_restart.push_back("admin.socket");
    if (next.admin.tcp_address != config.admin.tcp_address) needs_restart.push_back("admin.tcp");
    if (next.admin.token != config.admin.token) needs_restart.push_back("admin.token");
    if (next.manager.runtime_parent != config.manager.runtime_parent) needs_restart.push_back("runtimeDir");
    for (const auto& key : needs_restart) logger->warn("reload: {} changed; it takes effect when the daemon restarts", key);
    ReloadResult result = manager->reload(next.manager);
    next.admin = config.admin;  // what still runs
    next.manager.runtime_parent = config.manager.runtime_parent;
    config = std::move(next);
    ++reloads_ok;
    last_reload_error.clear();
    return result;
  }
};

Daemon::Daemon(DaemonOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->logger = impl_->options.logger ? impl_->options.logger : spdlog::default_logger();
  impl_->options.logger = impl_->logger;
  impl_->config = load(impl_->options);
  const AdminOptions& admin = impl_->config.admin;
  detail::check_socket_directory(admin.socket.parent_path(), is_private_default_socket(admin.socket));
  impl_->lock = std::make_unique<detail::AdminLock>(admin.socket);
  impl_->server = std::make_unique<detail::AdminServer>(admin.socket, admin.tcp_address, admin.token);
  detail::own_daemon_process(impl_->options.return_freed_memory);
  impl_->manager = std::make_unique<Manager>(impl_->config.manager);
  impl_->backend.reset(new detail::AdminBackend{
      *impl_->manager, [this] { return impl_->daemon_info(); },
      [this] {
        std::vector<std::string> needs_restart;
        Json out = to_json(impl_->reload(needs_restart));
        out["needsRestart"] = needs_restart;
        return out;
      },
      [this] {
        return detail::DaemonFigures{impl_->manager->rejections().size(), impl_->reloads_ok.load(),
                                     impl_->reloads_failed.load(), impl_->started};
      },
      impl_->stopping});
  impl_->server->start(*impl_->backend);
  impl_->logger->info("serving the admin API on {}{}", admin.socket.string(),
                      impl_->server->tcp_bound().empty() ? "" : " and http://" + impl_->server->tcp_bound() + "/");
}

Daemon::~Daemon() {
  impl_->stopping = true;
  // A follow stream ends with its last chunk only while the server runs:
  // stopping the listeners first would cut it off. Each stream looks at
  // `stopping` at least every 250 ms.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (impl_->backend->open_streams > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  impl_->server->stop();
  impl_->manager->shutdown();
}

ReloadResult Daemon::reload() {
  std::vector<std::string> needs_restart;
  return impl_->reload(needs_restart);
}

const std::filesystem::path& Daemon::admin_socket() const noexcept { return impl_->config.admin.socket; }

const std::string& Daemon::admin_tcp() const noexcept { return impl_->server->tcp_bound(); }

Manager& Daemon::manager() noexcept { return *impl_->manager; }

Json to_json(const ReloadResult& result) {
  return {{"added", result.added},
          {"removed", result.removed},
          {"changed", result.changed},
          {"unchanged", result.unchanged},
          {"rejected", result.rejected},
          {"needsRestart", Json::array()}};
}

}  // namespace plugvisor
