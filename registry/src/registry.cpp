#include "plugvisor/registry.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#include "checked_channel.hpp"
#include "registry_state.hpp"

namespace plugvisor {

namespace {

// Every index of every registry gets the next value: a stamp never repeats,
// so a thread's cache cannot mistake another registry's index (or one of a
// registry since destroyed at the same address) for the current one.
std::atomic<std::uint64_t> next_stamp{1};

std::uint64_t load8(const char* p) {
  std::uint64_t word;
  std::memcpy(&word, p, 8);
  return word;
}

std::uint64_t load4(const char* p) {
  std::uint32_t word;
  std::memcpy(&word, p, 4);
  return word;
}

__extension__ using Wide = unsigned __int128;

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  const Wide product = static_cast<Wide>(a) * b;
  return static_cast<std::uint64_t>(product) ^ static_cast<std::uint64_t>(product >> 64);
}

constexpr std::uint64_t k0 = 0xa0761d6478bd642full;
constexpr std::uint64_t k1 = 0xe7037ed1a0b428dbull;

// A hash for short names, a few loads and two multiplications (after
// wyhash): a byte-at-a-time hash would cost more than the rest of a lookup.
std::uint64_t hash_name(std::string_view name, std::uint64_t seed) {
  const char* p = name.data();
  const std::size_t n = name.size();
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  if (n > 16) {
    for (std::size_t i = 0; n - i > 16; i += 16) seed = mix(load8(p + i) ^ k0, load8(p + i + 8) ^ seed);
    a = load8(p + n - 16);  // the last 16, overlapping what the loop took
    b = load8(p + n - 8);
  } else if (n >= 8) {
    a = load8(p);
    b = load8(p + n - 8);
  } else if (n >= 4) {
    a = load4(p);
    b = load4(p + n - 4);
  } else if (n > 0) {
    a = (std::uint64_t{static_cast<unsigned char>(p[0])} << 16) |
        (std::uint64_t{static_cast<unsigned char>(p[n / 2])} << 8) | static_cast<unsigned char>(p[n - 1]);
  }
  return mix(a ^ k0 ^ n, b ^ seed ^ k1);
}

// Equality without a call to memcmp for names of up to 16 bytes (the hash
// already matched; this only confirms it).
bool same_name(std::string_view a, std::string_view b) {
  const std::size_t n = a.size();
  if (n != b.size()) return false;
  const char* x = a.data();
  const char* y = b.data();
  if (n >= 8 && n <= 16) return load8(x) == load8(y) && load8(x + n - 8) == load8(y + n - 8);
  if (n >= 4 && n < 8) return load4(x) == load4(y) && load4(x + n - 4) == load4(y + n - 4);
  return a == b;
}

std::uint64_t hash_key(std::string_view contract, std::string_view type) {
  return hash_name(type, hash_name(contract, 0));
}

bool usable(const ProviderInfo& info) { return info.compatibility.level != Compatibility::Level::incompatible; }

// Lower ranks first: usable before incompatible, internal before external,
// then higher priority, then earlier registration.
bool ranks_before(const ProviderInfo& a, std::uint64_t sa, const ProviderInfo& b, std::uint64_t sb) {
  if (usable(a) != usable(b)) return usable(a);
  if (a.kind != b.kind) return a.kind == ProviderKind::internal;
  if (a.priority != b.priority) return a.priority > b.priority;
  return sa < sb;
}

}  // namespace

struct Registry::State::Index {
  struct Entry {
    std::string contract;
    std::string type;
    std::uint64_t hash = 0;
    // Weak: a thread's cached index must not keep a removed provider alive.
    std::weak_ptr<void> object;
    std::weak_ptr<Channel> channel;
    const ContractInfo* declaration = nullptr;  // non-null: object is a shared_ptr of its contract class
  };
  std::vector<Entry> entries;
  // Open addressing, a power of two at least twice the entries: 0 is empty,
  // anything else an index into entries plus one.
  std::vector<std::uint32_t> buckets;

  const Entry* find(std::string_view contract, std::string_view type) const {
    const std::uint64_t hash = hash_key(contract, type);
    const std::size_t mask = buckets.size() - 1;
    for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
      std::uint32_t at = buckets[i];
      if (at == 0) return nullptr;
      const Entry& entry = entries[at - 1];
      if (entry.hash == hash && same_name(entry.type, type) && same_name(entry.contract, contract)) return &entry;
    }
  }
};

Registry::Registry() : state_(std::make_unique<State>()) {
  std::unique_lock lock(state_->mutex);
  for (const ContractInfo* contract : builtin_contracts()) {
    state_->catalog.emplace(contract->description.name, State::Declaration{contract, {}, nullptr});
  }
  state_->publish_locked(stamp_);
}

Registry::~Registry() = default;

