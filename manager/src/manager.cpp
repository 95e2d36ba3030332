#include "plugvisor/manager.hpp"

#include <malloc.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "discovery/capabilities.hpp"
#include "discovery/discovery.hpp"
#include "process/integrity.hpp"
#include "plugvisor/detail/json_schema.hpp"
#include "transport/plugin_channel.hpp"
#include "process/process_reactor.hpp"
#include "process/runtime_dir.hpp"
#include "sandbox/sandbox.hpp"
#include "supervision/scheduler.hpp"
#include "supervision/supervised_plugin.hpp"
#include "transport/transport.hpp"
#include "signing/signature_file.hpp"

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

namespace {

// What identifies an executable's contents cheaply: a replaced or rebuilt
// file differs in one of these.
struct FileIdentity {
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};

// ManagerOptions::ignore_sigpipe, for hosts that ask: the manager itself
// never raises SIGPIPE (MSG_NOSIGNAL on sockets, SIGPIPE blocked around
// writes to a plugin's stdin). A host with its own handler keeps it.
void ignore_sigpipe_if_default() {
  struct sigaction current {};
  if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL &&
      !(current.sa_flags & SA_SIGINFO)) {
    ::signal(SIGPIPE, SIG_IGN);
  }
}

// ManagerOptions::tune_malloc, for hosts that ask (docs/embedding.md, "The
// host's process"). Keeps call bodies' memory in the heap between calls:
// with glibc's defaults every body of 128 KiB or more gets a fresh mmap, and
// freed memory goes back to the kernel, so each call page-faults its buffers
// in again. Left alone when GLIBC_TUNABLES sets malloc thresholds.
void keep_call_buffers_in_heap() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* tunables = std::getenv("GLIBC_TUNABLES");
    if (tunables && std::string_view(tunables).find("glibc.malloc.") != std::string_view::npos) return;
    ::mallopt(M_MMAP_THRESHOLD, 32 << 20);
    ::mallopt(M_TRIM_THRESHOLD, 128 << 20);
    ::mallopt(M_TOP_PAD, 16 << 20);
  });
}

FileIdentity identity_of(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {st.st_dev, st.st_ino, st.st_size,
          static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
}

}  // namespace

struct Manager::Impl {
  // One registered plugin and what it was registered from.
  struct Entry {
    std::shared_ptr<detail::SupervisedPlugin> plugin;
    FileIdentity identity;
  };

  ManagerOptions options;  // guarded by reload_mutex after construction
  std::shared_ptr<const detail::TrustedKeys> trusted_keys;  // options.trusted_keys, loaded; as options
  std::shared_ptr<spdlog::logger> logger;
  detail::RuntimeDir runtime;
  detail::ProcessReactor reactor;  // destroyed before `runtime`: children die first
  detail::Scheduler scheduler;     // destroyed first: no relaunch after the reactor is gone
  Registry registry;
  mutable std::mutex plugins_mutex;  // plugins, rejections, closed
  std::vector<Entry> plugins;
  // plugins by id, rebuilt with it: the broker looks a provider up on every call.
  std::unordered_map<std::string, std::shared_ptr<detail::SupervisedPlugin>> plugin_by_id;
  std::vector<Rejection> rejections;
  bool closed = false;
  std::mutex reload_mutex;  // one load, reload or shutdown at a time
  std::size_t next_index = 0;
  std::mutex listeners_mutex;
  std::vector<StateListener> listeners;
  std::once_flag shutdown_once;

  explicit Impl(ManagerOptions o)
      : options(std::move(o)),
        logger(options.logger ? options.logger : spdlog::default_logger()),
        runtime(options.runtime_parent) {
    trusted_keys = detail::load_trusted_keys(options.trusted_keys);  // a bad key file: Error(config)
    if (options.ignore_sigpipe) ignore_sigpipe_if_default();
    if (options.tune_malloc) keep_call_buffers_in_heap();
  }

  // The policy of the directory `path` was found in, and the keys.
  static detail::SignatureCheck signature_check_for(const ManagerOptions& with,
                                                    std::shared_ptr<const detail::TrustedKeys> keys,
                                                    const std::filesystem::path& path) {
    auto normal = [](const std::filesystem::path& dir) {
      auto out = std::filesystem::absolute(dir).lexically_normal();
      return out.has_filename() ? out : out.parent_path();
    };
    detail::SignatureCheck check{std::move(keys), SignaturePolicy::optional};
    for (const auto& [dir, policy] : with.signature_policies) {
      if (normal(dir) == normal(path.parent_path())) check.policy = policy;
    }
    return check;
  }

