// The head gate: every connection of an admin listener waits here, on one
// thread, until its request head is complete. Nothing is read past the head:
// the gate answers what needs no worker (the health probe, the page, a
// refusal) and hands only admitted requests to the workers. A client without
// the token holds no worker and makes the daemon allocate no body.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "plugvisor/wire/http1.hpp"

namespace plugvisor::detail {

/// An answer the gate writes itself.
struct GateAnswer {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  ///< besides Content-Type/Length and Connection
};

/// What to do with a request whose head is complete.
struct GateDecision {
  /// Set: answered by the gate (without reading any body). Unset: admitted.
  std::optional<GateAnswer> answer;
  /// Bytes of body an admitted request may bring (its Content-Length, or the
  /// route's limit when chunked): the workers' memory budget counts them.
  std::uint64_t body_bytes = 0;
};

/// Decides from the head alone. Called on the gate's thread: must be quick.
using GatePolicy = std::function<GateDecision(const http1::RequestHead& head)>;
/// Receives an admitted connection (non-blocking fd) and the bytes read so
/// far (the head, perhaps some body). Must not block.
using GateHandoff = std::function<void(int fd, std::string buffered, std::uint64_t body_bytes)>;

/// The one rule for an admitted request's bytes before a worker serves it:
/// a request without Content-Length and without chunked coding has no body
/// (RFC 9112 §6.3), and cpp-httplib, which would read a POST's body until
/// the client closes, is told so ("Content-Length: 0" added to the head).
/// `in` starts with the head `head` of `head_size` bytes (views into `in`:
/// they dangle afterwards).
void frame_admitted(std::string& in, std::size_t head_size, const http1::RequestHead& head);

/// The bounds the gate keeps (docs/operations.md, "Limits under attack").
struct GateLimits {
  /// Connections the gate holds at once (waiting for a head, idle between
  /// requests, or being answered). A new one beyond this evicts the one that
  /// has been waiting longest: a flood cannot keep a fresh client out.
  std::size_t max_connections = 256;
  /// From the moment a connection waits for a request to its complete head;
  /// also the limit to write the gate's own answer.
  std::chrono::milliseconds head_timeout{10'000};
};

/// One thread and an epoll set. Thread-safe: add() may be called from any thread.
class HeadGate {
 public:
  HeadGate(GatePolicy policy, GateHandoff handoff, GateLimits limits = {});
  /// Stops and closes every connection it holds.
  ~HeadGate();
  HeadGate(const HeadGate&) = delete;
  HeadGate& operator=(const HeadGate&) = delete;

  /// Takes `fd` (a new connection, or one back from a worker between
  /// requests, with the bytes it read past its request). The gate owns it now.
  void add(int fd, std::string buffered = {});
  /// Takes back `fd` from a worker after a request, with the bytes it read
  /// past it, waiting for its next head since `since` (the head timeout
  /// counts from there). Like add(), without waking the gate when nothing
  /// was read past (it sees the connection's next request all the same).
  void give_back(int fd, std::string leftover, std::chrono::steady_clock::time_point since);
  /// Takes `fd`, answered and to be closed while its client may still be
  /// sending a body: the gate shuts it for writing, drops what still comes
  /// (for at most a second or a MiB, as after its own refusals) and closes
  /// it, so that the client reads its answer instead of a reset.
  void linger(int fd);
  /// Ends the thread and closes every held connection. Idempotent.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace plugvisor::detail
