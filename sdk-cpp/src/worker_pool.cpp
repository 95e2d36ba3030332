#include "worker_pool.hpp"

namespace plugvisor::sdk::detail {

WorkerPool::WorkerPool(std::function<void(int)> work, std::size_t max_active)
    : work_(std::move(work)), max_active_(max_active) {}

WorkerPool::~WorkerPool() { stop_and_join(); }

void WorkerPool::submit(int fd) {
  std::lock_guard lock(mutex_);
  // Each queued connection needs a worker of its own: start one unless enough
  // are waiting already. (Started before the push: if it cannot be, nothing
  // was queued.)
  if (idle_ > queue_.size()) {
    queue_.push_back(fd);
    ready_.notify_one();
  } else {
    threads_.emplace_back([this] { run(); });
    queue_.push_back(fd);
  }
  ++active_;
}

void WorkerPool::wait_for_room() {
  std::unique_lock lock(mutex_);
  room_.wait(lock, [this] { return active_ < max_active_ || stopping_; });
}

bool WorkerPool::wait_for_room(std::chrono::milliseconds limit) {
  std::unique_lock lock(mutex_);
  return room_.wait_for(lock, limit, [this] { return active_ < max_active_ || stopping_; }) && !stopping_;
}

void WorkerPool::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    ++idle_;
    ready_.wait(lock, [this] { return !queue_.empty() || stopping_; });
    --idle_;
    if (queue_.empty()) return;  // stopping
    int fd = queue_.front();
    queue_.pop_front();
    lock.unlock();
    work_(fd);
    lock.lock();
    --active_;
    room_.notify_one();
  }
}

void WorkerPool::stop_and_join() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    ready_.notify_all();
    room_.notify_all();
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
}

}  // namespace plugvisor::sdk::detail
