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
#include <httplib.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  const std::size_t size = argc > 1 ? std::stoul(argv[1]) : 1024;
  std::string body(size, 'a');
  for (std::size_t i = 0; i < size; ++i) body[i] = static_cast<char>('a' + i % 26);

  httplib::Server server;
  server.set_keep_alive_max_count(1'000'000);  // the default 5 reconnects every 5th request (PITFALLS.md)
  server.set_tcp_nodelay(true);
  server.Get(".*", [&body](const httplib::Request& req, httplib::Response& res) {
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
