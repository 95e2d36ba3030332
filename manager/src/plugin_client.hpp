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

namespace httplib {
class Client;
}

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

  /// GET /healthz without the token; the status, or nullopt if no answer.
  std::optional<HttpReply> health(std::chrono::milliseconds timeout);

  /// Closes every idle connection (they would keep the plugin's workers busy).
  void close_idle();

 private:
  std::unique_ptr<httplib::Client> acquire();
  void release(std::unique_ptr<httplib::Client> client);
  std::unique_ptr<httplib::Client> connect() const;

  struct Pooled {
    std::unique_ptr<httplib::Client> client;
    std::chrono::steady_clock::time_point idle_since;
  };

  static constexpr std::size_t max_idle = 8;
  // Plugins may close a connection idle for 5 s (cpp-httplib's and Node's
  // default); one idle for longer than this is not reused, so a reuse never
  // crosses the plugin's close.
  static constexpr auto max_idle_time = std::chrono::seconds(2);

  const bool unix_socket_;
  const std::string address_;
  const std::string token_;
  const std::shared_ptr<std::atomic<std::uint64_t>> connections_;
  std::mutex mutex_;
  std::vector<Pooled> idle_;
};

}  // namespace plugvisor::detail
