// plugvisor registry: every provider of every contract, in-process (internal)
// and plugin-backed (external) side by side, keyed by (contract, type).
//
// Conflict rule: for one (contract, type), an internal provider wins over an
// external one; among external providers the higher priority wins, and among
// equal priorities the one registered first (the manager registers plugins in
// discovery order: directories in the order given, files by name). Providers
// that lose stay listed (active = false) and take over if the winner is removed.
// A provider incompatible with the host's declaration of its contract (another
// version, other encodings) is listed but never active.
//
// Contracts: the registry holds the host's catalog of declared contracts
// (the built-in ones, every contract the host declares with declare<C>(), and
// any C a get<C>/find<C>/all<C> names). Providers of a declared contract get
// a typed object; providers of other contracts are reached by name only
// (channel()), until the host declares theirs.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <memory>
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
  /// The contract version the provider implements (1 if it describes none).
  int version = 1;
  /// True once the host has declared the contract (typed objects exist).
  bool declared = false;
  /// How the provider fits the host's declaration (full while undeclared).
  Compatibility compatibility = {};
};

/// How the host declares a contract.
struct DeclareOptions {
  /// Check every JSON input against the method's input schema (from the
  /// host's table) before it is sent to an external provider; a failure is
  /// Error(invalid_input) naming the path in the document and the rule.
  /// Off by default: it costs a validation per call (docs/contracts.md).
  bool validate_inputs = false;
};

/// A provider as registered: what the registry lists, a channel for calls by
/// method name, and the contract as the provider describes it. The registry
/// makes the typed object of an external provider itself, from the host's
/// declaration of the contract.
struct ProviderEntry {
  ProviderInfo info;
  /// The typed object (a shared_ptr<C>, type-erased): given for internal
  /// providers; made by the registry for external ones of declared contracts.
  std::shared_ptr<void> object;
  std::shared_ptr<Channel> channel;
  /// The contract as the provider published it; nullopt if it published none.
  std::optional<ContractDescription> description = std::nullopt;
  /// The declaration `object` was made for (set by the registry).
  const ContractInfo* contract = nullptr;
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

  /// Declares contract C: providers of it get typed objects, checked against
  /// C's description (see check_compatibility). Safe to call again with the
  /// same C (later options replace earlier ones). Throws Error(conflict) if
  /// another C++ type already declared C's wire name.
  template <class C>
  void declare(DeclareOptions options = {}) {
    declare(contract_info<C>(), options);
  }
  /// Declares a contract from its ContractInfo; same rules as declare<C>().
  void declare(const ContractInfo& contract, DeclareOptions options = {});
  /// The declaration of the contract called `name`, or nullptr.
  const ContractInfo* declared(std::string_view name) const;
  /// Every declared contract, by name.
  std::vector<const ContractInfo*> declared_contracts() const;

  /// Registers an in-process implementation of C under `type` (declaring C).
  /// Throws Error(conflict) if an internal provider already has that
  /// (contract, type), Error(config) if `type` is not a valid name.
  template <class C>
  void add_internal(const std::string& type, std::shared_ptr<C> impl) {
    const ContractInfo& contract = contract_info<C>();
    declare_if_absent(contract);
    std::shared_ptr<void> object = impl;
    ProviderEntry entry{ProviderInfo{contract.description.name, type, "internal", ProviderKind::internal, 0, true,
                                     nullptr, contract.description.version, true},
                        std::move(object), std::make_shared<LocalChannel<C>>(std::move(impl)), contract.description,
                        &contract};
    add(std::move(entry));
  }

  /// Registers a provider of any kind (the manager's entry point). An
  /// external entry's object is made here when its contract is declared.
  /// Same errors as add_internal.
  void add(ProviderEntry entry);

  /// Removes every provider registered by `provider`; returns how many.
  std::size_t remove_provider(std::string_view provider);

  /// The active provider of C under `type`. Throws Error(not_found) naming
  /// the types that do exist (and why a provider that exists is not used),
  /// Error(config) if C's wire name belongs to another C++ type.
  template <class C>
  std::shared_ptr<C> get(std::string_view type) const {
    return std::static_pointer_cast<C>(typed_object(contract_info<C>(), type, true));
  }