void Registry::State::publish_locked(std::atomic<std::uint64_t>& stamp) {
  auto next = std::make_shared<Index>();
  next->entries.reserve(slots.size());
  for (const auto& [key, slot] : slots) {
    const ProviderEntry& active = slot.front().entry;
    if (!active.info.active) continue;  // only incompatible providers: none is handed out
    next->entries.push_back(Index::Entry{key.contract, key.type, hash_key(key.contract, key.type), active.object,
                                         active.channel, active.object ? active.contract : nullptr});
  }
  next->buckets.assign(std::bit_ceil(std::max<std::size_t>(2 * next->entries.size(), 8)), 0);
  const std::size_t mask = next->buckets.size() - 1;
  for (std::size_t e = 0; e < next->entries.size(); ++e) {
    std::size_t i = next->entries[e].hash & mask;
    while (next->buckets[i] != 0) i = (i + 1) & mask;
    next->buckets[i] = static_cast<std::uint32_t>(e + 1);
  }
  index = std::move(next);
  stamp.store(next_stamp.fetch_add(1, std::memory_order_relaxed), std::memory_order_release);
}

const Registry::State::Index& Registry::State::current_index(const Registry* owner,
                                                              const std::atomic<std::uint64_t>& stamp) const {
  struct Cached {
    const Registry* owner = nullptr;  // compared, never dereferenced
    std::uint64_t stamp = 0;          // 0: empty (stamps start at 1)
    std::shared_ptr<const Index> index;
  };
  // A few registries per thread at once; a miss only costs the shared lock.
  thread_local std::array<Cached, 4> cache;
  thread_local std::size_t next_victim = 0;

  const std::uint64_t now = stamp.load(std::memory_order_acquire);
  for (const Cached& cached : cache) {
    if (cached.stamp == now) return *cached.index;
  }
  Cached* slot = nullptr;
  for (Cached& cached : cache) {
    if (cached.owner == owner) slot = &cached;
  }
  if (!slot) slot = &cache[next_victim++ % cache.size()];
  std::shared_lock lock(mutex);
  slot->owner = owner;
  slot->stamp = stamp.load(std::memory_order_relaxed);
  slot->index = index;
  return *slot->index;
}

void Registry::add(ProviderEntry entry) {
  const auto& info = entry.info;
  if (!protocol::is_valid_name(info.type)) {
    throw Error(ErrorCode::config, "cannot register type '" + info.type + "' of " + info.contract +
                                       ": names are 1-64 of [A-Za-z0-9._-], starting with a letter or digit");
  }
  std::unique_lock lock(state_->mutex);
  state_->attach_locked(entry);
  auto& slot = state_->slots[State::Key{info.contract, info.type}];
  for (const auto& ranked : slot) {
    const auto& other = ranked.entry.info;
    if (other.provider == info.provider && other.kind == info.kind) {
      throw Error(ErrorCode::conflict, info.contract + "/" + info.type + " is already registered by " +
                                           info.provider + ": remove it first");
    }
  }
  slot.push_back(State::Ranked{std::move(entry), state_->next_sequence++});
  State::rank_slot(slot);
  state_->publish_locked(stamp_);
}

void Registry::State::rank_slot(std::vector<Ranked>& slot) {
  std::stable_sort(slot.begin(), slot.end(), [](const Ranked& a, const Ranked& b) {
    return ranks_before(a.entry.info, a.sequence, b.entry.info, b.sequence);
  });
  for (std::size_t i = 0; i < slot.size(); ++i) slot[i].entry.info.active = (i == 0 && usable(slot[i].entry.info));
}

void Registry::State::attach_locked(ProviderEntry& entry) const {
  if (entry.info.kind == ProviderKind::internal) return;  // it came with its object and declaration
  auto declared = catalog.find(entry.info.contract);
  entry.object = nullptr;
  entry.contract = nullptr;
  entry.info.declared = declared != catalog.end();
  entry.info.version = entry.description ? entry.description->version : 1;
  entry.info.compatibility = {};
  if (!entry.info.declared) return;
  const ContractInfo& contract = *declared->second.contract;
  entry.info.compatibility = check_compatibility(contract.description, entry.description ? &*entry.description : nullptr);
  if (!usable(entry.info)) return;
  std::shared_ptr<Channel> channel = entry.channel;
  std::map<std::string, JsonSchema, std::less<>> schemas;
  if (declared->second.input_schemas) schemas = *declared->second.input_schemas;
  const auto& missing = entry.info.compatibility.missing;
  if (!missing.empty() || !schemas.empty()) {
    channel = std::make_shared<detail::CheckedChannel>(
        std::move(channel),
        entry.info.provider + "'s " + entry.info.contract + " type '" + entry.info.type + "'",
        std::set<std::string, std::less<>>(missing.begin(), missing.end()), std::move(schemas));
  }
  entry.object = contract.make_remote(std::move(channel));
  entry.contract = &contract;
}

