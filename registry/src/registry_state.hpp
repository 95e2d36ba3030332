// The registry's internals: every provider ranked per (contract, type), the
// host's catalog of declared contracts, and the immutable index of the
// active providers that lookups read without a lock. Private to registry/:
// hosts see only plugvisor/registry.hpp.
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

#include "plugvisor/detail/json_schema.hpp"
#include "plugvisor/registry.hpp"

namespace plugvisor {

struct Registry::State {
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

  // The input schemas of a declaration, compiled once (validate_inputs only).
  using InputSchemas = std::map<std::string, JsonSchema, std::less<>>;
  struct Declaration {
    const ContractInfo* contract;
    DeclareOptions options;
    std::shared_ptr<const InputSchemas> input_schemas;
  };

  // With mutex held exclusively: publishes a new index of slots and gives
  // it the next stamp.
  void publish_locked(std::atomic<std::uint64_t>& stamp);
  // The current index as this thread cached it for `owner`, refreshed if
  // `stamp` says it is stale. Valid until this thread's next lookup in any
  // registry.
  const Index& current_index(const Registry* owner, const std::atomic<std::uint64_t>& stamp) const;
  // The typed object of (contract, type) if the index has one of
  // `contract`'s class, else null.
  std::shared_ptr<void> indexed_object(const Registry* owner, const std::atomic<std::uint64_t>& stamp,
                                       const ContractInfo& contract, std::string_view type) const;
  void declare(const ContractInfo& contract, DeclareOptions options, bool keep_existing,
               std::atomic<std::uint64_t>& stamp);
  // With mutex held exclusively: makes `entry`'s typed object (if its
  // contract is declared) and rates it against the declaration.
  void attach_locked(ProviderEntry& entry) const;
  static void rank_slot(std::vector<Ranked>& slot);
  std::vector<ProviderEntry> active_entries(std::string_view contract) const;
  [[noreturn]] void throw_not_found(std::string_view contract, std::string_view type) const;

  mutable std::shared_mutex mutex;
  std::map<std::string, Declaration, std::less<>> catalog;  // guarded by mutex
  Slots slots;                         // guarded by mutex
  std::uint64_t next_sequence = 0;     // guarded by mutex
  std::shared_ptr<const Index> index;  // guarded by mutex; replaced, never changed
};

}  // namespace plugvisor
