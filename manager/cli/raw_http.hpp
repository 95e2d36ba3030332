// A minimal HTTP/1.1 client over one connection, for the conformance checker:
// it must see exactly what a plugin sends (statuses, headers, closes), and
// send requests the manager would not (no Content-Length, no token). Its
// requests follow the manager's Host rule, and answers are read with the
// shared codec (contracts' http1): a check proves nothing about the manager
// if it is laxer than the manager.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "plugvisor/wire/http1.hpp"

namespace plugvisor::cli {

/// Where a plugin listens: a Unix socket path, or 127.0.0.1:PORT.
struct Endpoint {
  bool unix_socket = true;
  std::string address;
};

/// One response as it arrived.
struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  ///< names lower-cased
  std::string body;
  std::string header(const std::string& name) const;
};

/// One connection. Move-only; closes on destruction.
class RawConnection {
 public:
  /// Connects; returns nullopt and sets `error` if it cannot.
  static std::optional<RawConnection> open(const Endpoint& endpoint, std::string& error);
  RawConnection(RawConnection&& other) noexcept;
  RawConnection& operator=(RawConnection&& other) noexcept;
  ~RawConnection();

  /// Writes all of `bytes`; false if the connection is gone.
  bool send(const std::string& bytes);
  /// Reads one response; nullopt if the peer closed or `timeout` passed first
  /// (`error` says which).
  std::optional<RawResponse> receive(std::chrono::milliseconds timeout, std::string& error);
  /// Waits until bytes (or EOF) can be read, up to `timeout`; returns whether.
  bool wait_readable(std::chrono::milliseconds timeout);

 private:
  explicit RawConnection(int fd) : fd_(fd) {}
  bool fill(std::chrono::steady_clock::time_point deadline, std::string& error);
  bool read_body(detail::http1::Framing framing, std::uint64_t length, std::chrono::steady_clock::time_point deadline,
                 std::string& body, std::string& error);

  int fd_ = -1;
  bool closed_ = false;  ///< the plugin closed its end
  std::string buffer_;
};

/// A request to `to` with the manager's Host (http1::host_header_value),
/// Content-Length (unless `with_length` is false) and, if `token` is
/// non-empty, the bearer token.
std::string http_request(const Endpoint& to, const std::string& method, const std::string& path,
                         const std::string& body, const std::string& content_type, const std::string& token,
                         bool with_length = true);

}  // namespace plugvisor::cli
