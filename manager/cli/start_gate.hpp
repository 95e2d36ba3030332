// How many plugin processes the conformance checker starts at a time.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <utility>

namespace plugvisor::cli {

/// The checker's groups run at once, but a process that is starting (an
/// interpreter loading, a runtime warming up) needs a core, and the checks
/// give it a few seconds to print its handshake or exit. A gate lets
/// `width` processes start at a time (one per core): a start ends when its
/// Start is destroyed (the process exited, or printed its handshake) or
/// `allowance` after it began, whichever comes first, so that a process
/// that waits (on stdin, or a slow handshake) does not hold its place. The
/// limit of a check counts from the spawn, which comes after the wait here.
class StartGate {
 public:
  using Clock = std::chrono::steady_clock;

  StartGate(std::size_t width, std::chrono::milliseconds allowance)
      : width_(std::max<std::size_t>(width, 1)), allowance_(allowance) {}
  StartGate(const StartGate&) = delete;
  StartGate& operator=(const StartGate&) = delete;

  /// One start: its place in the gate, given back on destruction.
  class Start {
   public:
    Start(Start&& other) noexcept : gate_(std::exchange(other.gate_, nullptr)), id_(other.id_) {}
    Start(const Start&) = delete;
    Start& operator=(const Start&) = delete;
    Start& operator=(Start&&) = delete;
    ~Start() {
      if (gate_) gate_->finish(id_);
    }

   private:
    friend class StartGate;
    Start(StartGate* gate, std::uint64_t id) : gate_(gate), id_(id) {}
    StartGate* gate_;
    std::uint64_t id_;
  };

  /// Waits until fewer than `width` starts are under way, then begins one.
  Start begin() {
    std::unique_lock lock(mutex_);
    while (true) {
      const auto now = Clock::now();
      std::erase_if(starting_, [&](const auto& entry) { return entry.second <= now; });
      if (starting_.size() < width_) break;
      auto first_end = std::min_element(starting_.begin(), starting_.end(), [](const auto& a, const auto& b) {
                         return a.second < b.second;
                       })->second;
      changed_.wait_until(lock, first_end);
    }
    const std::uint64_t id = next_++;
    starting_.emplace(id, Clock::now() + allowance_);
    return Start(this, id);
  }

 private:
  void finish(std::uint64_t id) {
    {
      std::lock_guard lock(mutex_);
      starting_.erase(id);
    }
    changed_.notify_all();
  }

  const std::size_t width_;
  const std::chrono::milliseconds allowance_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::uint64_t, Clock::time_point> starting_;  ///< start -> the end of its allowance
  std::uint64_t next_ = 0;
};

}  // namespace plugvisor::cli
