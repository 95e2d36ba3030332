// bench-floor-server: the floor the benchmark compares plugvisor with. An
// echo server for length-prefixed frames (floor_wire.hpp), one thread per
// connection, over a Unix socket or loopback TCP (with TCP_NODELAY).
//
//   bench-floor-server unix PATH            serve on PATH (removed first)
//   bench-floor-server tcp                  serve on 127.0.0.1, any free port
//   bench-floor-server relay PATH UPSTREAM  serve on PATH as a relay: each
//       connection gets its own connection to the echo server on the Unix
//       socket UPSTREAM, and each frame is passed on and its echo passed back,
//       with no other work: the floor of any broker (one more process hop)
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

namespace wire = plugvisor::bench::wire;

bool write_frame(int fd, const std::vector<char>& buffer, std::int64_t length) {
  return wire::write_all(fd, buffer.data(), wire::header_size + static_cast<std::size_t>(length));
}

// `upstream` < 0: echo each frame as it came (header and payload in one
// write). Else pass it to `upstream` and its answer back, each in one write.
void serve_connection(int fd, bool tcp, int upstream) {
  if (tcp) {
    int yes = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
  }
  std::vector<char> buffer;
  while (true) {
    std::int64_t length = wire::read_frame(fd, buffer);
    if (length < 0) break;
    if (upstream >= 0) {
      if (!write_frame(upstream, buffer, length) || (length = wire::read_frame(upstream, buffer)) < 0) break;
    }
    if (!write_frame(fd, buffer, length)) break;
  }
  ::close(fd);
  if (upstream >= 0) ::close(upstream);
}

bool unix_address(const std::string& path, sockaddr_un& addr) {
  addr = sockaddr_un{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) return false;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return true;
}

int connect_unix(const std::string& path) {
  sockaddr_un addr{};
  if (!unix_address(path, addr)) return -1;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if ((mode == "unix" && argc != 3) || (mode == "tcp" && argc != 2) || (mode == "relay" && argc != 4) ||
      (mode != "unix" && mode != "tcp" && mode != "relay")) {
    std::fprintf(stderr, "usage: bench-floor-server unix PATH | tcp | relay PATH UPSTREAM_PATH\n");
    return 2;
  }
  const bool tcp = mode == "tcp";
  const std::string relay_to = mode == "relay" ? argv[3] : "";
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
    if (!unix_address(address, addr)) {
      std::fprintf(stderr, "bench-floor-server: socket path too long\n");
      return 2;
    }
    ::unlink(address.c_str());
    if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return fail("bind");
  }
  if (::listen(listener, SOMAXCONN) != 0) return fail("listen");

  std::thread([listener, tcp, relay_to] {
    while (true) {
      int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        return;
      }
      int upstream = -1;
      if (!relay_to.empty() && (upstream = connect_unix(relay_to)) < 0) {
        fail(("connect to " + relay_to).c_str());
        ::close(fd);
        continue;
      }
      std::thread(serve_connection, fd, tcp, upstream).detach();
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
