// An httplib::Stream over a connected socket whose first bytes were already
// read by the head gate: cpp-httplib parses the head again from them, then
// reads the rest from the socket.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>
#include <string>

#include <httplib.h>

namespace plugvisor::detail {

/// One request's view of a connection. Not thread-safe; the fd stays open
/// (its owner closes it).
class BufferedStream final : public httplib::Stream {
 public:
  /// `buffered`: bytes already read from `fd`, served first. A read or write
  /// that makes no progress for `timeout` fails.
  BufferedStream(int fd, std::string buffered, std::chrono::milliseconds timeout);

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, std::size_t size) override;
  ssize_t write(const char* ptr, std::size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return fd_; }

  /// The bytes read from the socket but not consumed (a pipelined request).
  std::string take_leftover();
  /// Bytes handed out by read() so far (the buffered ones included).
  std::uint64_t consumed() const noexcept { return consumed_; }
  /// Sees every byte read() hands out, in order (empty: none).
  void set_tap(std::function<void(std::string_view)> tap) { tap_ = std::move(tap); }

 private:
  bool wait(short events) const;
  int fd_;
  std::string buffer_;
  std::size_t pos_ = 0;
  int timeout_ms_;
  std::uint64_t consumed_ = 0;
  std::function<void(std::string_view)> tap_;
};

}  // namespace plugvisor::detail
