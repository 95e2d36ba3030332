// MockServer: the HTTP side of the mock server. A request goes, in order, to
// the first route that matches its method and path (auth, then its data
// source or its body with template tags), else to the responseGenerator with
// the highest offer, else to the httpHandler chain, else 404. A plugin that
// fails answers 502 (504 on a timeout) naming it; the server keeps serving.
#pragma once

#include <memory>
#include <string>

#include "plugvisor/contracts/mock.hpp"
#include "routes_file.hpp"

namespace httplib {
class Server;
}

namespace mockserver {

class MockServer {
 public:
  /// `registry` (the manager's) must outlive the server.
  MockServer(RoutesFile routes, const plugvisor::Registry& registry);
  ~MockServer();

  /// Binds host:port (port 0: any free one); returns the bound port. Throws
  /// plugvisor::Error(config) naming the address when it cannot bind.
  int bind(const std::string& host, int port);
  /// Serves until stop(); blocks.
  void serve();
  /// Stops serve(); safe from any thread, and to call twice.
  void stop();

  /// The answer to one request (what serve() does per request; public for tests).
  plugvisor::http::Response respond(const plugvisor::http::Request& request) const;

 private:
  plugvisor::http::Response serve_route(const Route& route, const std::map<std::string, std::string>& captures,
                                        const plugvisor::http::Request& request) const;
  plugvisor::http::Response serve_data(const Route& route, const std::map<std::string, std::string>& captures,
                                       const plugvisor::http::Request& request, plugvisor::http::Response response) const;

  RoutesFile routes_;
  const plugvisor::Registry& registry_;
  plugvisor::mock::Templates templates_;
  plugvisor::mock::GeneratorChain generators_;
  plugvisor::http::HandlerChain handlers_;
  std::unique_ptr<httplib::Server> server_;
};

}  // namespace mockserver
