// The threads that serve the plugin's connections: one per open connection,
// started on demand and reused, so that a plugin starts with none, and at
// most a set number of them.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace plugvisor::sdk::detail {

/// Runs `work(fd)` for each submitted connection on a thread of its own: an
/// idle worker if one waits, else a new one. The pool grows to the peak number
/// of simultaneous connections, at most `max_active`, and never shrinks.
/// Thread-safe.
class WorkerPool {
 public:
  WorkerPool(std::function<void(int)> work, std::size_t max_active);
  /// Joins the workers (stop_and_join()).
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  /// Hands `fd` to a worker; `work` owns it from then on. Throws
  /// std::system_error if a thread is needed and cannot be started (the
  /// caller still owns `fd` then).
  void submit(int fd);

  /// Blocks while `max_active` connections are being served; returns once
  /// one more may be submitted, or the pool is stopping.
  void wait_for_room();

  /// Like wait_for_room(), for at most `limit`; returns whether one more may
  /// be submitted now.
  bool wait_for_room(std::chrono::milliseconds limit);

  /// Lets idle workers end and joins every worker, which waits for the ones
  /// still running `work`. Call once no more submit() can come; safe twice.
  void stop_and_join();

 private:
  void run();

  std::function<void(int)> work_;
  const std::size_t max_active_;
  std::mutex mutex_;  // guards the fields below
  std::condition_variable ready_;
  std::condition_variable room_;
  std::deque<int> queue_;
  std::size_t idle_ = 0;
  std::size_t active_ = 0;  // submitted, and work() not yet returned
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace plugvisor::sdk::detail
