#include "supervision/call_stats.hpp"

#include <algorithm>
#include <cmath>

namespace plugvisor::detail {

const std::vector<double>& latency_bucket_bounds_list() {
  static const std::vector<double> bounds{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                          0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5,
                                          5,      10};
  return bounds;
}

void LatencyWindow::add(std::chrono::steady_clock::time_point ended, double seconds) {
  if (samples_.size() < capacity) {
    samples_.push_back(Sample{ended, seconds});
    return;
  }
  samples_[next_] = Sample{ended, seconds};
  next_ = (next_ + 1) % capacity;
}

void LatencyWindow::collect(std::vector<Sample>& out) const { out.insert(out.end(), samples_.begin(), samples_.end()); }

LatencyQuantiles LatencyWindow::quantiles(std::vector<Sample>& samples) {
  if (samples.empty()) return {};
  if (samples.size() > capacity) {
    // The last `capacity` calls of all the windows merged.
    auto newest_first = [](const Sample& a, const Sample& b) { return a.ended > b.ended; };
    std::nth_element(samples.begin(), samples.begin() + capacity - 1, samples.end(), newest_first);
    samples.resize(capacity);
  }
  std::sort(samples.begin(), samples.end(), [](const Sample& a, const Sample& b) { return a.seconds < b.seconds; });
  // Nearest rank: the smallest sample with at least q of the samples at or below it.
  auto at = [&](double q) {
    auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(samples.size())));
    return samples[std::clamp<std::size_t>(rank, 1, samples.size()) - 1].seconds;
  };
  return {at(0.50), at(0.90), at(0.99)};
}

CallStats::CallStats() = default;

CallStats::~CallStats() {
  for (auto& shard : shards_) delete shard.load();
}

CallStats::Shard& CallStats::my_shard() {
  // Threads take shards in turn, once each: a few caller threads get one each.
  static std::atomic<std::size_t> next_thread{0};
  thread_local const std::size_t index = next_thread.fetch_add(1, std::memory_order_relaxed) % shard_count;
  if (Shard* shard = shards_[index].load(std::memory_order_acquire)) return *shard;
  std::lock_guard lock(names_mutex_);
  if (!shards_[index].load(std::memory_order_relaxed)) {
    shards_[index].store(new Shard, std::memory_order_release);
  }
  return *shards_[index].load(std::memory_order_relaxed);
}

void CallStats::name_type(std::string_view contract, std::string_view type) {
  std::lock_guard lock(names_mutex_);
  for (const auto& [c, t] : names_) {
    if (c == contract && t == type) return;
  }
  names_.emplace_back(contract, type);
}

void CallStats::declare(std::string contract, std::string type) { name_type(contract, type); }

CallStats::Entry& CallStats::entry_locked(Shard& shard, std::string_view contract, std::string_view type) {
  if (shard.last && shard.last->stats.contract == contract && shard.last->stats.type == type) return *shard.last;
  for (auto& entry : shard.entries) {
    if (entry->stats.contract == contract && entry->stats.type == type) return *(shard.last = entry.get());
  }
  name_type(contract, type);  // a type not declared: reported after the declared ones
  auto& entry = shard.entries.emplace_back(std::make_unique<Entry>());
  entry->stats.contract = contract;
  entry->stats.type = type;
  entry->stats.buckets.assign(latency_bucket_bounds_list().size() + 1, 0);
  return *(shard.last = entry.get());
}

void CallStats::record(std::string_view contract, std::string_view type, std::chrono::steady_clock::time_point ended,
                       std::chrono::steady_clock::duration latency, std::optional<ErrorCode> error) {
  const double seconds = std::chrono::duration<double>(latency).count();
  const auto& bounds = latency_bucket_bounds_list();
  const auto bucket = static_cast<std::size_t>(std::lower_bound(bounds.begin(), bounds.end(), seconds) - bounds.begin());
  Shard& shard = my_shard();
  std::lock_guard lock(shard.mutex);
  Entry& entry = entry_locked(shard, contract, type);
  ++entry.stats.calls;
  if (error) {
    ++entry.stats.errors;
    ++entry.stats.errors_by_code[std::string(to_string(*error))];
  }
  ++entry.stats.buckets[bucket];
  entry.stats.latency_sum += seconds;
  entry.window.add(ended, seconds);
}

std::vector<TypeCallStats> CallStats::by_type() const {
  std::vector<std::pair<std::string, std::string>> names;
  {
    std::lock_guard lock(names_mutex_);
    names = names_;
  }
  std::vector<TypeCallStats> out(names.size());
  std::vector<std::vector<LatencyWindow::Sample>> samples(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    out[i].contract = names[i].first;
    out[i].type = names[i].second;
    out[i].buckets.assign(latency_bucket_bounds_list().size() + 1, 0);
  }
  for (const auto& slot : shards_) {
    const Shard* shard = slot.load(std::memory_order_acquire);
    if (!shard) continue;
    std::lock_guard lock(shard->mutex);
    for (const auto& entry : shard->entries) {
      const TypeCallStats& from = entry->stats;
      // Every type a shard holds was named before its first record.
      auto named = std::find_if(names.begin(), names.end(),
                                [&](const auto& n) { return n.first == from.contract && n.second == from.type; });
      if (named == names.end()) continue;
      const auto i = static_cast<std::size_t>(named - names.begin());
      TypeCallStats& into = out[i];
      into.calls += from.calls;
      into.errors += from.errors;
      for (const auto& [code, count] : from.errors_by_code) into.errors_by_code[code] += count;
      for (std::size_t b = 0; b < into.buckets.size(); ++b) into.buckets[b] += from.buckets[b];
      into.latency_sum += from.latency_sum;
      entry->window.collect(samples[i]);
    }
  }
  for (std::size_t i = 0; i < out.size(); ++i) out[i].latency = LatencyWindow::quantiles(samples[i]);
  return out;
}

LatencyQuantiles CallStats::overall() const {
  std::vector<LatencyWindow::Sample> samples;
  for (const auto& slot : shards_) {
    const Shard* shard = slot.load(std::memory_order_acquire);
    if (!shard) continue;
    std::lock_guard lock(shard->mutex);
    for (const auto& entry : shard->entries) entry->window.collect(samples);
  }
  return LatencyWindow::quantiles(samples);
}

}  // namespace plugvisor::detail

namespace plugvisor {

const std::vector<double>& latency_bucket_bounds() noexcept { return detail::latency_bucket_bounds_list(); }

}  // namespace plugvisor
