#include "supervision/log_ring.hpp"

namespace plugvisor::detail {

void LogRing::append(std::string_view stream, std::string_view text) {
  LogLine line{0, std::chrono::system_clock::now(), std::string(stream), std::string(text.substr(0, max_text))};
  if (text.size() > max_text) line.text += " [cut]";
  {
    std::lock_guard lock(mutex_);
    line.seq = ++last_seq_;
    lines_.push_back(std::move(line));
    if (lines_.size() > capacity) lines_.pop_front();
  }
  changed_.notify_all();
}

std::vector<LogLine> LogRing::since_locked(std::uint64_t after, std::size_t limit) const {
  std::vector<LogLine> out;
  if (lines_.empty() || after >= last_seq_) return out;
  // seq is contiguous within the ring: index of the first line above `after`.
  std::uint64_t first = lines_.front().seq;
  std::size_t start = after < first ? 0 : static_cast<std::size_t>(after - first + 1);
  for (std::size_t i = start; i < lines_.size() && out.size() < limit; ++i) out.push_back(lines_[i]);
  return out;
}

std::vector<LogLine> LogRing::since(std::uint64_t after, std::size_t limit) const {
  std::lock_guard lock(mutex_);
  return since_locked(after, limit);
}

std::vector<LogLine> LogRing::wait_since(std::uint64_t after, std::size_t limit,
                                         std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [&] { return closed_ || last_seq_ > after; });
  return since_locked(after, limit);
}

void LogRing::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  changed_.notify_all();
}

bool LogRing::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

}  // namespace plugvisor::detail
