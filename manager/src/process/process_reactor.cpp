#include "process/process_reactor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <utility>

#include "plugvisor/contracts.hpp"
#include "process/child_start.hpp"

namespace plugvisor::detail {

namespace {

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

}  // namespace

ProcessReactor::ProcessReactor() {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) throw Error(ErrorCode::internal, std::string("eventfd: ") + std::strerror(errno));
  link_ = std::make_shared<Link>();
  link_->reactor = this;
  thread_ = std::thread([this] { run(); });
}

ProcessReactor::~ProcessReactor() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake();
  thread_.join();
  {
    std::lock_guard lock(link_->mutex);
    link_->reactor = nullptr;
  }
  for (auto& r : returned_) ::close(r.fd);  // given back after the thread stopped
  ::close(wake_fd_);
}

void ProcessReactor::give_back(std::shared_ptr<ChildProcess> child, int fd) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      ::close(fd);  // the children are being killed: no more log lines
      return;
    }
    returned_.push_back(Returned{std::move(child), fd});
  }
  // Woken after the unlock: on one CPU, the reactor thread would otherwise
  // run at once only to block on mutex_ (two more switches per launch).
  wake();
}

void ProcessReactor::adopt(Returned& returned) {
  // The log lines read with the handshake go out here, on this thread, as all others.
  auto& child = *returned.child;
  if (!child.stdout_rest_.empty()) child.on_output(false, std::exchange(child.stdout_rest_, {}));
  for (auto& w : watched_) {
    if (w.child == returned.child) {
      w.out_fd = returned.fd;
      return;
    }
  }
  // Reaped meanwhile: read what it left, as finish() does for the others.
  Watched gone{returned.child, returned.fd, -1};
  finish(gone);
}

void ProcessReactor::wake() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

std::shared_ptr<ChildProcess> ProcessReactor::spawn(SpawnSpec spec) {
  std::future<std::shared_ptr<ChildProcess>> result;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) throw Error(ErrorCode::unavailable, "the manager is shutting down");
    requests_.push_back(Request{std::move(spec), {}});
    result = requests_.back().result.get_future();
  }
  wake();
  return result.get();
}

void ProcessReactor::launch(Request& request) {
  const SpawnSpec& spec = request.spec;
  std::vector<std::string> argv_strings{spec.path};
  argv_strings.insert(argv_strings.end(), spec.args.begin(), spec.args.end());
  std::vector<char*> argv, envp;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = spec.env;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);

  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, status[2] = {-1, -1};
  auto close_all = [&] {
    for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1], status[0], status[1]}) {
      if (fd >= 0) ::close(fd);
    }
  };
  bool pipes_ok = ::pipe2(out, O_CLOEXEC) == 0 && ::pipe2(err, O_CLOEXEC) == 0 && ::pipe2(status, O_CLOEXEC) == 0;
  if (pipes_ok) {
    if (spec.pipe_stdin) {
      pipes_ok = ::pipe2(in, O_CLOEXEC) == 0;
    } else {
      in[0] = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      pipes_ok = in[0] >= 0;
    }
  }
  if (!pipes_ok) {
    int code = errno;
    close_all();
    throw Error(ErrorCode::start_failed, "cannot launch " + spec.path + ": " + std::strerror(code));
  }

  // The child's first input goes in before it exists: it reads it as soon as
  // it is ready, instead of waiting until the thread that launched it runs.
  std::size_t stdin_written = 0;
  if (in[1] >= 0 && !spec.stdin_data.empty()) {
    set_nonblocking(in[1]);
    ssize_t n = ::write(in[1], spec.stdin_data.data(), spec.stdin_data.size());  // we hold the read end: no EPIPE
    stdin_written = n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  pid_t pid = start_child(spec, argv.data(), envp.data(), ChildFds{in[0], out[1], err[1], status[1]});
  if (pid < 0) {
    int code = errno;
    close_all();
    throw Error(ErrorCode::start_failed, "cannot create a process for " + spec.path + ": " + std::strerror(code));
  }
  // Also set the group from this side, so a signal sent right away reaches it.
  ::setpgid(pid, pid);
  for (int* fd : {&in[0], &out[1], &err[1], &status[1]}) {
    ::close(*fd);
    *fd = -1;
  }
  char report[sizeof(ChildFailure) + 256] = {};
  ssize_t got = 0;
  while (true) {  // until EOF: the exec closed the pipe, or the child wrote and exited
    ssize_t n = ::read(status[0], report + got, sizeof report - 1 - static_cast<std::size_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += n;
  }
  ::close(status[0]);
  status[0] = -1;
  if (got > 0) {
    ChildFailure failure{};
    std::memcpy(&failure, report, std::min(static_cast<std::size_t>(got), sizeof failure));
    std::string detail = got > static_cast<ssize_t>(sizeof failure) ? std::string(report + sizeof failure) : "";
    ::waitpid(pid, nullptr, 0);
    close_all();
    throw Error(ErrorCode::start_failed, std::string("cannot ") + child_step_name(failure.step) + " " + spec.path +
                                             (detail.empty() ? "" : " (" + detail + ")") + ": " +
                                             std::strerror(failure.error));
  }

  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    close_all();
    throw Error(ErrorCode::start_failed, std::string("pidfd_open: ") + std::strerror(errno));
  }
  ::fcntl(pidfd, F_SETFD, FD_CLOEXEC);
  set_nonblocking(out[0]);
  set_nonblocking(err[0]);
  if (in[1] >= 0) set_nonblocking(in[1]);
  const bool lend_stdout = request.spec.stdout_mode == StdoutMode::handshake;
  auto child = std::make_shared<ChildProcess>(pid, pidfd, in[1], std::move(request.spec), stdin_written);
  if (lend_stdout) {
    // The owner reads the handshake line itself (wait_first_line) and gives
    // stdout back; until then this thread leaves it alone.
    child->lent_stdout_fd_ = out[0];
    child->give_back_stdout_ = [link = link_, weak = std::weak_ptr<ChildProcess>(child)](int fd) {
      std::lock_guard lock(link->mutex);
      auto owner = weak.lock();
      if (link->reactor && owner) {
        link->reactor->give_back(std::move(owner), fd);
      } else {
        ::close(fd);
      }
    };
  }
  watched_.push_back(Watched{child, lend_stdout ? -1 : out[0], err[0]});
  request.result.set_value(std::move(child));
}

