// Instruments for splitting a call's cost between its two sides: the C++
// plugin launched by hand (not by the manager), and a minimal HTTP/1.1
// client for it (one writev per request, the body read straight into place).
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <vector>

namespace plugvisor::bench {

/// A plugin started by hand with `--config -` on a Unix socket, with a known
/// token; stopped (stdin closed, reaped) on destruction.
class HandStartedPlugin {
 public:
  HandStartedPlugin(const std::filesystem::path& program, const std::string& id, const std::string& socket_path,
                    const std::string& token);
  ~HandStartedPlugin();
  HandStartedPlugin(const HandStartedPlugin&) = delete;
  HandStartedPlugin& operator=(const HandStartedPlugin&) = delete;
  const std::string& socket_path() const { return socket_path_; }

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  std::string socket_path_;
};

/// One kept-alive connection speaking just enough HTTP/1.1 for protocol v1.
class RawHttpClient {
 public:
  RawHttpClient(const std::string& socket_path, std::string token);
  ~RawHttpClient();
  RawHttpClient(const RawHttpClient&) = delete;
  RawHttpClient& operator=(const RawHttpClient&) = delete;

  /// POSTs `body` as application/octet-stream to `target`; returns the
  /// status; the response body is in body().
  int post(const std::string& target, const std::string& body);
  /// Any method; a body only when `body` is not empty. Returns the status.
  int request(const std::string& method, const std::string& target, const std::string& body = {});
  const std::string& body() const { return body_; }

 private:
  int fd_ = -1;
  std::string token_;
  std::vector<char> buffer_;
  std::size_t have_ = 0;
  std::string body_;
};

}  // namespace plugvisor::bench
