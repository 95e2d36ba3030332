#include "plugvisor/manager.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "discovery.hpp"
#include "plugin_channel.hpp"
#include "process_reactor.hpp"
#include "runtime_dir.hpp"
#include "scheduler.hpp"
#include "supervised_plugin.hpp"

namespace plugvisor {

namespace {

// Runs fn(i) for i in [0, count) on up to `width` threads.
template <class Fn>
void parallel_for(std::size_t count, std::size_t width, Fn fn) {
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < std::min(count, width); ++t) {
    threads.emplace_back([&] {
      for (std::size_t i = next++; i < count; i = next++) fn(i);
    });
  }
  for (auto& thread : threads) thread.join();
}

}  // namespace

std::string_view to_string(PluginState state) noexcept {
  switch (state) {
    case PluginState::registered: return "registered";
    case PluginState::starting: return "starting";
    case PluginState::ready: return "ready";
    case PluginState::idle: return "idle";
    case PluginState::stopping: return "stopping";
    case PluginState::stopped: return "stopped";
    case PluginState::crashed: return "crashed";
    case PluginState::failed: return "failed";
    case PluginState::disabled: return "disabled";
  }
  return "unknown";
}

struct Manager::Impl {
  ManagerOptions options;
  std::shared_ptr<spdlog::logger> logger;
  detail::RuntimeDir runtime;
  detail::ProcessReactor reactor;  // destroyed before `runtime`: children die first
  detail::Scheduler scheduler;     // destroyed first: no relaunch after the reactor is gone
  Registry registry;
  std::vector<std::shared_ptr<detail::SupervisedPlugin>> plugins;
  std::vector<Rejection> rejections;
  std::mutex listeners_mutex;
  std::vector<StateListener> listeners;
  std::once_flag shutdown_once;

  explicit Impl(ManagerOptions o)
      : options(std::move(o)),
        logger(options.logger ? options.logger : spdlog::default_logger()),
        runtime(options.runtime_parent) {}

  const PluginSettings& settings_for(const std::string& id) const {
    auto it = options.per_plugin.find(id);
    return it == options.per_plugin.end() ? options.defaults : it->second;
  }

  void notify(const std::string& id, PluginState from, PluginState to) {
    std::vector<StateListener> copy;
    {
      std::lock_guard lock(listeners_mutex);
      copy = listeners;
    }
    for (auto& listener : copy) {
      try {
        listener(id, from, to);
      } catch (const std::exception& e) {
        logger->error("a state listener threw: {}", e.what());
      } catch (...) {
        logger->error("a state listener threw");
      }
    }
  }

  std::filesystem::path socket_path(const std::string& id, std::size_t index) const {
    auto path = runtime.path() / (id + ".sock");
    if (path.string().size() <= protocol::max_socket_path) return path;
    return runtime.path() / (std::to_string(index) + ".sock");  // keeps within sun_path
  }

