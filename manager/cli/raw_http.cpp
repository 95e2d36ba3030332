#include "raw_http.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "plugvisor/wire/address.hpp"
#include "quote.hpp"

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
    auto parsed = wire::parse_plugin_tcp_address(endpoint.address, /*any_port=*/false);
    if (!parsed) {
      error = "address " + endpoint.address + " " + parsed.problem;
      return std::nullopt;
    }
    socklen_t size = 0;
    sockaddr_storage addr = parsed.address.socket_address(size);
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), size);
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

RawConnection::RawConnection(RawConnection&& other) noexcept
    : fd_(other.fd_), closed_(other.closed_), buffer_(std::move(other.buffer_)) {
  other.fd_ = -1;
}

RawConnection& RawConnection::operator=(RawConnection&& other) noexcept {
  std::swap(fd_, other.fd_);
  std::swap(closed_, other.closed_);
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
    closed_ = n == 0;
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
  // The head, skipping any 1xx, through the shared codec (the manager's own rules).
  detail::http1::ResponseHead head;
  detail::http1::ParseResult parsed;
  while (true) {
    while ((parsed = detail::http1::parse_response_head(buffer_, head)).state == detail::http1::ParseResult::incomplete) {
      if (!fill(deadline, error)) return std::nullopt;
    }
    if (parsed.state == detail::http1::ParseResult::invalid) {
      error = std::string("a malformed answer (") + parsed.error + "): " + detail::quote(buffer_.substr(0, 200));
      return std::nullopt;
    }
    if (head.status >= 200) break;
    buffer_.erase(0, parsed.size);
  }
  RawResponse response;
  response.status = head.status;
  for (const auto& h : head.headers) response.headers.emplace(lower(std::string(h.name)), std::string(h.value));
  buffer_.erase(0, parsed.size);  // the head's views are not used past here
  if (!read_body(head.framing, head.content_length, deadline, response.body, error)) return std::nullopt;
  return response;
}

bool RawConnection::read_body(detail::http1::Framing framing, std::uint64_t length,
                              std::chrono::steady_clock::time_point deadline, std::string& body, std::string& error) {
  using detail::http1::Framing;
  if (framing == Framing::length) {
    while (buffer_.size() < length) {
      if (!fill(deadline, error)) return false;
    }
    body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return true;
  }
  if (framing == Framing::chunked) {
    detail::http1::ChunkedDecoder decoder;
    while (true) {
      buffer_.erase(0, decoder.feed(buffer_, body));
      if (decoder.done()) return true;
      if (decoder.failed()) {
        error = "a malformed chunked answer";
        return false;
      }
      if (!fill(deadline, error)) return false;
    }
  }
  // Neither length nor chunks: the body ends when the plugin closes.
  while (fill(deadline, error)) {
  }
  if (!closed_) return false;
  error.clear();
  body.swap(buffer_);
  buffer_.clear();
  return true;
}

std::string http_request(const Endpoint& to, const std::string& method, const std::string& path,
                         const std::string& body, const std::string& content_type, const std::string& token,
                         bool with_length) {
  std::string request = method + " " + path + " HTTP/1.1\r\nHost: " +
                        detail::http1::host_header_value(to.unix_socket, to.address) + "\r\n";
  if (!token.empty()) request += "Authorization: Bearer " + token + "\r\n";
  if (!content_type.empty()) request += "Content-Type: " + content_type + "\r\n";
  if (with_length) request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return request + "\r\n" + body;
}

}  // namespace plugvisor::cli
