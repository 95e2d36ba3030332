// cpp-httplib's server behind the head gate: httplib accepts and routes, the
// gate reads every head (bounded in bytes and time, on one thread), and a
// fixed set of workers runs only admitted requests, within a memory budget
// for their bodies. Between requests the worker that served a kept-alive
// connection keeps it for its next head, with the gate's bounds, until
// another request needs that worker: then the connection waits in the gate.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include <httplib.h>

#include "buffered_stream.hpp"
#include "head_gate.hpp"

namespace plugvisor::detail {

/// The bounds of one listener (docs/operations.md, "Limits under attack").
struct GatedLimits {
  GateLimits gate;
  /// Workers: admitted requests served (or kept connections held) at once.
  std::size_t workers = 16;
  /// The listen backlog (cpp-httplib's own is 5).
  int backlog = 1024;
  /// Bytes of request bodies admitted at once; a request that would pass it
  /// waits for room (one alone is always admitted).
  std::uint64_t body_budget = 128ull << 20;
  /// A read or write of an admitted request that makes no progress this long fails.
  std::chrono::milliseconds io_timeout{10'000};
  /// After a request or answer this large, freed memory goes back to the
  /// system (malloc_trim): large bodies leave no resident memory behind.
  std::uint64_t trim_after = 1 << 20;
};

/// A route served without cpp-httplib, on the project's own HTTP/1.1 codec:
/// the hot path (the call broker) skips httplib's second parse of the head,
/// its regex routing and its header maps. `accepts` looks at the head alone
/// (quick, no I/O); `serve` then reads the body from `stream` (positioned
/// just past the head), writes the whole answer and returns how it went.
struct LeanRoute {
  struct Served {
    bool keep_alive = false;        ///< the connection may carry another request
    std::size_t answer_bytes = 0;   ///< the body written (large ones trim the heap)
  };
  std::function<bool(const http1::RequestHead& head)> accepts;
  std::function<Served(const http1::RequestHead& head, BufferedStream& stream)> serve;
};

/// Set the routes as on any httplib::Server, bind, call widen_backlog(),
/// then listen_after_bind(). Stop with stop(), then stop_workers().
class GatedServer final : public httplib::Server {
 public:
  GatedServer(GatePolicy policy, GatedLimits limits = {});
  ~GatedServer() override;

  /// Requests `route.accepts` go to `route` instead of cpp-httplib. Call
  /// before listening.
  void set_lean_route(LeanRoute route);
  /// After a successful bind: the listen backlog becomes limits.backlog.
  void widen_backlog();
  /// After stop(): closes the gate's connections, wakes workers blocked on a
  /// read and joins them. Idempotent.
  void stop_workers();

 private:
  bool process_and_close_socket(socket_t sock) override;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace plugvisor::detail
