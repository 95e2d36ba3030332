#include "floor_client.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include "plugvisor/wire/address.hpp"

#include "floor_wire.hpp"

namespace plugvisor::bench {

namespace {

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what + ": " + std::strerror(errno)); }

void reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

FloorServer::FloorServer(const std::filesystem::path& program, const std::string& unix_path,
                         const std::string& relay_to)
    : tcp_(unix_path.empty()) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) fail("pipe");
  pid_ = ::fork();
  if (pid_ < 0) fail("fork");
  if (pid_ == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    const char* argv[] = {program.c_str(), tcp_ ? "tcp" : relay_to.empty() ? "unix" : "relay",
                          tcp_ ? nullptr : unix_path.c_str(), relay_to.empty() ? nullptr : relay_to.c_str(), nullptr};
    ::execv(program.c_str(), const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  stdin_fd_ = in[1];
  char c;
  while (::read(out[0], &c, 1) == 1 && c != '\n') address_.push_back(c);
  ::close(out[0]);
  if (address_.empty()) {
    ::close(stdin_fd_);
    reap(pid_);
    throw std::runtime_error("bench-floor-server did not start (" + program.string() + ")");
  }
}

FloorServer::~FloorServer() {
  ::close(stdin_fd_);
  reap(pid_);
}

FloorClient::FloorClient(const FloorServer& server) {
  if (server.tcp()) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) fail("socket");
    auto parsed = plugvisor::wire::parse_plugin_tcp_address(server.address(), /*any_port=*/false);
    if (!parsed) throw std::runtime_error("floor server address " + server.address() + " " + parsed.problem);
    socklen_t size = 0;
    sockaddr_storage addr = parsed.address.socket_address(size);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), size) != 0) fail("connect");
    int yes = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
  } else {
    connect_unix(server.address());
  }
}

FloorClient::FloorClient(const std::string& unix_path) { connect_unix(unix_path); }

void FloorClient::connect_unix(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) throw std::runtime_error("floor socket path too long: " + path);
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) fail("socket");
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fail("connect");
}

FloorClient::~FloorClient() { ::close(fd_); }

void FloorClient::call(const std::string& frame) {
  if (!wire::write_all(fd_, frame.data(), frame.size())) fail("floor write");
  auto length = wire::read_frame(fd_, buffer_);
  if (length < 0 || static_cast<std::size_t>(length) + wire::header_size != frame.size()) {
    throw std::runtime_error("floor: short echo");
  }
}

std::string make_frame(std::size_t size) {
  std::string frame(wire::header_size + size, 'x');
  wire::put_length(frame.data(), static_cast<std::uint32_t>(size));
  return frame;
}

std::chrono::nanoseconds time_spawn_to_first_line(const std::filesystem::path& program,
                                                  const std::vector<std::string>& env) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) fail("pipe");
  const char* argv[] = {program.c_str(), nullptr};
  std::vector<const char*> envp;
  for (const auto& e : env) envp.push_back(e.c_str());
  envp.push_back(nullptr);
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  if (pid < 0) fail("fork");
  if (pid == 0) {
    ::dup2(out[1], 1);
    if (env.empty()) {
      ::execv(program.c_str(), const_cast<char* const*>(argv));
    } else {
      ::execve(program.c_str(), const_cast<char* const*>(argv), const_cast<char* const*>(envp.data()));
    }
    ::_exit(127);
  }
  ::close(out[1]);
  char buffer[256];
  bool line = false;
  while (!line) {
    ssize_t n = ::read(out[0], buffer, sizeof buffer);
    if (n <= 0) break;
    line = std::memchr(buffer, '\n', static_cast<std::size_t>(n)) != nullptr;
  }
  auto elapsed = std::chrono::steady_clock::now() - t0;
  ::close(out[0]);
  reap(pid);
  if (!line) throw std::runtime_error("no line from " + program.string());
  return elapsed;
}

}  // namespace plugvisor::bench
