#include "supervision/scheduler.hpp"

namespace plugvisor::detail {

Scheduler::Scheduler() : thread_([this] { run(); }) {}

Scheduler::~Scheduler() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    pending_.clear();
  }
  changed_.notify_all();
  thread_.join();
  for (auto& worker : running_) worker.join();
}

void Scheduler::at(Clock::time_point when, std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    pending_.emplace(when, std::move(task));
  }
  changed_.notify_all();
}

void Scheduler::run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (pending_.empty()) {
      changed_.wait(lock);
      continue;
    }
    auto next = pending_.begin();
    const auto when = next->first;  // a copy: the node may go while we wait
    if (Clock::now() < when) {
      changed_.wait_until(lock, when);
      continue;
    }
    auto task = std::move(next->second);
    pending_.erase(next);
    running_.emplace_back(std::move(task));
    // Finished workers are joined as new ones start, so threads do not pile up.
    if (running_.size() > 16) {
      auto old = std::move(running_.front());
      running_.erase(running_.begin());
      lock.unlock();
      old.join();
      lock.lock();
    }
  }
}

}  // namespace plugvisor::detail
