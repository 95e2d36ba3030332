// Call counters, error counts, a latency histogram and recent-latency
// quantiles, per contract type of one plugin.
#pragma once

#include <array>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plugvisor/manager.hpp"

namespace plugvisor::detail {

/// Keeps the last `N` samples; quantiles are taken over them.
const std::vector<double>& latency_bucket_bounds_list();

class LatencyWindow {
 public:
  static constexpr std::size_t capacity = 1024;
  void add(double seconds);
  LatencyQuantiles quantiles() const;

 private:
  std::array<double, capacity> samples_{};
  std::size_t size_ = 0;
  std::size_t next_ = 0;
};

/// The statistics of one plugin's calls. Thread-safe.
class CallStats {
 public:
  /// One entry per declared type, in this order.
  void declare(std::string contract, std::string type);
  /// Records one call; `error` is the code it failed with, if it did.
  void record(std::string_view contract, std::string_view type, std::chrono::steady_clock::duration latency,
              std::optional<ErrorCode> error);
  std::vector<TypeCallStats> by_type() const;
  LatencyQuantiles overall() const;

 private:
  struct Entry {
    TypeCallStats stats;
    LatencyWindow window;
  };
  Entry& entry_locked(std::string_view contract, std::string_view type);

  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
  LatencyWindow overall_;
};

}  // namespace plugvisor::detail
