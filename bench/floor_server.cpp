// bench-floor-server: the floor the benchmark compares plugvisor with. An
// echo server for length-prefixed frames (floor_wire.hpp), one thread per
// connection, over a Unix socket or loopback TCP (with TCP_NODELAY).
//
//   bench-floor-server unix PATH    serve on PATH (removed first)
//   bench-floor-server tcp          serve on 127.0.0.1, any free port
//
// Prints its address (PATH, or 127.0.0.1:PORT) as one line on stdout, then
// serves until stdin reaches end of file.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "floor_wire.hpp"

namespace {

int fail(const char* what) {
  std::fprintf(stderr, "bench-floor-server: %s: %s\n", what, std::strerror(errno));
  return 1;
}

void serve_connection(int fd, bool tcp) {
  if (tcp) {
    int yes = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
  }
  std::vector<char> buffer;
  while (true) {
    std::int64_t length = plugvisor::bench::wire::read_frame(fd, buffer);
    if (length < 0) break;
    // Echo the frame as it came: header and payload in one write.
    if (!plugvisor::bench::wire::write_all(fd, buffer.data(),
                                           plugvisor::bench::wire::header_size + static_cast<std::size_t>(length))) {
      break;
    }
  }
  ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || (std::string(argv[1]) == "unix" && argc != 3) ||
      (std::string(argv[1]) != "unix" && std::string(argv[1]) != "tcp")) {
    std::fprintf(stderr, "usage: bench-floor-server unix PATH | tcp\n");
    return 2;
  }
  const bool tcp = std::string(argv[1]) == "tcp";
  int listener = -1;
  std::string address;
  if (tcp) {
    listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0) return fail("socket");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return fail("bind");
    socklen_t len = sizeof addr;
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
    address = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  } else {
    address = argv[2];
    listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listener < 0) return fail("socket");
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (address.size() >= sizeof addr.sun_path) {
      std::fprintf(stderr, "bench-floor-server: socket path too long\n");
      return 2;
    }
    std::memcpy(addr.sun_path, address.c_str(), address.size() + 1);
    ::unlink(address.c_str());
    if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return fail("bind");
  }
  if (::listen(listener, SOMAXCONN) != 0) return fail("listen");

  std::thread([listener, tcp] {
    while (true) {
      int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;
      }
      std::thread(serve_connection, fd, tcp).detach();
    }
  }).detach();

  std::printf("%s\n", address.c_str());
  std::fflush(stdout);
  char c;
  while (::read(0, &c, 1) > 0) {
  }
  if (!tcp) ::unlink(address.c_str());
  std::fflush(nullptr);
  ::_exit(0);
}