  static std::vector<std::string> key_ids(const detail::TrustedKeys& keys) {
    std::vector<std::string> out;
    for (const auto& key : keys) out.push_back(key->id());
    return out;
  }

  static const PluginSettings& settings_in(const ManagerOptions& options, const std::string& id) {
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

  std::filesystem::path socket_path(const std::string& id) {
    auto path = runtime.path() / (id + ".sock");
    std::size_t index = next_index++;
    if (path.string().size() <= protocol::max_socket_path) return path;
    return runtime.path() / (std::to_string(index) + ".sock");  // keeps within sun_path
  }

  // runtime/ID/ID.sock (runtime/N/N.sock when that is too long for sun_path).
  std::filesystem::path socket_path_in_own_dir(const std::string& id) {
    auto path = runtime.path() / id / (id + ".sock");
    if (path.string().size() > protocol::max_socket_path) {
      std::string index = std::to_string(next_index++);
      path = runtime.path() / index / (index + ".sock");
    }
    std::error_code ec;
    std::filesystem::create_directory(path.parent_path(), ec);
    if (ec) throw Error(ErrorCode::start_failed, "cannot create " + path.parent_path().string() + ": " + ec.message());
    std::filesystem::permissions(path.parent_path(), std::filesystem::perms::owner_all, ec);
    return path;
  }

  // A plugin that runs as another user (the manager is root) owns its socket
  // directory; the runtime directory lets it pass (0711: no listing).
  void give_socket_dir(const std::filesystem::path& dir, const detail::RunAs& run_as) {
    if (::chown(dir.c_str(), run_as.uid, run_as.gid) != 0 || ::chmod(runtime.path().c_str(), 0711) != 0) {
      throw Error(ErrorCode::start_failed, "cannot hand its socket directory " + dir.string() + " to " + run_as.text +
                                               ": " + std::strerror(errno));
    }
  }

  // Probes `candidates` in parallel; nullopt and the reason for those that fail.
  std::vector<std::optional<detail::ProbeResult>> probe_all(const std::vector<detail::Candidate>& candidates,
                                                            const ManagerOptions& with,
                                                            const std::shared_ptr<const detail::TrustedKeys>& keys,
                                                            std::vector<std::string>& errors) {
    std::vector<std::optional<detail::ProbeResult>> probed(candidates.size());
    errors.assign(candidates.size(), {});
    parallel_for(candidates.size(), 8, [&](std::size_t i) {
      try {
        const auto& settings = settings_in(with, candidates[i].id);
        probed[i] = detail::probe_plugin(candidates[i].path, settings,
                                         signature_check_for(with, keys, candidates[i].path));
      } catch (const Error& e) {
        errors[i] = e.what();
      }
    });
    return probed;
  }

  void load() {
    std::lock_guard reload_lock(reload_mutex);
    auto found = detail::discover(options.plugin_dirs);
    std::vector<std::string> errors;
    auto probed = probe_all(found.candidates, options, trusted_keys, errors);
    std::vector<Entry> registered;
    for (std::size_t i = 0; i < found.candidates.size(); ++i) {
      const auto& candidate = found.candidates[i];
      if (!probed[i]) {
        logger->warn("plugin {} rejected: {}", candidate.id, errors[i]);
        found.rejections.push_back({candidate.path, errors[i]});
        continue;
      }
      try {
        registered.push_back(make_entry(candidate, std::move(*probed[i]), options, trusted_keys, nullptr));
      } catch (const Error& e) {
        logger->warn("plugin {} rejected: {}", candidate.id, e.what());
        found.rejections.push_back({candidate.path, e.what()});
      }
    }
    {
      std::lock_guard lock(plugins_mutex);
      plugins = registered;
      index_plugins();
      rejections = found.rejections;
    }
    for (const auto& entry : registered) publish(entry.plugin);
    logger->info("{} plugin(s) registered, {} rejected; sockets in {}", registered.size(), found.rejections.size(),
                 runtime.path().string());
    auto failures = start_eager(registered);
    for (const auto& [plugin, error] : failures) {
      if (plugin->definition().settings.required) throw Error(ErrorCode::start_failed, "required " + error);
      logger->warn("optional plugin skipped: {}", error);
    }
  }

  // Starts the enabled eager plugins among `entries` in parallel; returns those that failed, with the reason.
  std::vector<std::pair<std::shared_ptr<detail::SupervisedPlugin>, std::string>> start_eager(
      const std::vector<Entry>& entries) {
    std::vector<std::shared_ptr<detail::SupervisedPlugin>> eager;
    for (const auto& entry : entries) {
      const auto& settings = entry.plugin->definition().settings;
      if (settings.start == StartPolicy::eager && settings.enabled) eager.push_back(entry.plugin);
    }
    std::vector<std::string> errors(eager.size());
    parallel_for(eager.size(), 16, [&](std::size_t i) {
      try {
        eager[i]->start();
      } catch (const Error& e) {
        errors[i] = e.what();
      }
    });
    std::vector<std::pair<std::shared_ptr<detail::SupervisedPlugin>, std::string>> failed;
    for (std::size_t i = 0; i < eager.size(); ++i) {
      if (!errors[i].empty()) failed.emplace_back(eager[i], errors[i]);
    }
    return failed;
  }

  ~Impl() { shutdown(); }

  // The config-type data a plugin receives at launch. Throws Error(config)
  // for data that breaks the schema the plugin declares for it: a bad
  // configuration never reaches the plugin.
  static Json config_types_for(const Capabilities& capabilities, const ManagerOptions& with) {
    Json out = Json::array();
    for (const auto& name : capabilities.config_types) {
      if (auto it = with.config_types.find(name); it != with.config_types.end()) {
        if (auto schema = capabilities.config_schemas.find(name); schema != capabilities.config_schemas.end()) {
          auto violations = JsonSchema(schema->second).validate(it->second);
          if (!violations.empty()) {
            throw Error(ErrorCode::config, "the data of config type " + name + " breaks the schema the plugin declares: " +
                                               JsonSchema::describe(violations.front()) +
                                               "; fix configTypes." + name + " in the configuration");
          }
        }
        out.push_back({{"type", name}, {"data", it->second}});
      }
    }
    return out;
  }

  // config_types_for, or null when the data breaks its schema (never equal to a running plugin's).
  static Json config_types_or_null(const Capabilities& capabilities, const ManagerOptions& with) {
    try {
      return config_types_for(capabilities, with);
    } catch (const Error&) {
      return nullptr;
    }
  }

  Entry make_entry(const detail::Candidate& candidate, detail::ProbeResult probed, const ManagerOptions& with,
                   const std::shared_ptr<const detail::TrustedKeys>& keys,
                   std::shared_ptr<detail::PluginHistory> history) {
    Json config_types = config_types_for(probed.capabilities, with);
    const PluginSettings& settings = settings_in(with, candidate.id);
    Transport transport = detail::choose_transport(probed.capabilities.transports, settings.transport);
    detail::PluginDefinition definition{candidate.id, candidate.path, std::move(probed.capabilities), settings,
                                        transport,    std::move(config_types), probed.sha256, nullptr};
    detail::check_pin(candidate.path, definition.sha256, definition.settings.sha256);
    auto check = std::make_shared<const detail::SignatureCheck>(signature_check_for(with, keys, candidate.path));
    definition.signature = detail::check_signature(candidate.path, definition.sha256, *check);
    // Each launch checks again what a directory requires, or a signature that was there.
    if (check->policy == SignaturePolicy::required || definition.signature.state != SignatureState::unsigned_plugin) {
      definition.signature_check = check;
    }
    std::filesystem::path socket = socket_path(candidate.id);
    if (definition.settings.grant) {
      // Its own socket directory, the one place it may create files by default.
      socket = socket_path_in_own_dir(candidate.id);
      definition.sandbox = detail::plan_plugin_sandbox(definition.capabilities.permissions, definition.settings,
                                                       definition.transport, candidate.path, socket.parent_path());
      if (const auto& run_as = definition.sandbox->run_as) give_socket_dir(socket.parent_path(), *run_as);
    }
    auto plugin_logger = logger->clone(candidate.id);
    if (definition.sandbox) {
      for (const auto& m : definition.sandbox->mechanisms) {
        if (!m.enforced) plugin_logger->warn("sandbox: {} is not enforced ({}): {}", m.what, m.mechanism, m.note);
      }
    }
    auto plugin = std::make_shared<detail::SupervisedPlugin>(
        std::move(definition), socket,
        detail::PluginServices{reactor, scheduler, plugin_logger,
                               [this](const std::string& id, PluginState from, PluginState to) {
                                 notify(id, from, to);
                               }},
        std::move(history));
    if (!plugin->definition().settings.enabled) plugin->disable();
    return {std::move(plugin), identity_of(candidate.path)};
  }

  // Adds a plugin's types to the registry.
  void publish(const std::shared_ptr<detail::SupervisedPlugin>& plugin) {
    const auto& definition = plugin->definition();
    for (const auto& declared : definition.capabilities.types) {
      ProviderEntry entry{ProviderInfo{declared.contract, declared.type, definition.id, ProviderKind::external,
                                       definition.settings.priority, true, declared.json_schema},
                          nullptr, std::make_shared<detail::PluginChannel>(plugin, declared.contract, declared.type)};
      if (auto it = definition.capabilities.contracts.find(declared.contract);
          it != definition.capabilities.contracts.end()) {
        entry.description = it->second;
      }
      registry.add(std::move(entry));  // the registry makes the typed object from the host's declaration
    }
  }

  // Unregisters and stops `gone` in parallel; their logs end unless `keep_logs`.
  void retire(const std::vector<std::shared_ptr<detail::SupervisedPlugin>>& gone, bool keep_logs) {
    for (const auto& plugin : gone) registry.remove_provider(plugin->id());
    parallel_for(gone.size(), 64, [&](std::size_t i) {
      try {
        gone[i]->close();
      } catch (const std::exception& e) {
        logger->error("plugin {}: stop failed: {}", gone[i]->id(), e.what());
      }
      if (!keep_logs) gone[i]->history()->log.close();
    });
  }

  /// What a reload does, decided before anything changes.
  struct ReloadPlan {
    ReloadResult result;
    std::vector<Entry> kept_or_new;
    std::vector<std::shared_ptr<detail::SupervisedPlugin>> replaced, removed;
    std::vector<Entry> fresh;  // added or changed: to publish and maybe start
    std::shared_ptr<const detail::TrustedKeys> keys;  // the next trusted keys, loaded
  };

  /// Entries by id: a reload of n plugins looks each up once (a scan each was n²).
  using EntriesById = std::unordered_map<std::string, const Entry*>;

  static EntriesById by_id(const std::vector<Entry>& entries) {
    EntriesById index;
    for (const auto& entry : entries) index.emplace(entry.plugin->id(), &entry);
    return index;
  }

  static const Entry* find_entry(const EntriesById& entries, const std::string& id) {
    auto it = entries.find(id);
    return it == entries.end() ? nullptr : it->second;
  }

  /// Which candidates need a probe: new ones, and those whose file changed.
  std::vector<detail::Candidate> candidates_to_probe(const std::vector<detail::Candidate>& found,
                                                     const EntriesById& current) {
    std::vector<detail::Candidate> to_probe;
    for (const auto& candidate : found) {
      const Entry* old = find_entry(current, candidate.id);
      if (!old || old->plugin->definition().path != candidate.path || old->identity != identity_of(candidate.path)) {
        to_probe.push_back(candidate);
      }
    }
    return to_probe;
  }

  /// Compares what discovery found with what runs: kept, changed, added,
  /// removed. Probes new and changed files; adds rejections to `found`.
  ReloadPlan plan_reload(detail::Discovery& found, const std::vector<Entry>& current, const ManagerOptions& next,
                         std::shared_ptr<const detail::TrustedKeys> next_keys) {
    // Other keys or policies: every plugin's signature is checked again.
    const bool same_trust = key_ids(*next_keys) == key_ids(*trusted_keys) &&
                            next.signature_policies == options.signature_policies;
    const EntriesById current_by_id = by_id(current);
    std::vector<detail::Candidate> to_probe = candidates_to_probe(found.candidates, current_by_id);
    std::vector<std::string> errors;
    auto probed = probe_all(to_probe, next, next_keys, errors);
    std::unordered_map<std::string, std::size_t> probe_index;
    for (std::size_t i = 0; i < to_probe.size(); ++i) probe_index.emplace(to_probe[i].id, i);

    ReloadPlan plan;
    plan.keys = next_keys;
    std::set<std::string> present;
    for (const auto& candidate : found.candidates) {
      const Entry* old = find_entry(current_by_id, candidate.id);
      auto probe = probe_index.find(candidate.id);
      std::optional<detail::ProbeResult> capabilities;
      if (probe != probe_index.end()) {
        const std::size_t index = probe->second;
        if (!probed[index]) {
          logger->warn("plugin {} rejected: {}", candidate.id, errors[index]);
          found.rejections.push_back({candidate.path, errors[index]});
          continue;  // an old one of that id is removed below
        }
        capabilities = std::move(probed[index]);
      }
      if (old && !capabilities) {
        const auto& definition = old->plugin->definition();
        if (same_trust && definition.settings == settings_in(next, candidate.id) &&
            definition.config_types == config_types_or_null(definition.capabilities, next)) {
          present.insert(candidate.id);
          plan.kept_or_new.push_back(*old);
          plan.result.unchanged.push_back(candidate.id);
          continue;
        }
        capabilities = detail::ProbeResult{definition.capabilities, definition.sha256};
      }
      Entry entry;
      try {
        entry = make_entry(candidate, std::move(*capabilities), next, next_keys,
                           old ? old->plugin->history() : nullptr);
      } catch (const Error& e) {
        logger->warn("plugin {} rejected: {}", candidate.id, e.what());
        found.rejections.push_back({candidate.path, e.what()});
        continue;  // an old one of that id is removed below
      }
      present.insert(candidate.id);
      if (old) {
        plan.replaced.push_back(old->plugin);
        plan.result.changed.push_back(candidate.id);
      } else {
        plan.result.added.push_back(candidate.id);
      }
      plan.kept_or_new.push_back(entry);
      plan.fresh.push_back(std::move(entry));
    }
    for (const auto& entry : current) {
      if (!present.contains(entry.plugin->id())) {
        plan.removed.push_back(entry.plugin);
        plan.result.removed.push_back(entry.plugin->id());
      }
    }
    plan.result.rejected = found.rejections.size();
    return plan;
  }

  ReloadResult reload(ManagerOptions next) {
    std::lock_guard reload_lock(reload_mutex);
    std::vector<Entry> current;
    {
      std::lock_guard lock(plugins_mutex);
      if (closed) throw Error(ErrorCode::unavailable, "the manager has shut down; nothing to reload");
      current = plugins;
    }
    auto next_keys = detail::load_trusted_keys(next.trusted_keys);  // a bad key file: Error(config), nothing changed
    auto found = detail::discover(next.plugin_dirs);
    ReloadPlan plan = plan_reload(found, current, next, next_keys);

    // The old instances go first (their socket paths are reused), then the new ones appear.
    retire(plan.replaced, true);
    retire(plan.removed, false);
    {
      std::lock_guard lock(plugins_mutex);
      plugins = plan.kept_or_new;
      index_plugins();
      rejections = found.rejections;
    }
    for (const auto& entry : plan.fresh) publish(entry.plugin);
    next.logger = options.logger;
    next.runtime_parent = options.runtime_parent;
    options = std::move(next);
    const ReloadResult& result = plan.result;
    trusted_keys = plan.keys;
    logger->info("reloaded: {} added, {} removed, {} changed, {} unchanged, {} rejected", result.added.size(),
                 result.removed.size(), result.changed.size(), result.unchanged.size(), result.rejected);
    for (const auto& [plugin, error] : start_eager(plan.fresh)) logger->warn("after the reload: {}", error);
    return plan.result;
  }

  // With plugins_mutex held.
  void index_plugins() {
    plugin_by_id.clear();
    for (const auto& entry : plugins) plugin_by_id.emplace(entry.plugin->id(), entry.plugin);
  }

  std::shared_ptr<detail::SupervisedPlugin> find(const std::string& id) const {
    std::lock_guard lock(plugins_mutex);
    if (auto it = plugin_by_id.find(id); it != plugin_by_id.end()) return it->second;
    throw Error(ErrorCode::not_found, "no plugin named " + id + " is registered (see `plugvisor list`)");
  }

  std::vector<std::shared_ptr<detail::SupervisedPlugin>> all() const {
    std::lock_guard lock(plugins_mutex);
    std::vector<std::shared_ptr<detail::SupervisedPlugin>> out;
    for (const auto& entry : plugins) out.push_back(entry.plugin);
    return out;
  }

  void shutdown() {
    std::call_once(shutdown_once, [this] {
      {
        std::lock_guard lock(plugins_mutex);
        closed = true;
      }
      std::lock_guard reload_lock(reload_mutex);  // waits for a reload under way
      retire(all(), false);
    });
  }
};

Manager::Manager(ManagerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) { impl_->load(); }

Manager::~Manager() { impl_->shutdown(); }

Registry& Manager::registry() noexcept { return impl_->registry; }

std::optional<ContractDescription> describe_contract(const Capabilities& capabilities, std::string_view contract,
                                                     const ContractInfo* declared) {
  if (auto it = capabilities.contracts.find(std::string(contract)); it != capabilities.contracts.end()) return it->second;
  if (!declared) declared = find_builtin_contract(contract);
  if (declared) return declared->description;
  return std::nullopt;
}

std::optional<ContractDescription> Manager::describe(std::string_view contract, std::string_view type) const {
  auto info = impl_->registry.active(contract, type);
  if (!info) {
    impl_->registry.channel(contract, type);  // throws not_found with the known types
    throw Error(ErrorCode::not_found, "no provider of " + std::string(contract) + " type '" + std::string(type) + "'");
  }
  const ContractInfo* declared = impl_->registry.declared(contract);
  if (info->kind == ProviderKind::internal) return declared ? std::optional(declared->description) : std::nullopt;
  return describe_contract(impl_->find(info->provider)->definition().capabilities, contract, declared);
}

namespace {

// The registry's providers grouped by plugin id: with_fits then looks at a
// plugin's own (listing n plugins against all providers each was n²).
std::unordered_map<std::string_view, std::vector<const ProviderInfo*>> by_provider(
    const std::vector<ProviderInfo>& providers) {
  std::unordered_map<std::string_view, std::vector<const ProviderInfo*>> out;
  for (const auto& info : providers) out[info.provider].push_back(&info);
  return out;
}

// A plugin's status with how its contracts fit the host's declarations.
PluginStatus with_fits(PluginStatus status, const std::vector<const ProviderInfo*>& own) {
  for (const ProviderInfo* provider : own) {
    const ProviderInfo& info = *provider;
    bool seen = std::any_of(status.contracts.begin(), status.contracts.end(),
                            [&](const ContractFit& fit) { return fit.contract == info.contract; });
    if (!seen) status.contracts.push_back({info.contract, info.version, info.declared, info.compatibility});
  }
  return status;
}

}  // namespace

std::vector<PluginStatus> Manager::plugins() const {
  std::vector<PluginStatus> out;
  auto providers = impl_->registry.list();
  auto grouped = by_provider(providers);
  static const std::vector<const ProviderInfo*> none;
  for (const auto& plugin : impl_->all()) {
    auto it = grouped.find(plugin->id());
    out.push_back(with_fits(plugin->status(), it == grouped.end() ? none : it->second));
  }
  return out;
}

std::optional<PluginStatus> Manager::plugin(const std::string& id) const {
  std::shared_ptr<detail::SupervisedPlugin> plugin;
  {
    std::lock_guard lock(impl_->plugins_mutex);
    auto it = impl_->plugin_by_id.find(id);
    if (it == impl_->plugin_by_id.end()) return std::nullopt;
    plugin = it->second;
  }
  auto providers = impl_->registry.list();
  std::vector<const ProviderInfo*> own;
  for (const auto& info : providers) {
    if (info.provider == id) own.push_back(&info);
  }
  return with_fits(plugin->status(), own);
}

std::vector<Rejection> Manager::rejections() const {
  std::lock_guard lock(impl_->plugins_mutex);
  return impl_->rejections;
}

std::vector<LogLine> Manager::logs(const std::string& id, std::uint64_t after, std::size_t limit) const {
  return impl_->find(id)->history()->log.since(after, limit);
}

std::vector<LogLine> Manager::wait_logs(const std::string& id, std::uint64_t after,
                                        std::chrono::milliseconds timeout) const {
  auto history = impl_->find(id)->history();
  return history->log.wait_since(after, detail::LogRing::capacity, timeout);
}

ReloadResult Manager::reload(ManagerOptions options) { return impl_->reload(std::move(options)); }

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
