// The one thread per manager that launches plugin processes, reads their
// output and reaps them.
#pragma once

#include <sys/types.h>

#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "process/child_process.hpp"

namespace plugvisor::detail {

/// Launches children and watches them. Children are started (vfork, see
/// child_start.hpp) from the reactor's own thread, which lives as long as the
/// reactor: PR_SET_PDEATHSIG is tied to the thread that created the child,
/// so each child gets SIGTERM when it ends (the host died). Every descriptor
/// but the child's stdio is closed in the child.
class ProcessReactor {
 public:
  ProcessReactor();
  /// Kills (SIGKILL) and reaps any child still running, then stops the thread.
  ~ProcessReactor();
  ProcessReactor(const ProcessReactor&) = delete;
  ProcessReactor& operator=(const ProcessReactor&) = delete;

  /// Launches `spec`. Throws Error(start_failed) if it cannot be executed
  /// (missing file, no permission, not an executable format...).
  std::shared_ptr<ChildProcess> spawn(SpawnSpec spec);

 private:
  struct Watched {
    std::shared_ptr<ChildProcess> child;
    int out_fd;
    int err_fd;
  };
  struct Request {
    SpawnSpec spec;
    std::promise<std::shared_ptr<ChildProcess>> result;
  };
  // A child's stdout, given back after its owner read the handshake line.
  struct Returned {
    std::shared_ptr<ChildProcess> child;
    int fd;
  };
  // The way back to the reactor for a lent stdout; cut when the reactor
  // stops, so that a child outliving it closes the descriptor instead.
  struct Link {
    std::mutex mutex;
    ProcessReactor* reactor;
  };

  void run();
  void wake();
  void launch(Request& request);
  void give_back(std::shared_ptr<ChildProcess> child, int fd);
  void adopt(Returned& returned);
  // Reads what is available; returns false at EOF or error.
  bool drain(Watched& watched, bool is_stderr);
  void finish(Watched& watched);

  int wake_fd_ = -1;
  std::mutex mutex_;
  std::deque<Request> requests_;
  std::vector<Returned> returned_;
  std::shared_ptr<Link> link_;
  bool stopping_ = false;
  std::vector<Watched> watched_;  // reactor thread only
  std::thread thread_;
};

}  // namespace plugvisor::detail
