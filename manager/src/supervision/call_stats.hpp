// Call counters, error counts, a latency histogram and recent-latency
// quantiles, per contract type of one plugin.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plugvisor/manager.hpp"

namespace plugvisor::detail {

const std::vector<double>& latency_bucket_bounds_list();

/// The last `capacity` latencies recorded into it, each with when its call
/// ended, so that the windows of several recorders can be merged into the
/// last `capacity` calls of them all. It grows with the calls recorded: a
/// window of a few calls holds a few samples.
class LatencyWindow {
 public:
  static constexpr std::size_t capacity = 1024;
  struct Sample {
    std::chrono::steady_clock::time_point ended;
    double seconds;
  };
  void add(std::chrono::steady_clock::time_point ended, double seconds);
  /// Appends the samples held to `out`.
  void collect(std::vector<Sample>& out) const;
  /// p50, p90 and p99 of the last `capacity` samples of `samples` (by end
  /// time; reordered).
  static LatencyQuantiles quantiles(std::vector<Sample>& samples);

 private:
  std::vector<Sample> samples_;  // up to capacity, then a ring
  std::size_t next_ = 0;         // where the ring writes next, once full
};

/// The statistics of one plugin's calls. Thread-safe. A calling thread
/// records into a shard of its own (of `shard_count`, made on its first
/// call), under that shard's lock: threads calling at once on different CPUs
/// share no lock and no cache line. Readers merge the shards; the overall
/// quantiles come from the types' windows (the last `capacity` calls of all
/// types are among the last `capacity` of each), so no window is kept twice.
class CallStats {
 public:
  CallStats();
  ~CallStats();
  CallStats(const CallStats&) = delete;
  CallStats& operator=(const CallStats&) = delete;

  /// One entry per declared type, in this order (others follow as first called).
  void declare(std::string contract, std::string type);
  /// Records one call that ended at `ended` after `latency`; `error` is the
  /// code it failed with, if it did.
  void record(std::string_view contract, std::string_view type, std::chrono::steady_clock::time_point ended,
              std::chrono::steady_clock::duration latency, std::optional<ErrorCode> error);
  std::vector<TypeCallStats> by_type() const;
  LatencyQuantiles overall() const;

  static constexpr std::size_t shard_count = 8;

 private:
  struct Entry {
    TypeCallStats stats;
    LatencyWindow window;
  };
  struct Shard {
    mutable std::mutex mutex;    // guards the fields below
    std::vector<std::unique_ptr<Entry>> entries;
    Entry* last = nullptr;       // the entry recorded last: usually the next one too
  };
  Shard& my_shard();
  Entry& entry_locked(Shard& shard, std::string_view contract, std::string_view type);
  void name_type(std::string_view contract, std::string_view type);

  mutable std::mutex names_mutex_;  // guards names_, and the making of shards
  std::vector<std::pair<std::string, std::string>> names_;  // (contract, type), in report order
  std::array<std::atomic<Shard*>, shard_count> shards_{};  // made on first use, owned here
};

}  // namespace plugvisor::detail
