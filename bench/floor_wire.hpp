// The floor's wire: each message is a 4-byte little-endian length followed by
// that many bytes, sent with one write() of the whole frame. No HTTP, no
// JSON, no allocation per message: the least any request/response transport
// between two processes can cost.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

namespace plugvisor::bench::wire {

inline constexpr std::size_t header_size = 4;

inline void put_length(char* at, std::uint32_t length) { std::memcpy(at, &length, header_size); }

inline std::uint32_t get_length(const char* at) {
  std::uint32_t length = 0;
  std::memcpy(&length, at, header_size);
  return length;
}

/// Writes all of [data, data + size); false on error or a closed peer.
inline bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

/// Reads one frame into `buffer` (header included, grown as needed, never
/// shrunk); returns the payload length, or -1 on end of file or error. A
/// small frame usually takes a single read().
inline std::int64_t read_frame(int fd, std::vector<char>& buffer) {
  if (buffer.size() < 64 * 1024) buffer.resize(64 * 1024);
  std::size_t have = 0;
  std::size_t want = header_size;
  bool know_length = false;
  while (have < want) {
    ssize_t n = ::read(fd, buffer.data() + have, buffer.size() - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    have += static_cast<std::size_t>(n);
    if (!know_length && have >= header_size) {
      know_length = true;
      want = header_size + get_length(buffer.data());
      if (buffer.size() < want) buffer.resize(want);
    }
  }
  return static_cast<std::int64_t>(want - header_size);
}

}  // namespace plugvisor::bench::wire
