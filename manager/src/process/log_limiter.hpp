// A token bucket for forwarded log lines.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace plugvisor::detail {

/// Admits up to `per_second` lines a second on average, with bursts of up to
/// twice that; counts what it refuses. Not thread-safe (the owner locks).
class LogLimiter {
 public:
  explicit LogLimiter(std::size_t per_second)
      : rate_(static_cast<double>(per_second)), capacity_(2.0 * static_cast<double>(per_second)), tokens_(capacity_) {}

  /// Whether a line at `now` may pass. When it may, `dropped_before` is the
  /// number of lines refused since the last one that passed (then reset).
  bool admit(std::chrono::steady_clock::time_point now, std::uint64_t& dropped_before) {
    if (rate_ <= 0) return true;
    if (started_) {
      std::chrono::duration<double> elapsed = now - last_;
      tokens_ = std::min(capacity_, tokens_ + elapsed.count() * rate_);
    }
    started_ = true;
    last_ = now;
    if (tokens_ < 1.0) {
      ++dropped_since_;
      ++dropped_total_;
      return false;
    }
    tokens_ -= 1.0;
    dropped_before = dropped_since_;
    dropped_since_ = 0;
    return true;
  }

  std::uint64_t dropped_total() const { return dropped_total_; }

 private:
  double rate_;
  double capacity_;
  double tokens_;
  bool started_ = false;
  std::chrono::steady_clock::time_point last_;
  std::uint64_t dropped_since_ = 0;
  std::uint64_t dropped_total_ = 0;
};

}  // namespace plugvisor::detail
