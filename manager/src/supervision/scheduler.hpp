// Deferred work for the manager: relaunches after a backoff, hang checks.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace plugvisor::detail {

/// Runs tasks at a given time, each on a thread of its own (a task may take
/// as long as a plugin start). Pending tasks are dropped on destruction;
/// running ones are joined. Thread-safe.
class Scheduler {
 public:
  using Clock = std::chrono::steady_clock;
  Scheduler();
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  /// Runs `task` at `when` (at once if it has passed).
  void at(Clock::time_point when, std::function<void()> task);

 private:
  void run();

  std::mutex mutex_;
  std::condition_variable changed_;
  std::multimap<Clock::time_point, std::function<void()>> pending_;
  std::vector<std::thread> running_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace plugvisor::detail
