// bench-upstream: the upstream behind plugvisor-proxy in the proxy section of
// plugvisor-bench (proxy.cpp). A cpp-httplib server on 127.0.0.1, any free
// port, printed as "listening on 127.0.0.1:PORT"; it stops when its stdin
// closes (the benchmark ended, however it ended).
//
// Every GET answers 200 with a body of BODY bytes (argv[1], default 1024) of
// lower-case letters, and `x-seen`: the names of the request's headers that
// start with "x-", in order, comma-separated, so that the benchmark can check
// that each filter really changed the request (a filter that failed open
// would otherwise only look fast).
//
// With a second argument, the path of bench-floor-server's Unix socket, a GET
// of a path under /rtt/ first makes one raw 64 B round trip to it (a
// connection per server thread): the floor's round trip made inside the
// proxy's pipeline, where the caches hold the proxy's, the client's and
// this server's work, not only the two ends of a ping-pong.
#include <httplib.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "floor_client.hpp"

namespace {

// One 64 B round trip to the floor server at `path`, on a connection per
// server thread; false on any failure (the GET then answers 500, which
// stops the benchmark).
bool floor_round_trip(const std::string& path) {
  static const std::string frame = plugvisor::bench::make_frame(64);
  thread_local std::unique_ptr<plugvisor::bench::FloorClient> client;
  try {
    if (!client) client = std::make_unique<plugvisor::bench::FloorClient>(path);
    client->call(frame);
    return true;
  } catch (const std::exception&) {
    client.reset();
    return false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t size = argc > 1 ? std::stoul(argv[1]) : 1024;
  const std::string floor_socket = argc > 2 ? argv[2] : "";
  std::string body(size, 'a');
  for (std::size_t i = 0; i < size; ++i) body[i] = static_cast<char>('a' + i % 26);

  httplib::Server server;
  server.set_keep_alive_max_count(1'000'000);  // the default 5 reconnects every 5th request (PITFALLS.md)
  server.set_tcp_nodelay(true);
  // A thread per kept-alive connection: more than the proxies of a run can
  // open (cpp-httplib's default pool of 8 would leave a 9th connection
  // waiting for another's keep-alive to time out, 5 s).
  server.new_task_queue = [] { return new httplib::ThreadPool(64); };
  server.Get(".*", [&body, &floor_socket](const httplib::Request& req, httplib::Response& res) {
    if (req.path.rfind("/rtt/", 0) == 0 && (floor_socket.empty() || !floor_round_trip(floor_socket))) {
      res.status = 500;
      res.set_content("bench-upstream: no round trip to the floor server\n", "text/plain");
      return;
    }
    std::string seen;
    for (const auto& [name, value] : req.headers) {
      if (name.size() > 2 && (name[0] == 'x' || name[0] == 'X') && name[1] == '-') {
        if (!seen.empty()) seen += ',';
        seen += name;
      }
    }
    res.set_header("x-seen", seen);
    res.set_content(body, "text/plain");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  if (port < 0) {
    std::fprintf(stderr, "bench-upstream: cannot listen on 127.0.0.1\n");
    return 1;
  }
  std::thread guard([&server] {
    char c;
    while (std::cin.get(c)) {
    }
    server.stop();
  });
  std::cout << "listening on 127.0.0.1:" << port << std::endl;
  server.listen_after_bind();
  guard.join();
  return 0;
}