bool ProcessReactor::drain(Watched& watched, bool is_stderr) {
  int& fd = is_stderr ? watched.err_fd : watched.out_fd;
  if (fd < 0) return false;
  char buffer[16384];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      watched.child->on_output(is_stderr, std::string_view(buffer, static_cast<std::size_t>(n)));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return true;
    watched.child->on_output(is_stderr, {});  // end of stream: flush the last partial line
    ::close(fd);
    fd = -1;
    return false;
  }
}

void ProcessReactor::finish(Watched& watched) {
  // The child has exited: take what it wrote, then close our ends even if a
  // grandchild still holds the pipes.
  drain(watched, false);
  drain(watched, true);
  for (int* fd : {&watched.out_fd, &watched.err_fd}) {
    if (*fd >= 0) {
      watched.child->on_output(fd == &watched.err_fd, {});
      ::close(*fd);
      *fd = -1;
    }
  }
}

void ProcessReactor::run() {
  std::vector<pollfd> fds;
  while (true) {
    std::deque<Request> requests;
    std::vector<Returned> returned;
    bool stopping;
    {
      std::lock_guard lock(mutex_);
      requests.swap(requests_);
      returned.swap(returned_);
      stopping = stopping_;
    }
    for (auto& r : returned) adopt(r);
    for (auto& request : requests) {
      if (stopping) {
        request.result.set_exception(
            std::make_exception_ptr(Error(ErrorCode::unavailable, "the manager is shutting down")));
        continue;
      }
      try {
        launch(request);
      } catch (...) {
        request.result.set_exception(std::current_exception());
      }
    }
    if (stopping) break;

    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    for (auto& w : watched_) {
      fds.push_back({w.child->pidfd_, POLLIN, 0});
      fds.push_back({w.out_fd, POLLIN, 0});  // a negative fd is ignored by poll
      fds.push_back({w.err_fd, POLLIN, 0});
    }
    if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) break;
    if (fds[0].revents) {
      std::uint64_t count;
      [[maybe_unused]] auto n = ::read(wake_fd_, &count, sizeof count);
    }
    for (std::size_t i = 0; i < watched_.size(); ++i) {
      auto& w = watched_[i];
      const pollfd* p = &fds[1 + 3 * i];
      if (p[1].revents) drain(w, false);
      if (p[2].revents) drain(w, true);
      if (p[0].revents) {
        finish(w);
        w.child->reap();
      }
    }
    std::erase_if(watched_, [](const Watched& w) { return w.child->exit_status().has_value(); });
  }

  // Shutting down: nothing may outlive the manager.
  for (auto& w : watched_) {
    w.child->close_stdin();
    w.child->signal(SIGKILL);
  }
  for (auto& w : watched_) {
    pollfd p{w.child->pidfd_, POLLIN, 0};
    ::poll(&p, 1, 5000);
    finish(w);
    w.child->reap();
  }
  watched_.clear();
}

}  // namespace plugvisor::detail