void Registry::declare(const ContractInfo& contract, DeclareOptions options) {
  state_->declare(contract, options, false, stamp_);
}

void Registry::declare_if_absent(const ContractInfo& contract) { state_->declare(contract, {}, true, stamp_); }

void Registry::State::declare(const ContractInfo& contract, DeclareOptions options, bool keep_existing,
                              std::atomic<std::uint64_t>& stamp) {
  const std::string& name = contract.description.name;
  std::unique_lock lock(mutex);
  auto existing = catalog.find(name);
  // Checked under the lock: a lazy declaration never replaces the options
  // of a host's declaration made meanwhile.
  if (keep_existing && existing != catalog.end() && existing->second.contract == &contract) return;
  if (auto it = existing; it != catalog.end() && it->second.contract != &contract) {
    throw Error(ErrorCode::conflict, "contract '" + name + "' is already declared by C++ type " +
                                         std::string(it->second.contract->cpp_type) + "; " +
                                         std::string(contract.cpp_type) +
                                         " cannot use the same wire name (give one of them another name)");
  }
  // Compiled before anything changes: a host schema that is not JSON Schema
  // fails the declaration and leaves the registry as it was.
  std::shared_ptr<const InputSchemas> schemas;
  if (options.validate_inputs) {
    auto compiled = std::make_shared<InputSchemas>();
    for (const auto& method : contract.description.methods) {
      if (method.input_schema.is_null()) continue;
      try {
        compiled->emplace(method.name, JsonSchema(method.input_schema));
      } catch (const Error& e) {
        throw Error(ErrorCode::config, "cannot declare " + name + ": the input schema of " + method.name +
                                           " is not a valid JSON Schema: " + e.what());
      }
    }
    schemas = std::move(compiled);
  }
  catalog.insert_or_assign(name, Declaration{&contract, options, std::move(schemas)});
  bool changed = false;
  for (auto it = slots.lower_bound(KeyView{name, {}}); it != slots.end() && it->first.contract == name; ++it) {
    for (auto& ranked : it->second) attach_locked(ranked.entry);
    rank_slot(it->second);
    changed = true;
  }
  if (changed) publish_locked(stamp);
}

const ContractInfo* Registry::declared(std::string_view name) const {
  std::shared_lock lock(state_->mutex);
  auto it = state_->catalog.find(name);
  return it == state_->catalog.end() ? nullptr : it->second.contract;
}

std::vector<const ContractInfo*> Registry::declared_contracts() const {
  std::shared_lock lock(state_->mutex);
  std::vector<const ContractInfo*> out;
  for (const auto& [name, declaration] : state_->catalog) out.push_back(declaration.contract);
  return out;
}

std::size_t Registry::remove_provider(std::string_view provider) {
  std::unique_lock lock(state_->mutex);
  std::size_t removed = 0;
  for (auto it = state_->slots.begin(); it != state_->slots.end();) {
    auto& slot = it->second;
    removed += std::erase_if(slot, [&](const State::Ranked& r) { return r.entry.info.provider == provider; });
    if (slot.empty()) {
      it = state_->slots.erase(it);
      continue;
    }
    State::rank_slot(slot);
    ++it;
  }
  if (removed > 0) state_->publish_locked(stamp_);
  return removed;
}

std::shared_ptr<void> Registry::State::indexed_object(const Registry* owner, const std::atomic<std::uint64_t>& stamp,
                                                    const ContractInfo& contract, std::string_view type) const {
  const Index::Entry* entry = current_index(owner, stamp).find(contract.description.name, type);
  if (!entry || entry->declaration != &contract) return nullptr;
  if (auto object = entry->object.lock()) return object;
  // Released since this thread's check of the stamp: the provider was removed
  // meanwhile, so the index is stale; ask the registry itself.
  std::shared_lock lock(mutex);
  auto it = slots.find(KeyView{contract.description.name, type});
  if (it == slots.end() || !it->second.front().entry.info.active) return nullptr;
  const ProviderEntry& active = it->second.front().entry;
  return active.contract == &contract ? active.object : nullptr;
}

void Registry::require_declared(const ContractInfo& contract) const {
  const ContractInfo* existing = declared(contract.description.name);
  if (existing == &contract) return;
  if (existing) {
    throw Error(ErrorCode::config, "contract '" + contract.description.name + "' is declared by C++ type " +
                                       std::string(existing->cpp_type) + ", not " + std::string(contract.cpp_type) +
                                       ": ask for it with that type");
  }
  const_cast<Registry*>(this)->declare_if_absent(contract);  // lazily: the catalog is the registry's own state
}

