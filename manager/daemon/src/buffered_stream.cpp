#include "buffered_stream.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace plugvisor::detail {

namespace {

// Refills read this much at a time: cpp-httplib reads heads one byte a call.
constexpr std::size_t refill_bytes = 16 * 1024;

void address_of(const sockaddr_storage& addr, std::string& ip, int& port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(addr);
    ::inet_ntop(AF_INET, &in.sin_addr, text, sizeof text);
    port = ntohs(in.sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(addr);
    ::inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof text);
    port = ntohs(in6.sin6_port);
  }
  ip = text;
}

}  // namespace

BufferedStream::BufferedStream(int fd, std::string buffered, std::chrono::milliseconds timeout)
    : fd_(fd), buffer_(std::move(buffered)), timeout_ms_(static_cast<int>(timeout.count())) {}

bool BufferedStream::wait(short events) const {
  pollfd p{fd_, events, 0};
  while (true) {
    int n = ::poll(&p, 1, timeout_ms_);
    if (n < 0 && errno == EINTR) continue;
    return n > 0;
  }
}

bool BufferedStream::is_readable() const { return pos_ < buffer_.size() || wait(POLLIN); }

bool BufferedStream::is_writable() const { return wait(POLLOUT); }

ssize_t BufferedStream::read(char* ptr, std::size_t size) {
  if (pos_ == buffer_.size() && size < refill_bytes) {
    // Refill: one recv serves many one-byte reads of a head.
    buffer_.resize(refill_bytes);
    pos_ = 0;
    ssize_t n = 0;
    while ((n = ::recv(fd_, buffer_.data(), buffer_.size(), MSG_DONTWAIT)) < 0 && (errno == EINTR || errno == EAGAIN)) {
      if (errno == EAGAIN && !wait(POLLIN)) {
        buffer_.clear();
        return -1;
      }
    }
    buffer_.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    if (n <= 0) return n;
  }
  if (pos_ < buffer_.size()) {
    std::size_t n = std::min(size, buffer_.size() - pos_);
    std::memcpy(ptr, buffer_.data() + pos_, n);
    pos_ += n;
    consumed_ += n;
    if (tap_) tap_(std::string_view(ptr, n));
    return static_cast<ssize_t>(n);
  }
  // A large read with nothing buffered goes straight into place.
  ssize_t n = 0;
  while ((n = ::recv(fd_, ptr, size, MSG_DONTWAIT)) < 0 && (errno == EINTR || errno == EAGAIN)) {
    if (errno == EAGAIN && !wait(POLLIN)) return -1;
  }
  if (n > 0) {
    consumed_ += static_cast<std::uint64_t>(n);
    if (tap_) tap_(std::string_view(ptr, static_cast<std::size_t>(n)));
  }
  return n;
}

// Reads and writes try first and wait only when the socket is not ready: a
// poll() before each would be one system call more per request.
ssize_t BufferedStream::write(const char* ptr, std::size_t size) {
  while (true) {
    ssize_t n = ::send(fd_, ptr, size, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0 || (errno != EINTR && errno != EAGAIN)) return n;
    if (errno == EAGAIN && !wait(POLLOUT)) return -1;
  }
}

void BufferedStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) address_of(addr, ip, port);
}

void BufferedStream::get_local_ip_and_port(std::string& ip, int& port) const {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) address_of(addr, ip, port);
}

std::string BufferedStream::take_leftover() {
  std::string rest = buffer_.substr(pos_);
  buffer_.clear();
  pos_ = 0;
  return rest;
}

}  // namespace plugvisor::detail
