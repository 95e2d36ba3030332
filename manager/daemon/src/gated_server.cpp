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
  LeanRoute lean;  // set before listening, read-only after
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
          changed.notify_one();
        },
        limits.gate);
    for (std::size_t i = 0; i < limits.workers; ++i) workers.emplace_back([this] { work(); });
  }

  // FIFO: the oldest admitted request goes first, when its body fits the budget.
  // Every waiter waits for the same thing, so each change wakes one of them
  // (notify_one), and a worker that takes a job passes the word on while jobs
  // remain: waking all sixteen for each request cost more than the request
  // itself on two busy cores.
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
        if (!queue.empty()) changed.notify_one();
      }
      bool keep = serve(job);
      bool released = job.body_bytes > 0;
      {
        std::lock_guard guard(mutex);
        budget_used -= job.body_bytes;
        serving.erase(job.fd);
        keep = keep && !stopping;
        released = released && !queue.empty();
      }
      if (released) changed.notify_one();  // room in the budget: the next job may fit now
      if (keep) {
        gate->give_back(job.fd, std::move(job.buffered));
      } else {
        ::close(job.fd);
      }
    }
  }

  // One request through httplib; true if the connection may carry another.
  // `job.buffered` becomes the bytes read past it.
  bool serve(Job& job) {
    if (lean.accepts) {
      http1::RequestHead head;  // views into job.buffered, which stays as it is meanwhile
      auto parsed = http1::parse_request_head(job.buffered, head);
      if (parsed.state == http1::ParseResult::complete && lean.accepts(head)) {
        BufferedStream stream(job.fd, job.buffered.substr(parsed.size), limits.io_timeout);
        LeanRoute::Served served;
        try {
          served = lean.serve(head, stream);
        } catch (...) {
          served = {};  // out of memory or the like: this connection ends, the others go on
        }
        if (job.body_bytes >= limits.trim_after || served.answer_bytes >= limits.trim_after) ::malloc_trim(0);
        job.buffered = stream.take_leftover();
        return served.keep_alive;
      }
    }
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

void GatedServer::set_lean_route(LeanRoute route) { impl_->lean = std::move(route); }

void GatedServer::widen_backlog() {
  if (impl_->listen_fd >= 0) ::listen(impl_->listen_fd, impl_->limits.backlog);
}

void GatedServer::stop_workers() { impl_->stop(); }


bool GatedServer::process_and_close_socket(socket_t sock) {
  impl_->gate->add(sock);
  return true;
}

}  // namespace plugvisor::detail
