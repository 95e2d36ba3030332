#include "gated_server.hpp"

#include <malloc.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "buffered_stream.hpp"

namespace plugvisor::detail {

namespace {

// httplib hands each accepted socket to its task queue: this one runs the
// task at once, on the accepting thread, and the task only gives the socket
// to the gate (process_and_close_socket below).
class InlineQueue final : public httplib::TaskQueue {
 public:
  void enqueue(std::function<void()> fn) override { fn(); }
  void shutdown() override {}
};

// Set by the logger hook when an answer was large (the worker then trims).
thread_local bool large_answer = false;

}  // namespace

struct GatedServer::Impl {
  struct Job {
    int fd = -1;
    std::string buffered;
    std::uint64_t body_bytes = 0;
  };

  GatedServer& server;
  GatedLimits limits;
  std::unique_ptr<HeadGate> gate;
  int listen_fd = -1;

  std::mutex mutex;  // guards the fields below
  std::condition_variable changed;
  std::deque<Job> queue;
  std::uint64_t budget_used = 0;
  std::set<int> serving;
  bool stopping = false;
  std::vector<std::thread> workers;

  Impl(GatedServer& s, GatePolicy policy, GatedLimits l) : server(s), limits(l) {
    gate = std::make_unique<HeadGate>(
        std::move(policy),
        [this](int fd, std::string buffered, std::uint64_t body_bytes) {
          {
            std::lock_guard guard(mutex);
            if (!stopping) {
              queue.push_back({fd, std::move(buffered), body_bytes});
              fd = -1;
            }
          }
          if (fd >= 0) ::close(fd);
          changed.notify_all();
        },
        limits.gate);
    for (std::size_t i = 0; i < limits.workers; ++i) workers.emplace_back([this] { work(); });
  }

  // FIFO: the oldest admitted request goes first, when its body fits the budget.
  void work() {
    while (true) {
      Job job;
      {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] {
          return stopping || (!queue.empty() && (budget_used == 0 ||
                                                 budget_used + queue.front().body_bytes <= limits.body_budget));
        });
        if (stopping) return;
        job = std::move(queue.front());
        queue.pop_front();
        budget_used += job.body_bytes;
        serving.insert(job.fd);
      }
      changed.notify_all();
      bool keep = serve(job);
      {
        std::lock_guard guard(mutex);
        budget_used -= job.body_bytes;
        serving.erase(job.fd);
        keep = keep && !stopping;
      }
      changed.notify_all();
      if (keep) {
        gate->add(job.fd, std::move(job.buffered));
      } else {
        ::close(job.fd);
      }
    }
  }

  // One request through httplib; true if the connection may carry another.
  // `job.buffered` becomes the bytes read past it.
  bool serve(Job& job) {
    BufferedStream stream(job.fd, std::move(job.buffered), limits.io_timeout);
    bool closed = false;
    bool ok = false;
    large_answer = false;
    try {
      ok = server.process_request(stream, false, closed, nullptr);
    } catch (...) {
      ok = false;  // out of memory or the like: this connection ends, the others go on
    }
    if (job.body_bytes >= limits.trim_after || large_answer) ::malloc_trim(0);
    job.buffered = stream.take_leftover();
    return ok && !closed;
  }

  void stop() {
    gate->stop();
    {
      std::lock_guard guard(mutex);
      if (stopping && workers.empty()) return;
      stopping = true;
      // A worker waiting for a body wakes now (reads end), instead of at its timeout.
      for (int fd : serving) ::shutdown(fd, SHUT_RD);
    }
    changed.notify_all();
    for (auto& worker : workers) worker.join();
    workers.clear();
    for (auto& job : queue) ::close(job.fd);
    queue.clear();
  }
};

GatedServer::GatedServer(GatePolicy policy, GatedLimits limits)
    : impl_(std::make_unique<Impl>(*this, std::move(policy), limits)) {
  new_task_queue = [] { return new InlineQueue; };
  set_socket_options([this](socket_t sock) {
    int yes = 1;  // no SO_REUSEPORT (httplib's default): no other process may share the port
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    impl_->listen_fd = sock;
  });
  set_keep_alive_max_count(std::numeric_limits<int>::max());
  set_keep_alive_timeout(std::chrono::duration_cast<std::chrono::seconds>(limits.gate.head_timeout).count());
  set_logger([trim_after = limits.trim_after](const httplib::Request&, const httplib::Response& res) {
    if (res.body.size() >= trim_after) large_answer = true;
  });
}

GatedServer::~GatedServer() { stop_workers(); }

void GatedServer::widen_backlog() {
  if (impl_->listen_fd >= 0) ::listen(impl_->listen_fd, impl_->limits.backlog);
}

void GatedServer::stop_workers() { impl_->stop(); }


bool GatedServer::process_and_close_socket(socket_t sock) {
  impl_->gate->add(sock);
  return true;
}

}  // namespace plugvisor::detail
