#include "plugvisor/registry.hpp"

#include <algorithm>

namespace plugvisor {

namespace {

// Lower ranks first: internal before external, then higher priority, then
// earlier registration.
bool ranks_before(const ProviderInfo& a, std::uint64_t sa, const ProviderInfo& b, std::uint64_t sb) {
  if (a.kind != b.kind) return a.kind == ProviderKind::internal;
  if (a.priority != b.priority) return a.priority > b.priority;
  return sa < sb;
}

}  // namespace

void Registry::add(ProviderEntry entry) {
  const auto& info = entry.info;
  if (!protocol::is_valid_name(info.type)) {
    throw Error(ErrorCode::config, "cannot register type '" + info.type + "' of " + info.contract +
                                       ": names are 1-64 of [A-Za-z0-9._-], starting with a letter or digit");
  }
  std::unique_lock lock(mutex_);
  auto& slot = slots_[Key{info.contract, info.type}];
  for (const auto& ranked : slot) {
    const auto& other = ranked.entry.info;
    if (other.provider == info.provider && other.kind == info.kind) {
      throw Error(ErrorCode::conflict, info.contract + "/" + info.type + " is already registered by " +
                                           info.provider + ": remove it first");
    }
  }
  const std::uint64_t sequence = next_sequence_++;
  auto at = std::find_if(slot.begin(), slot.end(), [&](const Ranked& r) {
    return ranks_before(info, sequence, r.entry.info, r.sequence);
  });
  slot.insert(at, Ranked{std::move(entry), sequence});
  for (std::size_t i = 0; i < slot.size(); ++i) slot[i].entry.info.active = (i == 0);
}

std::size_t Registry::remove_provider(std::string_view provider) {
  std::unique_lock lock(mutex_);
  std::size_t removed = 0;
  for (auto it = slots_.begin(); it != slots_.end();) {
    auto& slot = it->second;
    removed += std::erase_if(slot, [&](const Ranked& r) { return r.entry.info.provider == provider; });
    if (slot.empty()) {
      it = slots_.erase(it);
      continue;
    }
    for (std::size_t i = 0; i < slot.size(); ++i) slot[i].entry.info.active = (i == 0);
    ++it;
  }
  return removed;
}

std::shared_ptr<void> Registry::find_object(std::string_view contract, std::string_view type) const {
  std::shared_lock lock(mutex_);
  auto it = slots_.find(KeyView{contract, type});
  if (it == slots_.end()) return nullptr;
  return it->second.front().entry.object;
}

std::shared_ptr<void> Registry::get_object(std::string_view contract, std::string_view type) const {
  if (auto object = find_object(contract, type)) return object;
  throw_not_found(contract, type);
}

std::shared_ptr<Channel> Registry::channel(std::string_view contract, std::string_view type) const {
  {
    std::shared_lock lock(mutex_);
    auto it = slots_.find(KeyView{contract, type});
    if (it != slots_.end()) return it->second.front().entry.channel;
  }
  throw_not_found(contract, type);
}

void Registry::throw_not_found(std::string_view contract, std::string_view type) const {
  std::string known;
  for (const auto& entry : active_entries(contract)) {
    known += (known.empty() ? "" : ", ") + entry.info.type;
  }
  std::string message = "no provider of " + std::string(contract) + " type '" + std::string(type) + "'";
  message += known.empty() ? ": no plugin provides this contract; check the plugin directories with `plugvisor list`"
                           : " (known types: " + known + ")";
  throw Error(ErrorCode::not_found, message);
}

std::vector<ProviderEntry> Registry::active_entries(std::string_view contract) const {
  std::shared_lock lock(mutex_);
  std::vector<ProviderEntry> out;
  for (auto it = slots_.lower_bound(KeyView{contract, {}});
       it != slots_.end() && it->first.contract == contract; ++it) {
    out.push_back(it->second.front().entry);
  }
  return out;
}

std::vector<ProviderInfo> Registry::list() const {
  std::shared_lock lock(mutex_);
  std::vector<ProviderInfo> out;
  for (const auto& [key, slot] : slots_) {
    for (const auto& ranked : slot) out.push_back(ranked.entry.info);
  }
  return out;
}

}  // namespace plugvisor
