#include "raw_http.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

namespace plugvisor::bench {

namespace {

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what + ": " + std::strerror(errno)); }

int connect_unix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

HandStartedPlugin::HandStartedPlugin(const std::filesystem::path& program, const std::string& id,
                                     const std::string& socket_path, const std::string& token)
    : socket_path_(socket_path) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) fail("pipe");
  pid_ = ::fork();
  if (pid_ < 0) fail("fork");
  if (pid_ == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    int null = ::open("/dev/null", O_WRONLY);  // its log ("shutting down: ...") is not ours to show
    if (null >= 0) ::dup2(null, 2);
    const char* argv[] = {program.c_str(), "--config", "-", nullptr};
    const char* envp[] = {"PLUGVISOR_PROTOCOL=1", nullptr};
    ::execve(program.c_str(), const_cast<char* const*>(argv), const_cast<char* const*>(envp));
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  stdin_fd_ = in[1];
  std::string config = nlohmann::json{{"protocolVersion", 1},
                                      {"id", id},
                                      {"type", "unix"},
                                      {"address", socket_path},
                                      {"idleTimeout", "0"},
                                      {"token", token},
                                      {"maxBodyBytes", 64 << 20},
                                      {"configTypes", nlohmann::json::array()}}
                           .dump() +
                       "\n";
  if (::write(stdin_fd_, config.data(), config.size()) != static_cast<ssize_t>(config.size())) fail("write config");
  std::string handshake;
  char c;
  while (::read(out[0], &c, 1) == 1 && c != '\n') handshake.push_back(c);
  ::close(out[0]);
  if (handshake.empty()) throw std::runtime_error("the plugin printed no handshake: " + program.string());
}

HandStartedPlugin::~HandStartedPlugin() {
  ::close(stdin_fd_);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

RawHttpClient::RawHttpClient(const std::string& socket_path, std::string token) : token_(std::move(token)) {
  for (int attempt = 0; attempt < 500 && fd_ < 0; ++attempt) {
    fd_ = connect_unix(socket_path);
    if (fd_ < 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (fd_ < 0) fail("connect " + socket_path);
  buffer_.resize(64 * 1024);
}

RawHttpClient::~RawHttpClient() { ::close(fd_); }

int RawHttpClient::post(const std::string& target, const std::string& body) { return request("POST", target, body); }

int RawHttpClient::request(const std::string& method, const std::string& target, const std::string& body) {
  std::string head = method + " " + target +
                     " HTTP/1.1\r\nHost: plugin\r\nAuthorization: Bearer " + token_ +
                     "\r\nX-Plugvisor-Deadline-Ms: 30000\r\nContent-Type: application/octet-stream\r\n"
                     "Content-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n";
  iovec iov[2] = {{head.data(), head.size()}, {const_cast<char*>(body.data()), body.size()}};
  iovec* at = iov;
  int count = body.empty() ? 1 : 2;
  while (count > 0) {
    ssize_t n = ::writev(fd_, at, count);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail("writev");
    auto done = static_cast<std::size_t>(n);
    while (count > 0 && done >= at->iov_len) {
      done -= at->iov_len;
      ++at;
      --count;
    }
    if (count > 0) {
      at->iov_base = static_cast<char*>(at->iov_base) + done;
      at->iov_len -= done;
    }
  }
  // The status line and headers.
  std::size_t end;
  while ((end = std::string_view(buffer_.data(), have_).find("\r\n\r\n")) == std::string_view::npos) {
    if (have_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);
    ssize_t n = ::read(fd_, buffer_.data() + have_, buffer_.size() - have_);
    if (n <= 0) fail("read");
    have_ += static_cast<std::size_t>(n);
  }
  std::string_view head_in(buffer_.data(), end + 2);
  int status = std::atoi(head_in.substr(9, 3).data());
  std::size_t length = 0;
  for (std::size_t at_line = 0; (at_line = head_in.find("\r\n", at_line)) != std::string_view::npos;) {
    at_line += 2;
    if (head_in.size() - at_line > 15 && ::strncasecmp(head_in.data() + at_line, "Content-Length:", 15) == 0) {
      length = std::strtoull(head_in.data() + at_line + 15, nullptr, 10);
    }
  }
  const std::size_t start = end + 4;
  const std::size_t first = std::min(length, have_ - start);
  body_.resize(length);
  std::memcpy(body_.data(), buffer_.data() + start, first);
  for (std::size_t got = first; got < length;) {
    ssize_t n = ::read(fd_, body_.data() + got, length - got);
    if (n <= 0) fail("read body");
    got += static_cast<std::size_t>(n);
  }
  const std::size_t consumed = start + first;
  std::memmove(buffer_.data(), buffer_.data() + consumed, have_ - consumed);
  have_ -= consumed;
  return status;
}

}  // namespace plugvisor::bench
