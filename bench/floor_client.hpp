// The benchmark's side of the floor: starting bench-floor-server and the
// bench-hello program, and a client for the length-prefixed echo.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace plugvisor::bench {

/// A running bench-floor-server; stopped (stdin closed, reaped) on destruction.
class FloorServer {
 public:
  /// `unix_path` empty: loopback TCP. `relay_to` set: a relay on `unix_path`
  /// to the echo server listening on the Unix socket `relay_to`.
  FloorServer(const std::filesystem::path& program, const std::string& unix_path, const std::string& relay_to = "");
  ~FloorServer();
  FloorServer(const FloorServer&) = delete;
  FloorServer& operator=(const FloorServer&) = delete;
  /// The socket path, or 127.0.0.1:PORT.
  const std::string& address() const { return address_; }
  bool tcp() const { return tcp_; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  bool tcp_ = false;
  std::string address_;
};

/// One connection to the floor server: request/response ping-pong.
class FloorClient {
 public:
  explicit FloorClient(const FloorServer& server);
  /// To a floor server listening on the Unix socket `unix_path`.
  explicit FloorClient(const std::string& unix_path);
  ~FloorClient();
  FloorClient(const FloorClient&) = delete;
  FloorClient& operator=(const FloorClient&) = delete;

  /// Sends `frame` (header + payload, see wire::put_length) in one write and
  /// reads the echo; throws if the echo is not the same length.
  void call(const std::string& frame);

 private:
  void connect_unix(const std::string& path);
  int fd_ = -1;
  std::vector<char> buffer_;
};

/// A frame of `size` payload bytes.
std::string make_frame(std::size_t size);

/// fork + exec `program` (no arguments), until its first output line has been
/// read; the child is reaped afterwards, outside the time returned. `env`
/// ("NAME=value") replaces the environment unless empty.
std::chrono::nanoseconds time_spawn_to_first_line(const std::filesystem::path& program,
                                                  const std::vector<std::string>& env = {});

}  // namespace plugvisor::bench
