// bench-lean: a measuring instrument, not an example. The least a protocol v1
// plugin can be: dataProcessor "lean-echo" served by a hand-written HTTP/1.1
// loop (one read for a small request, the body read straight into a buffer of
// its Content-Length, the response sent with one writev), one thread per
// connection, no lock file, no idle timer. Calling it through the manager
// shows what the manager's side of a call costs by itself; `make bench`
// prints it under "where the time goes".
//
// It implements only what the manager uses: `capabilities`, `--config -`,
// the handshake line, GET /healthz, POST /v1/dataProcessor/lean-echo/processData
// with the bearer token, POST /shutdown, and exit on stdin end of file.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

namespace {

std::string token;

bool send_all(int fd, iovec* iov, int count) {
  while (count > 0) {
    ssize_t n = ::writev(fd, iov, count);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    auto done = static_cast<std::size_t>(n);
    while (count > 0 && done >= iov->iov_len) {
      done -= iov->iov_len;
      ++iov;
      --count;
    }
    if (count > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + done;
      iov->iov_len -= done;
    }
  }
  return true;
}

bool respond(int fd, int status, std::string_view type, std::string_view body, bool close) {
  char head[256];
  int n = std::snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nContent-Type: %.*s\r\nContent-Length: %zu\r\n%s\r\n",
                        status, status == 200 ? "OK" : "Error", static_cast<int>(type.size()), type.data(),
                        body.size(), close ? "Connection: close\r\n" : "");
  iovec iov[2] = {{head, static_cast<std::size_t>(n)}, {const_cast<char*>(body.data()), body.size()}};
  return send_all(fd, iov, body.empty() ? 1 : 2);
}

// The value of header `name` (case-insensitive) in [head, end), or empty.
std::string_view header(std::string_view head, std::string_view name) {
  std::size_t at = 0;
  while ((at = head.find("\r\n", at)) != std::string_view::npos) {
    at += 2;
    if (head.size() - at < name.size() + 1) break;
    if (::strncasecmp(head.data() + at, name.data(), name.size()) == 0 && head[at + name.size()] == ':') {
      std::size_t start = at + name.size() + 1;
      while (start < head.size() && head[start] == ' ') ++start;
      std::size_t stop = head.find("\r\n", start);
      return head.substr(start, stop - start);
    }
  }
  return {};
}

void serve(int fd) {
  std::string buffer(64 * 1024, '\0');
  std::string body;
  std::size_t have = 0;
  while (true) {
    // Read until the end of the headers.
    std::size_t end = std::string_view(buffer.data(), have).find("\r\n\r\n");
    while (end == std::string_view::npos) {
      if (have == buffer.size()) buffer.resize(buffer.size() * 2);
      ssize_t n = ::read(fd, buffer.data() + have, buffer.size() - have);
      if (n <= 0) {
        ::close(fd);
        return;
      }
      have += static_cast<std::size_t>(n);
      end = std::string_view(buffer.data(), have).find("\r\n\r\n");
    }
    std::string_view head(buffer.data(), end + 2);
    std::size_t length = 0;
    auto cl = header(head, "Content-Length");
    for (char c : cl) length = length * 10 + static_cast<std::size_t>(c - '0');
    // The body: what came with the headers, then straight into place.
    body.resize(length);
    std::size_t start = end + 4;
    std::size_t first = std::min(length, have - start);
    std::memcpy(body.data(), buffer.data() + start, first);
    for (std::size_t got = first; got < length;) {
      ssize_t n = ::read(fd, body.data() + got, length - got);
      if (n <= 0) {
        ::close(fd);
        return;
      }
      got += static_cast<std::size_t>(n);
    }
    const std::string_view line = head.substr(0, head.find("\r\n"));
    const std::size_t consumed = start + first;
    bool ok = true;
    if (line.starts_with("GET /healthz ")) {
      ok = respond(fd, 200, "application/json", R"({"status":"ok"})", false);
    } else if (header(head, "Authorization") != "Bearer " + token) {
      ok = respond(fd, 401, "application/json", R"({"error":{"code":"unauthorized","message":"token"}})", false);
    } else if (line.starts_with("POST /v1/dataProcessor/lean-echo/processData ")) {
      ok = respond(fd, 200, "application/octet-stream", body, false);
    } else if (line.starts_with("POST /shutdown ")) {
      respond(fd, 202, "application/json", R"({"status":"shutting down"})", true);
      std::fflush(nullptr);
      ::_exit(0);
    } else {
      ok = respond(fd, 404, "application/json", R"({"error":{"code":"not_found","message":"no such endpoint"}})",
                   false);
    }
    if (!ok) break;
    // Keep what followed this request (pipelining never happens here, but be exact).
    std::memmove(buffer.data(), buffer.data() + consumed, have - consumed);
    have -= consumed;
  }
  ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "capabilities") {
    std::printf("%s\n", R"({"protocolVersion":1,"name":"bench-lean","version":"1.0.0",)"
                        R"("types":{"dataProcessor":[{"type":"lean-echo"}]}})");
    return 0;
  }
  if (argc != 3 || std::string(argv[1]) != "--config" || std::string(argv[2]) != "-") {
    std::fprintf(stderr, "usage: bench-lean capabilities | --config -\n");
    return 2;
  }
  std::string line;
  std::getline(std::cin, line);
  auto config = nlohmann::json::parse(line);
  token = config.at("token").get<std::string>();
  const bool tcp = config.at("type") == "tcp";
  std::string address = config.at("address").get<std::string>();
  int listener = -1;
  if (tcp) {
    listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return 3;
    socklen_t len = sizeof addr;
    ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
    address = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  } else {
    listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, address.c_str(), address.size() + 1);
    ::unlink(address.c_str());
    if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return 3;
  }
  if (::listen(listener, SOMAXCONN) != 0) return 3;
  std::thread([listener, tcp] {
    while (true) {
      int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      if (tcp) {
        int yes = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
      }
      std::thread(serve, fd).detach();
    }
  }).detach();
  std::printf("%s\n", nlohmann::json{{"protocolVersion", 1},
                                     {"type", tcp ? "tcp" : "unix"},
                                     {"address", address},
                                     {"pid", ::getpid()}}
                          .dump()
                          .c_str());
  std::fflush(stdout);
  char c;
  while (::read(0, &c, 1) > 0) {
  }
  if (!tcp) ::unlink(address.c_str());
  ::_exit(0);
}
