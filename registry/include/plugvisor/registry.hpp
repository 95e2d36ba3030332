// plugvisor registry: every provider of every contract, in-process (internal)
// and plugin-backed (external) side by side, keyed by (contract, type).
//
// Conflict rule: for one (contract, type), an internal provider wins over an
// external one; among external providers the higher priority wins, and among
// equal priorities the one registered first (the manager registers plugins in
// discovery order: directories in the order given, files by name). Providers
// that lose stay listed (active = false) and take over if the winner is removed.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "plugvisor/contracts.hpp"

namespace plugvisor {

/// Where a provider's implementation runs.
enum class ProviderKind { internal, external };

/// What the registry knows of one provider, for inspection.
struct ProviderInfo {
  std::string contract;
  std::string type;
  /// The plugin id for external providers; "internal" for in-process ones.
  std::string provider;
  ProviderKind kind = ProviderKind::internal;
  int priority = 0;
  /// False when another provider of the same (contract, type) wins.
  bool active = true;
  /// The type's JSON schema as the plugin declared it (null if none).
  Json json_schema;
};

/// A provider as registered: its description, the typed object (a
/// shared_ptr<C> type-erased, null if this build does not know the contract),
/// and a channel for calls by method name.
struct ProviderEntry {
  ProviderInfo info;
  std::shared_ptr<void> object;
  std::shared_ptr<Channel> channel;
};

/// A provider of contract C, as returned by Registry::all<C>().
template <class C>
struct Provided {
  std::string type;
  std::string provider;
  std::shared_ptr<C> object;
};

/// The thread-safe registry. Registration takes an exclusive lock and
/// publishes an immutable index of the active providers. get(), find() and
/// channel() take no lock: each thread keeps the index it last saw and checks
/// one atomic stamp to tell whether it is still current. Objects handed out
/// stay valid after their provider is removed: they keep calling that
/// provider (a plugin's wrapper fails with Error(unavailable) once its
/// manager has shut down). The index holds weak references only, so a removed
/// provider is released as soon as no caller holds it.
class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  /// Registers an in-process implementation of C under `type`. Throws
  /// Error(conflict) if an internal provider already has that (contract, type),
  /// Error(config) if `type` is not a valid name.
  template <class C>
  void add_internal(const std::string& type, std::shared_ptr<C> impl) {
    std::shared_ptr<void> object = impl;
    ProviderEntry entry{
        ProviderInfo{std::string(ContractTraits<C>::name), type, "internal", ProviderKind::internal, 0, true, nullptr},
        object, std::make_shared<LocalChannel<C>>(std::move(impl))};
    add(std::move(entry));
  }

  /// Registers a provider of any kind (the manager's entry point).
  /// Same errors as add_internal.
  void add(ProviderEntry entry);

  /// Removes every provider registered by `provider`; returns how many.
  std::size_t remove_provider(std::string_view provider);

  /// The active provider of C under `type`. Throws Error(not_found) naming
  /// the types that do exist.
  template <class C>
  std::shared_ptr<C> get(std::string_view type) const {
    return std::static_pointer_cast<C>(get_object(ContractTraits<C>::name, type));
  }

  /// The active provider of C under `type`, or nullptr.
  template <class C>
  std::shared_ptr<C> find(std::string_view type) const {
    return std::static_pointer_cast<C>(find_object(ContractTraits<C>::name, type));
  }

  /// Every active provider of C, ordered by type name.
  template <class C>
  std::vector<Provided<C>> all() const {
    std::vector<Provided<C>> out;
    for (auto& entry : active_entries(ContractTraits<C>::name)) {
      if (entry.object) {
        out.push_back(Provided<C>{entry.info.type, entry.info.provider,
                                  std::static_pointer_cast<C>(entry.object)});
      }
    }
    return out;
  }

  /// The channel of the active provider of (contract, type), for calls by
  /// method name. Throws Error(not_found).
  std::shared_ptr<Channel> channel(std::string_view contract, std::string_view type) const;

  /// Every provider, active or not, ordered by contract, type, then rank.
  std::vector<ProviderInfo> list() const;

 private:
  struct Ranked {
    ProviderEntry entry;
    std::uint64_t sequence;
  };
  struct KeyView {
    std::string_view contract;
    std::string_view type;
    auto operator<=>(const KeyView&) const = default;
  };
  struct Key {
    std::string contract;
    std::string type;
    operator KeyView() const { return {contract, type}; }
  };
  struct KeyLess {
    using is_transparent = void;
    bool operator()(KeyView a, KeyView b) const { return a < b; }
  };
  // The providers of one (contract, type), best first: slot.front() is active.
  using Slots = std::map<Key, std::vector<Ranked>, KeyLess>;
  // The active providers, hashed by (contract, type); immutable once
  // published (defined in registry.cpp).
  struct Index;

  // With mutex_ held exclusively: publishes a new index of slots_.
  void publish_locked();
  // The current index as this thread cached it, refreshed if stale. Valid
  // until this thread's next lookup in any registry.
  const Index& current_index() const;

  std::shared_ptr<void> get_object(std::string_view contract, std::string_view type) const;
  std::shared_ptr<void> find_object(std::string_view contract, std::string_view type) const;
  std::vector<ProviderEntry> active_entries(std::string_view contract) const;
  [[noreturn]] void throw_not_found(std::string_view contract, std::string_view type) const;

  mutable std::shared_mutex mutex_;
  Slots slots_;                         // guarded by mutex_
  std::uint64_t next_sequence_ = 0;     // guarded by mutex_
  std::shared_ptr<const Index> index_;  // guarded by mutex_; replaced, never changed
  // Identifies index_ among every index of every registry of the process
  // (taken from one process-wide counter): a thread's cached index is
  // current if and only if its stamp equals this.
  std::atomic<std::uint64_t> stamp_{0};
};

}  // namespace plugvisor