  void load() {
    auto found = detail::discover(options.plugin_dirs);
    rejections = found.rejections;
    const auto& candidates = found.candidates;
    std::vector<std::optional<Capabilities>> probed(candidates.size());
    std::vector<std::string> errors(candidates.size());
    parallel_for(candidates.size(), 8, [&](std::size_t i) {
      try {
        const auto& settings = settings_for(candidates[i].id);
        probed[i] = probe_capabilities(candidates[i].path, settings.capabilities_timeout, settings.env);
      } catch (const Error& e) {
        errors[i] = e.what();
      }
    });
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      const auto& candidate = candidates[i];
      if (!probed[i]) {
        logger->warn("plugin {} rejected: {}", candidate.id, errors[i]);
        rejections.push_back({candidate.path, errors[i]});
        continue;
      }
      register_plugin(candidate, std::move(*probed[i]), i);
    }
    logger->info("{} plugin(s) registered, {} rejected; sockets in {}", plugins.size(), rejections.size(),
                 runtime.path().string());
    start_eager();
  }

  // Starts the eager plugins in parallel. A required one that fails makes
  // the whole start-up fail (the constructor throws); others are reported.
  void start_eager() {
    std::vector<std::shared_ptr<detail::SupervisedPlugin>> eager;
    for (const auto& plugin : plugins) {
      if (plugin->definition().settings.start == StartPolicy::eager) eager.push_back(plugin);
    }
    std::vector<std::string> errors(eager.size());
    parallel_for(eager.size(), 16, [&](std::size_t i) {
      try {
        eager[i]->start();
      } catch (const Error& e) {
        errors[i] = e.what();
      }
    });
    for (std::size_t i = 0; i < eager.size(); ++i) {
      if (errors[i].empty()) continue;
      if (eager[i]->definition().settings.required) {
        throw Error(ErrorCode::start_failed, "required " + errors[i]);
      }
      logger->warn("optional plugin skipped: {}", errors[i]);
    }
  }

  ~Impl() { shutdown(); }

  void register_plugin(const detail::Candidate& candidate, Capabilities capabilities, std::size_t index) {
    detail::PluginDefinition definition{candidate.id, candidate.path, std::move(capabilities),
                                        settings_for(candidate.id), Json::array()};
    for (const auto& name : definition.capabilities.config_types) {
      if (auto it = options.config_types.find(name); it != options.config_types.end()) {
        definition.config_types.push_back({{"type", name}, {"data", it->second}});
      }
    }
    auto plugin_logger = logger->clone(candidate.id);
    auto plugin = std::make_shared<detail::SupervisedPlugin>(
        std::move(definition), socket_path(candidate.id, index),
        detail::PluginServices{reactor, scheduler, plugin_logger,
                               [this](const std::string& id, PluginState from, PluginState to) {
                                 notify(id, from, to);
                               }});
    for (const auto& declared : plugin->definition().capabilities.types) {
      auto channel = std::make_shared<detail::PluginChannel>(plugin, declared.contract, declared.type);
      const ContractInfo* contract = find_contract(declared.contract);
      ProviderEntry entry{ProviderInfo{declared.contract, declared.type, candidate.id, ProviderKind::external, 0,
                                       true, declared.json_schema},
                          contract ? contract->make_remote(channel) : nullptr, channel};
      registry.add(std::move(entry));
    }
    plugins.push_back(std::move(plugin));
  }

  std::shared_ptr<detail::SupervisedPlugin> find(const std::string& id) const {
    for (const auto& plugin : plugins) {
      if (plugin->id() == id) return plugin;
    }
    throw Error(ErrorCode::not_found, "no plugin named " + id + " is registered (see `plugvisor list`)");
  }

  void shutdown() {
    std::call_once(shutdown_once, [this] {
      parallel_for(plugins.size(), 64, [&](std::size_t i) {
        try {
          plugins[i]->close();
        } catch (const std::exception& e) {
          logger->error("plugin {}: stop failed: {}", plugins[i]->id(), e.what());
        }
      });
      for (const auto& plugin : plugins) registry.remove_provider(plugin->id());
    });
  }
};

Manager::Manager(ManagerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) { impl_->load(); }

Manager::~Manager() { impl_->shutdown(); }

Registry& Manager::registry() noexcept { return impl_->registry; }

std::vector<PluginStatus> Manager::plugins() const {
  std::vector<PluginStatus> out;
  for (const auto& plugin : impl_->plugins) out.push_back(plugin->status());
  return out;
}

std::optional<PluginStatus> Manager::plugin(const std::string& id) const {
  for (const auto& plugin : impl_->plugins) {
    if (plugin->id() == id) return plugin->status();
  }
  return std::nullopt;
}

std::vector<Rejection> Manager::rejections() const { return impl_->rejections; }

void Manager::start(const std::string& id) { impl_->find(id)->start(); }

void Manager::stop(const std::string& id) { impl_->find(id)->stop(); }

void Manager::restart(const std::string& id) { impl_->find(id)->restart(); }

void Manager::disable(const std::string& id) { impl_->find(id)->disable(); }

void Manager::enable(const std::string& id) { impl_->find(id)->enable(); }

void Manager::on_state_change(StateListener listener) {
  std::lock_guard lock(impl_->listeners_mutex);
  impl_->listeners.push_back(std::move(listener));
}

const std::filesystem::path& Manager::runtime_dir() const noexcept { return impl_->runtime.path(); }

void Manager::shutdown() { impl_->shutdown(); }

}  // namespace plugvisor