  /// The active provider of C under `type`, or nullptr. Throws like get()
  /// for a C whose wire name belongs to another C++ type.
  template <class C>
  std::shared_ptr<C> find(std::string_view type) const {
    return std::static_pointer_cast<C>(typed_object(contract_info<C>(), type, false));
  }

  /// Every active provider of C, ordered by type name: a listing order (for
  /// display, or to visit each type). The same providers as ranked<C>(),
  /// whose order is the one that says which takes precedence.
  template <class C>
  std::vector<Provided<C>> all() const {
    const ContractInfo& contract = contract_info<C>();
    std::vector<Provided<C>> out;
    for (auto& entry : typed_entries(contract)) {
      out.push_back(Provided<C>{entry.info.type, entry.info.provider, std::static_pointer_cast<C>(entry.object)});
    }
    return out;
  }

  /// Every active provider of C, best first: the rank order that picks the
  /// active provider of one type, applied across types. In-process providers
  /// first, then higher priority (ManagerOptions / the configuration's
  /// `priority`), then load order: the order of registration, which for
  /// plugins is discovery order (directories in the order given, files by
  /// name) and, within a plugin, the order its capabilities list its types.
  /// What a chain of providers (first success wins) walks. The same
  /// providers as all<C>(), which lists them by type name instead.
  template <class C>
  std::vector<Provided<C>> ranked() const {
    const ContractInfo& contract = contract_info<C>();
    require_declared(contract);
    std::vector<Provided<C>> out;
    for (auto& entry : ranked_entries(contract.description.name)) {
      if (!entry.object || entry.contract != &contract) continue;
      out.push_back(Provided<C>{entry.info.type, entry.info.provider, std::static_pointer_cast<C>(entry.object)});
    }
    return out;
  }

  /// True if the active provider of C under `type` implements `member`
  /// (a method of C's table): false for an older plugin that lacks it.
  /// Throws Error(not_found) if there is no such provider.
  template <class C, class M>
  bool supports(std::string_view type, M member) const {
    constexpr auto& methods = ContractTraits<C>::methods;
    std::string_view wire;
    std::apply([&](const auto&... spec) { ((detail::same_member(spec.fn, member) ? (wire = spec.name, 0) : 0), ...); },
               methods);
    if (wire.empty()) throw Error(ErrorCode::not_found, "the method is not in the contract's table");
    require_declared(contract_info<C>());
    return supports(ContractTraits<C>::name, type, wire);
  }
  /// The same by name: whether the active provider of (contract, type) has
  /// `method` (from its description; an undescribed provider is taken to
  /// have every method the host declares). Throws Error(not_found).
  bool supports(std::string_view contract, std::string_view type, std::string_view method) const;

  /// The channel of the active provider of (contract, type), for calls by
  /// method name. Throws Error(not_found).
  std::shared_ptr<Channel> channel(std::string_view contract, std::string_view type) const;

  /// The active provider of (contract, type), or nullopt.
  std::optional<ProviderInfo> active(std::string_view contract, std::string_view type) const;

  /// Every provider, active or not, ordered by contract, type, then rank.
  std::vector<ProviderInfo> list() const;

 private:
  // The providers, the catalog and the published index, with their lock
  // (registry/src/registry_state.hpp): not part of the API.
  struct State;

  // What the templates above need, defined in registry.cpp.
  // Declares `contract` with default options unless it is declared already
  // (same errors as declare()): what add_internal and get<C> need.
  void declare_if_absent(const ContractInfo& contract);
  // Declares `contract` if its wire name is free (on first use: get<C> names
  // C); throws Error(config) if another C++ type declared that name.
  void require_declared(const ContractInfo& contract) const;
  // The typed object of (contract, type), declaring the contract on first
  // use; null or Error(not_found) (`required`) when there is none.
  std::shared_ptr<void> typed_object(const ContractInfo& contract, std::string_view type, bool required) const;
  std::vector<ProviderEntry> typed_entries(const ContractInfo& contract) const;
  // The active providers of `contract` in rank order (ranked<C>()).
  std::vector<ProviderEntry> ranked_entries(std::string_view contract) const;

  std::unique_ptr<State> state_;
  // Identifies the published index among every index of every registry of
  // the process: a thread's cached index is current if and only if its stamp
  // equals this. Kept here rather than in State so that a lookup whose cache
  // is current reads this one atomic and nothing behind state_.
  std::atomic<std::uint64_t> stamp_{0};
};

}  // namespace plugvisor
