// The reverse proxy: a cpp-httplib server that forwards each request to its
// route's upstream with a cpp-httplib client, running the httpFilter chain
// at the five hooks. No httplib type appears here (its flags change class
// layouts; PITFALLS.md), so the server lives behind a pointer.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "proxy_config.hpp"

namespace proxy {

class ProxyServer {
 public:
  /// `registry` (with the filter plugins) must outlive the server. Throws
  /// plugvisor::Error(config) for a filter the chain refuses.
  ProxyServer(ProxyConfig config, const plugvisor::Registry& registry);
  ~ProxyServer();
  ProxyServer(const ProxyServer&) = delete;
  ProxyServer& operator=(const ProxyServer&) = delete;

  /// Binds the listen address; returns the port bound (the given one, or
  /// the one chosen for port 0). Throws Error(config) if it cannot.
  int bind();
  /// Serves until stop(); call after bind().
  void serve();
  /// Makes serve() return. Safe from any thread, and twice.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace proxy
