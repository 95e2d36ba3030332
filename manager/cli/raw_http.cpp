#include "raw_http.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace plugvisor::cli {

namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

}  // namespace

std::string RawResponse::header(const std::string& name) const {
  auto it = headers.find(lower(name));
  return it == headers.end() ? std::string() : it->second;
}

std::optional<RawConnection> RawConnection::open(const Endpoint& endpoint, std::string& error) {
  int fd = -1;
  int rc = -1;
  if (endpoint.unix_socket) {
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, endpoint.address.c_str(), sizeof addr.sun_path - 1);
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  } else {
    auto colon = endpoint.address.rfind(':');
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(std::atoi(endpoint.address.c_str() + colon + 1)));
    ::inet_pton(AF_INET, endpoint.address.substr(0, colon).c_str(), &addr.sin_addr);
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    int yes = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
  }
  if (rc != 0) {
    error = std::string("connect to ") + endpoint.address + ": " + std::strerror(errno);
    ::close(fd);
    return std::nullopt;
  }
  return RawConnection(fd);
}

RawConnection::RawConnection(RawConnection&& other) noexcept : fd_(other.fd_), buffer_(std::move(other.buffer_)) {
  other.fd_ = -1;
}

RawConnection& RawConnection::operator=(RawConnection&& other) noexcept {
  std::swap(fd_, other.fd_);
  std::swap(buffer_, other.buffer_);
  return *this;
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::send(const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

bool RawConnection::fill(std::chrono::steady_clock::time_point deadline, std::string& error) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  pollfd p{fd_, POLLIN, 0};
  if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
    error = "no answer in time";
    return false;
  }
  char chunk[65536];
  ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
  if (n <= 0) {
    error = n == 0 ? "the plugin closed the connection" : std::string("read failed: ") + std::strerror(errno);
    return false;
  }
  buffer_.append(chunk, static_cast<std::size_t>(n));
  return true;
}

bool RawConnection::wait_readable(std::chrono::milliseconds timeout) {
  if (!buffer_.empty()) return true;
  pollfd p{fd_, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0;
}

std::optional<RawResponse> RawConnection::receive(std::chrono::milliseconds timeout, std::string& error) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::size_t end;
  while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (!fill(deadline, error)) return std::nullopt;
  }
  RawResponse response;
  std::string head = buffer_.substr(0, end);
  buffer_.erase(0, end + 4);
  auto line_end = head.find("\r\n");
  std::string status_line = head.substr(0, line_end);
  if (status_line.rfind("HTTP/1.", 0) != 0 || status_line.size() < 12) {
    error = "not an HTTP response: " + status_line;
    return std::nullopt;
  }
  response.status = std::atoi(status_line.c_str() + 9);
  std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    auto next = head.find("\r\n", pos);
    if (next == std::string::npos) next = head.size();
    std::string line = head.substr(pos, next - pos);
    auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      response.headers[lower(line.substr(0, colon))] = value;
    }
    pos = next + 2;
  }
  if (lower(response.header("transfer-encoding")) == "chunked") {
    while (true) {
      std::size_t line;
      while ((line = buffer_.find("\r\n")) == std::string::npos) {
        if (!fill(deadline, error)) return std::nullopt;
      }
      std::size_t size = std::stoul(buffer_.substr(0, line), nullptr, 16);
      while (buffer_.size() < line + 2 + size + 2) {
        if (!fill(deadline, error)) return std::nullopt;
      }
      response.body.append(buffer_, line + 2, size);
      buffer_.erase(0, line + 2 + size + 2);
      if (size == 0) break;
    }
  } else {
    std::size_t length = std::strtoul(response.header("content-length").c_str(), nullptr, 10);
    while (buffer_.size() < length) {
      if (!fill(deadline, error)) return std::nullopt;
    }
    response.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
  }
  return response;
}

std::string http_request(const std::string& method, const std::string& path, const std::string& body,
                         const std::string& content_type, const std::string& token, bool with_length) {
  std::string request = method + " " + path + " HTTP/1.1\r\nHost: plugin\r\n";
  if (!token.empty()) request += "Authorization: Bearer " + token + "\r\n";
  if (!content_type.empty()) request += "Content-Type: " + content_type + "\r\n";
  if (with_length) request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return request + "\r\n" + body;
}

}  // namespace plugvisor::cli
