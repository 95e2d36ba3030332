// A timed lock built on std::mutex and a condition variable.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace plugvisor::detail {

/// Meets TimedLockable, like std::timed_mutex, for std::unique_lock and
/// std::lock_guard. std::timed_mutex waits with pthread_mutex_clocklock,
/// which ThreadSanitizer does not see (it then reports every unlock as an
/// error); this one waits on a condition variable, which it sees.
class TimedGate {
 public:
  void lock() {
    std::unique_lock guard(mutex_);
    free_.wait(guard, [this] { return !held_; });
    held_ = true;
  }

  bool try_lock() {
    std::lock_guard guard(mutex_);
    if (held_) return false;
    held_ = true;
    return true;
  }

  template <class Clock, class Duration>
  bool try_lock_until(const std::chrono::time_point<Clock, Duration>& deadline) {
    std::unique_lock guard(mutex_);
    if (!free_.wait_until(guard, deadline, [this] { return !held_; })) return false;
    held_ = true;
    return true;
  }

  void unlock() {
    {
      std::lock_guard guard(mutex_);
      held_ = false;
    }
    free_.notify_one();
  }

 private:
  std::mutex mutex_;
  std::condition_variable free_;
  bool held_ = false;
};

}  // namespace plugvisor::detail
