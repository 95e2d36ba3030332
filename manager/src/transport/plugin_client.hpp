// HTTP to one running plugin instance, with kept-alive connections reused.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "plugvisor/contracts.hpp"
#include "plugvisor/wire/call_mutex.hpp"

namespace plugvisor::detail {

/// An HTTP answer from a plugin.
struct HttpReply {
  int status = 0;
  std::string content_type;
  std::string body;
};

/// Why a request got no answer.
enum class TransportFailure {
  not_delivered,  ///< could not connect (no socket, refused): the plugin never saw it
  lost,           ///< connected, but the answer never came (closed, reset, or timed out)
};

/// Thrown by PluginClient when a request got no HTTP answer.
struct TransportError {
  TransportFailure failure;
  std::string detail;
  bool malformed = false;  ///< bytes came, but not an HTTP/1.x answer (`detail` says what was wrong)
};

/// The outcome of one GET /healthz.
struct HealthAnswer {
  std::optional<HttpReply> reply;  ///< the answer, if an HTTP answer came
  std::string malformed;           ///< non-empty: what came was not HTTP/1.x, and what was wrong with it
  bool ok() const noexcept { return reply && reply->status == 200; }
  /// An answer that asking again will not change: a 4xx other than 408 and
  /// 429, or a malformed answer (a server that refuses the request itself).
  bool definitive_failure() const noexcept {
    if (!malformed.empty()) return true;
    return reply && reply->status >= 400 && reply->status < 500 && reply->status != 408 && reply->status != 429;
  }
};

/// The client side of one plugin instance. Keeps up to `max_idle` connections
/// open for reuse (no limit on requests per connection); thread-safe, each
/// concurrent request on its own connection.
class PluginClient {
 public:
  /// `connections` counts every connection opened (shared with the owner).
  PluginClient(bool unix_socket, std::string address, std::string token,
               std::shared_ptr<std::atomic<std::uint64_t>> connections);
  ~PluginClient();
  PluginClient(const PluginClient&) = delete;
  PluginClient& operator=(const PluginClient&) = delete;

  /// POSTs `payload` to `path` with the token and the deadline header.
  /// Throws TransportError when no answer arrived by `deadline`.
  HttpReply post(const std::string& path, const Payload& payload, std::chrono::steady_clock::time_point deadline);

  /// GET /healthz without the token: the answer, if one came within `timeout`.
  /// Always on a new connection (a busy plugin must still answer it), which
  /// joins the pool when the answer is 200, for the next call.
  HealthAnswer health(std::chrono::milliseconds timeout);

  /// Closes every idle connection (they would keep the plugin's workers busy).
  void close_idle();

  /// The plugin process has exited: ends the calls in flight at once (an
  /// answer already received is still read; then end of file), and every
  /// later call. Without it a call would wait for its deadline whenever a
  /// child the plugin forked still holds the connection. Idempotent.
  void abort_in_flight();

  struct Connection;  ///< one socket and its read buffer (plugin_client.cpp)

 private:
  // A pooled connection (one idle since before `now` - max_idle_time is not
  // reused), or a new one; listed in in_flight_ (under the same lock).
  std::unique_ptr<Connection> acquire(std::chrono::steady_clock::time_point deadline,
                                      std::chrono::steady_clock::time_point now, bool& reused);
  // Pools the connection if `reusable` (else closes it), first taking it off
  // in_flight_ if it was listed there (`in_flight`): one lock for both.
  void release(std::unique_ptr<Connection> connection, bool reusable, bool in_flight) noexcept;
  // With mutex_ held: lists a connection taken for a call (acquire).
  void list_in_flight_locked(int fd);
  std::unique_ptr<Connection> connect(std::chrono::steady_clock::time_point deadline) const;
  // One request and its answer; `now` is a recent reading of the clock (the
  // deadline header and the first write's timeout count from it).
  HttpReply exchange(Connection& connection, std::string_view method, const std::string& path,
                     const Payload* payload, std::chrono::steady_clock::time_point deadline,
                     std::chrono::steady_clock::time_point now, bool& reusable, bool& nothing_sent);

  static constexpr std::size_t max_idle = 8;
  // Plugins may close a connection idle for 5 s (the C++ SDK's and Node's
  // default); one idle for longer than this is not reused, so a reuse never
  // crosses the plugin's close.
  static constexpr auto max_idle_time = std::chrono::seconds(2);

  const bool unix_socket_;
  const std::string address_;
  const std::string token_;
  // The constant header lines of every call (Host and Authorization), and of /healthz (Host).
  std::string fixed_headers_;
  std::string host_header_;
  const std::shared_ptr<std::atomic<std::uint64_t>> connections_;
  plugvisor::wire::CallMutex mutex_;  // taken twice a call (acquire, release)
  std::vector<std::unique_ptr<Connection>> idle_;
  // The sockets of the calls in flight (a socket may appear twice), and
  // whether the process has exited; guarded by mutex_. A socket leaves the
  // list before it is closed, so abort_in_flight never touches a reused number.
  std::vector<int> in_flight_;
  bool aborted_ = false;
};

}  // namespace plugvisor::detail
