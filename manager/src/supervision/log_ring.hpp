// A plugin's recent log: a bounded ring of lines with sequence numbers, and
// a way to wait for new ones (the admin API's follow stream).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "plugvisor/manager.hpp"

namespace plugvisor::detail {

/// Keeps the last `capacity` lines, each cut at `max_text` bytes. Thread-safe.
class LogRing {
 public:
  static constexpr std::size_t capacity = 1000;
  static constexpr std::size_t max_text = 16 * 1024;

  void append(std::string_view stream, std::string_view text);
  /// Up to `limit` kept lines with seq > after, oldest first.
  std::vector<LogLine> since(std::uint64_t after, std::size_t limit) const;
  /// Waits until a line with seq > after exists, the ring is closed, or `timeout` passes.
  std::vector<LogLine> wait_since(std::uint64_t after, std::size_t limit, std::chrono::milliseconds timeout) const;
  /// Wakes every waiter for good (the plugin is gone or the manager shuts down).
  void close();
  bool closed() const;

 private:
  std::vector<LogLine> since_locked(std::uint64_t after, std::size_t limit) const;

  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  std::deque<LogLine> lines_;
  std::uint64_t last_seq_ = 0;
  bool closed_ = false;
};

}  // namespace plugvisor::detail
