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

void LatencyWindow::add(double seconds) {
  samples_[next_] = seconds;
  next_ = (next_ + 1) % capacity;
  size_ = std::min(size_ + 1, capacity);
}

LatencyQuantiles LatencyWindow::quantiles() const {
  if (size_ == 0) return {};
  std::vector<double> sorted(samples_.begin(), samples_.begin() + static_cast<std::ptrdiff_t>(size_));
  std::sort(sorted.begin(), sorted.end());
  // Nearest rank: the smallest sample with at least q of the samples at or below it.
  auto at = [&](double q) {
    auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
    return sorted[std::clamp<std::size_t>(rank, 1, sorted.size()) - 1];
  };
  return {at(0.50), at(0.90), at(0.99)};
}

void CallStats::declare(std::string contract, std::string type) {
  std::lock_guard lock(mutex_);
  entry_locked(contract, type);
}

CallStats::Entry& CallStats::entry_locked(std::string_view contract, std::string_view type) {
  for (auto& entry : entries_) {
    if (entry.stats.contract == contract && entry.stats.type == type) return entry;
  }
  Entry& entry = entries_.emplace_back();
  entry.stats.contract = contract;
  entry.stats.type = type;
  entry.stats.buckets.assign(latency_bucket_bounds_list().size() + 1, 0);
  return entry;
}

void CallStats::record(std::string_view contract, std::string_view type, std::chrono::steady_clock::duration latency,
                       std::optional<ErrorCode> error) {
  const double seconds = std::chrono::duration<double>(latency).count();
  const auto& bounds = latency_bucket_bounds_list();
  const auto bucket = static_cast<std::size_t>(std::lower_bound(bounds.begin(), bounds.end(), seconds) - bounds.begin());
  std::lock_guard lock(mutex_);
  Entry& entry = entry_locked(contract, type);
  ++entry.stats.calls;
  if (error) {
    ++entry.stats.errors;
    ++entry.stats.errors_by_code[std::string(to_string(*error))];
  }
  ++entry.stats.buckets[bucket];
  entry.stats.latency_sum += seconds;
  entry.window.add(seconds);
  overall_.add(seconds);
}

std::vector<TypeCallStats> CallStats::by_type() const {
  std::lock_guard lock(mutex_);
  std::vector<TypeCallStats> out;
  out.reserve(entries_.size());
  for (const auto& entry : entries_) {
    out.push_back(entry.stats);
    out.back().latency = entry.window.quantiles();
  }
  return out;
}

LatencyQuantiles CallStats::overall() const {
  std::lock_guard lock(mutex_);
  return overall_.quantiles();
}

}  // namespace plugvisor::detail

namespace plugvisor {

const std::vector<double>& latency_bucket_bounds() noexcept { return detail::latency_bucket_bounds_list(); }

}  // namespace plugvisor
