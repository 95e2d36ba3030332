#include "daemon_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace plugvisor::bench {

DaemonProcess::DaemonProcess(const std::filesystem::path& program, const std::filesystem::path& plugin_dir,
                             const std::filesystem::path& socket) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  const std::string admin = "PLUGVISOR_ADMIN_SOCKET=" + socket.string();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::dup2(out[1], 1);
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, 0);
    ::dup2(null, 2);  // the daemon logs every call's launch; the table is the output
    ::putenv(const_cast<char*>(admin.c_str()));
    const char* argv[] = {program.c_str(), "serve", "-d", plugin_dir.c_str(), nullptr};
    ::execv(program.c_str(), const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(out[1]);
  std::string line;
  char c;
  while (::read(out[0], &c, 1) == 1 && c != '\n') line.push_back(c);
  ::close(out[0]);
  if (line.rfind("admin socket:", 0) != 0) {
    stop();
    throw std::runtime_error(program.string() + " serve did not start (first line: '" + line + "')");
  }
}

DaemonProcess::~DaemonProcess() { stop(); }

void DaemonProcess::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

std::filesystem::path cli_program() {
  const char* other = std::getenv("BENCH_CLI");
  return other && *other ? std::filesystem::path(other) : std::filesystem::path(PLUGVISOR_BENCH_CLI);
}

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

SchedTimes sched_times(pid_t pid) {
  SchedTimes out;
  std::error_code error;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", error)) {
    std::ifstream in(task.path() / "schedstat");
    double run = 0, wait = 0;
    if (in >> run >> wait) {
      out.run_ns += run;
      out.wait_ns += wait;
    }
  }
  return out;
}

}  // namespace plugvisor::bench