std::shared_ptr<void> Registry::typed_object(const ContractInfo& contract, std::string_view type,
                                             bool required) const {
  if (auto object = state_->indexed_object(this, stamp_, contract, type)) return object;
  // The slow path: the contract may be undeclared yet, or declared by another C++ type.
  require_declared(contract);
  if (auto object = state_->indexed_object(this, stamp_, contract, type)) return object;
  if (required) state_->throw_not_found(contract.description.name, type);
  return nullptr;
}

bool Registry::supports(std::string_view contract, std::string_view type, std::string_view method) const {
  std::shared_lock lock(state_->mutex);
  auto it = state_->slots.find(State::KeyView{contract, type});
  if (it == state_->slots.end() || !it->second.front().entry.info.active) {
    lock.unlock();
    state_->throw_not_found(contract, type);
  }
  const ProviderEntry& active = it->second.front().entry;
  if (active.description) return active.description->method(method) != nullptr;
  auto declared = state_->catalog.find(contract);
  return declared != state_->catalog.end() && declared->second.contract->description.method(method) != nullptr;
}

std::shared_ptr<Channel> Registry::channel(std::string_view contract, std::string_view type) const {
  if (const State::Index::Entry* entry = state_->current_index(this, stamp_).find(contract, type)) {
    if (auto channel = entry->channel.lock()) return channel;
  }
  {
    std::shared_lock lock(state_->mutex);
    auto it = state_->slots.find(State::KeyView{contract, type});
    if (it != state_->slots.end() && it->second.front().entry.info.active) return it->second.front().entry.channel;
  }
  state_->throw_not_found(contract, type);
}

void Registry::State::throw_not_found(std::string_view contract, std::string_view type) const {
  std::string known;
  for (const auto& entry : active_entries(contract)) {
    known += (known.empty() ? "" : ", ") + entry.info.type;
  }
  std::string message = "no provider of " + std::string(contract) + " type '" + std::string(type) + "'";
  {
    std::shared_lock lock(mutex);
    if (auto it = slots.find(KeyView{contract, type}); it != slots.end()) {
      // Listed, but none usable: say why each is refused.
      for (const auto& ranked : it->second) {
        message += "; " + ranked.entry.info.provider + " provides it but is not used: " +
                   ranked.entry.info.compatibility.reason;
      }
      throw Error(ErrorCode::not_found, message);
    }
  }
  message += known.empty() ? ": no plugin provides this contract; check the plugin directories with `plugvisor list`"
                           : " (known types: " + known + ")";
  throw Error(ErrorCode::not_found, message);
}

std::vector<ProviderEntry> Registry::State::active_entries(std::string_view contract) const {
  std::shared_lock lock(mutex);
  std::vector<ProviderEntry> out;
  for (auto it = slots.lower_bound(KeyView{contract, {}}); it != slots.end() && it->first.contract == contract;
       ++it) {
    if (it->second.front().entry.info.active) out.push_back(it->second.front().entry);
  }
  return out;
}

std::vector<ProviderEntry> Registry::ranked_entries(std::string_view contract) const {
  std::shared_lock lock(state_->mutex);
  std::vector<const State::Ranked*> fronts;
  for (auto it = state_->slots.lower_bound(State::KeyView{contract, {}});
       it != state_->slots.end() && it->first.contract == contract; ++it) {
    if (it->second.front().entry.info.active) fronts.push_back(&it->second.front());
  }
  std::stable_sort(fronts.begin(), fronts.end(), [](const State::Ranked* a, const State::Ranked* b) {
    return ranks_before(a->entry.info, a->sequence, b->entry.info, b->sequence);
  });
  std::vector<ProviderEntry> out;
  out.reserve(fronts.size());
  for (const State::Ranked* ranked : fronts) out.push_back(ranked->entry);
  return out;
}

std::vector<ProviderEntry> Registry::typed_entries(const ContractInfo& contract) const {
  require_declared(contract);
  std::vector<ProviderEntry> out;
  for (auto& entry : state_->active_entries(contract.description.name)) {
    if (entry.object && entry.contract == &contract) out.push_back(std::move(entry));
  }
  return out;
}

std::optional<ProviderInfo> Registry::active(std::string_view contract, std::string_view type) const {
  std::shared_lock lock(state_->mutex);
  auto it = state_->slots.find(State::KeyView{contract, type});
  if (it == state_->slots.end() || !it->second.front().entry.info.active) return std::nullopt;
  return it->second.front().entry.info;
}

std::vector<ProviderInfo> Registry::list() const {
  std::shared_lock lock(state_->mutex);
  std::vector<ProviderInfo> out;
  for (const auto& [key, slot] : state_->slots) {
    for (const auto& ranked : slot) out.push_back(ranked.entry.info);
  }
  return out;
}

}  // namespace plugvisor
