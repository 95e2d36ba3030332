// Splits a byte stream into lines, holding at most a bounded amount.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace plugvisor::detail {

/// Accumulates bytes and hands out complete lines. A line longer than
/// `max_line` is cut: its first max_line bytes are delivered with a marker,
/// and the rest up to the next newline is dropped (and counted).
class LineBuffer {
 public:
  explicit LineBuffer(std::size_t max_line = 64 * 1024) : max_line_(max_line) {}

  /// Feeds `data`, calling `emit(std::string_view line)` for each complete line.
  template <class Emit>
  void feed(std::string_view data, Emit&& emit) {
    for (char c : data) {
      if (c == '\n') {
        finish(emit);
        continue;
      }
      if (pending_.size() < max_line_) {
        pending_.push_back(c);
      } else {
        ++dropped_;
      }
    }
  }

  /// Delivers what is left as a last line (at end of stream).
  template <class Emit>
  void flush(Emit&& emit) {
    if (!pending_.empty() || dropped_ > 0) finish(emit);
  }

 private:
  template <class Emit>
  void finish(Emit& emit) {
    if (!pending_.empty() && pending_.back() == '\r') pending_.pop_back();
    if (dropped_ > 0) pending_ += " [line cut: " + std::to_string(dropped_) + " more bytes dropped]";
    emit(std::string_view(pending_));
    pending_.clear();
    dropped_ = 0;
  }

  std::size_t max_line_;
  std::string pending_;
  std::size_t dropped_ = 0;
};

}  // namespace plugvisor::detail
