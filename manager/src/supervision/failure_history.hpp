// The failures of one plugin within its restart window: backoff and circuit.
#pragma once

#include <algorithm>
#include <chrono>
#include <deque>

#include "plugvisor/manager.hpp"

namespace plugvisor::detail {

/// Remembers when a plugin failed, forgets failures older than the policy's
/// window, and derives the backoff and whether the circuit is open. Not
/// thread-safe (the owner locks).
class FailureHistory {
 public:
  using Clock = std::chrono::steady_clock;

  explicit FailureHistory(RestartPolicy policy) : policy_(policy) {}

  void record(Clock::time_point now) {
    failures_.push_back(now);
    prune(now);
  }

  /// Failures within the window.
  int count(Clock::time_point now) {
    prune(now);
    return static_cast<int>(failures_.size());
  }

  /// True if the failures within the window reach max_failures.
  bool circuit_open(Clock::time_point now) { return policy_.max_failures > 0 && count(now) >= policy_.max_failures; }

  /// The wait before the next launch: initial_backoff doubled for each
  /// failure in the window beyond the first, capped at max_backoff.
  std::chrono::milliseconds backoff(Clock::time_point now) {
    int n = count(now);
    if (n == 0) return std::chrono::milliseconds(0);
    auto wait = policy_.initial_backoff;
    for (int i = 1; i < n && wait < policy_.max_backoff; ++i) wait *= 2;
    return std::min(wait, policy_.max_backoff);
  }

  void clear() { failures_.clear(); }

 private:
  void prune(Clock::time_point now) {
    // Saturating (protocol.md §5.3): a window past the clock's end keeps every failure.
    while (!failures_.empty() && now > protocol::deadline_after(policy_.window, failures_.front())) failures_.pop_front();
  }

  RestartPolicy policy_;
  std::deque<Clock::time_point> failures_;
};

}  // namespace plugvisor::detail
