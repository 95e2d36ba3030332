#include "gated_server.hpp"

#include <malloc.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <system_error>
#include <thread>
#include <vector>

#include "buffered_stream.hpp"
#include "plugvisor/wire/http1.hpp"

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

using Clock = std::chrono::steady_clock;

// Set by the logger hook when an answer was large (the worker then trims).
thread_local bool large_answer = false;

}  // namespace

struct GatedServer::Impl {
  struct Job {
    int fd = -1;
    std::string buffered;
    std::uint64_t body_bytes = 0;
  };

  // What becomes of a connection after its request.
  enum class After {
    keep,    // kept for the next request (keep()), or back to the gate
    close,   // closed at once: nothing of the request is left unread
    linger,  // closed by the gate once the client has stopped sending
  };

  // A worker thread and what wakes it: a job for it (idle), or a request
  // for the connection it keeps (parked).
  struct Worker {
    int wake_fd = -1;   // eventfd
    bool asked = false;  // parked, and asked to give its connection up (guarded by mutex)
    std::thread thread;
  };

  GatedServer& server;
  GatedLimits limits;
  GatePolicy policy;  // the gate's, applied by a worker to a kept connection's next head
  LeanRoute lean;     // set before listening, read-only after
  std::unique_ptr<HeadGate> gate;
  int listen_fd = -1;

  std::mutex mutex;  // guards the fields below
  std::deque<Job> queue;
  std::uint64_t budget_used = 0;
  std::set<int> serving;          // connections held by workers (serving or kept)
  std::vector<Worker*> idle;      // waiting for a job
  std::vector<Worker*> parked;    // waiting for their kept connection's next head, not yet asked
  bool stopping = false;
  std::vector<std::unique_ptr<Worker>> workers;

  Impl(GatedServer& s, GatePolicy p, GatedLimits l) : server(s), limits(l), policy(std::move(p)) {
    gate = std::make_unique<HeadGate>(
        policy, [this](int fd, std::string buffered, std::uint64_t body_bytes) {
          enqueue({fd, std::move(buffered), body_bytes});
        },
        limits.gate);
    for (std::size_t i = 0; i < limits.workers; ++i) {
      auto worker = std::make_unique<Worker>();
      worker->wake_fd = ::eventfd(0, EFD_CLOEXEC);
      if (worker->wake_fd < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
      workers.push_back(std::move(worker));
    }
    for (auto& worker : workers) worker->thread = std::thread([this, w = worker.get()] { work(*w); });
  }

  static void wake(Worker* worker) {
    if (!worker) return;
    std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(worker->wake_fd, &one, sizeof one);
  }

  bool fits(std::uint64_t body_bytes) const {
    return budget_used == 0 || budget_used + body_bytes <= limits.body_budget;
  }

  // The worker to wake for the queue's first job, if it may start: an idle
  // one, else a parked one, asked to give its connection back to the gate.
  // One wake per change; a worker that takes a job asks again while jobs
  // remain (waking every worker for each request cost more than the
  // request itself on two busy cores). Under the mutex.
  Worker* dispatch() {
    if (queue.empty() || !fits(queue.front().body_bytes)) return nullptr;
    Worker* worker = nullptr;
    if (!idle.empty()) {
      worker = idle.back();  // the one idle the shortest: its stack is warm
      idle.pop_back();
    } else if (!parked.empty()) {
      worker = parked.front();  // parked the longest
      parked.erase(parked.begin());
      worker->asked = true;
    }
    return worker;
  }

  // An admitted request, from the gate or from a worker that cannot take it.
  void enqueue(Job job) {
    Worker* worker = nullptr;
    {
      std::lock_guard guard(mutex);
      if (!stopping) {
        queue.push_back(std::move(job));
        job.fd = -1;
        worker = dispatch();
      }
    }
    if (job.fd >= 0) ::close(job.fd);
    wake(worker);
  }

  // FIFO: the oldest admitted request goes first, when its body fits the
  // budget. After a request a worker keeps its connection for the next one
  // (keep()) while no job waits: that request then costs no hand-off
  // between threads, the gate's nor the queue's.
  void work(Worker& self) {
    std::optional<Job> job = next_job(self);
    while (job) {
      const After after = finish(*job, serve(*job));
      job = after == After::keep ? keep(self, job->fd, std::move(job->buffered)) : std::nullopt;
      if (!job) job = next_job(self);
    }
  }

  // After a request: its budget back; the connection closed, lingered, or kept.
  After finish(Job& job, After after) {
    Worker* next = nullptr;
    {
      std::lock_guard guard(mutex);
      budget_used -= job.body_bytes;
      if (job.body_bytes > 0) next = dispatch();  // room in the budget: the next job may fit now
      if (stopping) after = After::close;
      if (after != After::keep) serving.erase(job.fd);
    }
    wake(next);
    if (after == After::linger) gate->linger(job.fd);
    if (after == After::close) ::close(job.fd);
    return after;
  }

  // Waits, idle, for a job; none once stopping.
  std::optional<Job> next_job(Worker& self) {
    std::unique_lock lock(mutex);
    while (!stopping) {
      if (!queue.empty() && fits(queue.front().body_bytes)) {
        Job job = std::move(queue.front());
        queue.pop_front();
        budget_used += job.body_bytes;
        serving.insert(job.fd);
        Worker* next = dispatch();
        lock.unlock();
        wake(next);
        return job;
      }
      idle.push_back(&self);
      lock.unlock();
      std::uint64_t count;
      while (::read(self.wake_fd, &count, sizeof count) < 0 && errno == EINTR) {
      }
      lock.lock();
      std::erase(idle, &self);  // still there if woken by stop() or a stale count
    }
    return std::nullopt;
  }

  // How a kept connection's wait ended.
  enum class Woken { readable, asked, expired };

  // Waits until `fd` is readable, the worker is asked for, or `deadline`.
  Woken wait_kept(Worker& self, int fd, Clock::time_point deadline) {
    pollfd p[2] = {{fd, POLLIN, 0}, {self.wake_fd, POLLIN, 0}};
    while (true) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return Woken::expired;
      const int n = ::poll(p, 2, static_cast<int>(std::min<long long>(left, 1'000'000)));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Woken::expired;
      if (n == 0) continue;  // the deadline is looked at again
      if (p[1].revents & POLLIN) {
        std::uint64_t count;
        [[maybe_unused]] auto r = ::read(self.wake_fd, &count, sizeof count);
        return Woken::asked;  // or stopping, or a stale count: keep() decides
      }
      return Woken::readable;
    }
  }

  // Keeps `fd` after a request, as the gate would hold it, with the gate's
  // bounds: its next head within the head timeout (counted from now, not
  // per read), at most a head's bytes read, the same policy. An admitted
  // request is the next job of this worker when no job waits and its body
  // fits the budget; otherwise it joins the queue. Anything else (a head
  // the policy answers, a bad head) and the connection itself, when another
  // request needs this worker, go back to the gate, with the time waited.
  std::optional<Job> keep(Worker& self, int fd, std::string in) {
    const auto since = Clock::now();
    const auto deadline = since + limits.gate.head_timeout;
    while (true) {
      http1::RequestHead head;
      const auto parsed = http1::parse_request_head(in, head);
      if (parsed.state == http1::ParseResult::complete) return admit(fd, in, parsed, head, since);
      if (parsed.state == http1::ParseResult::invalid) return to_gate(fd, std::move(in), since);
      Leave leave = Leave::no;
      {
        std::lock_guard guard(mutex);
        leave = leaving(self);
        if (leave == Leave::no && !queue.empty()) leave = Leave::to_gate;  // a request waits: it gets this worker
        if (leave == Leave::no) parked.push_back(&self);
      }
      if (leave == Leave::no) {
        const Woken woken = wait_kept(self, fd, deadline);
        {
          std::lock_guard guard(mutex);
          std::erase(parked, &self);
          leave = leaving(self);
        }
        if (leave == Leave::no && woken == Woken::expired) leave = Leave::close;
        if (leave == Leave::no && woken == Woken::readable && !read_head_bytes(fd, in)) leave = Leave::close;
      }
      if (leave == Leave::close) return drop(fd);
      if (leave == Leave::to_gate) return to_gate(fd, std::move(in), since);
    }
  }

  // Whether a kept connection leaves its worker now, and how. Under the mutex.
  enum class Leave { no, to_gate, close };
  Leave leaving(Worker& self) {
    if (stopping) return Leave::close;
    if (!self.asked) return Leave::no;
    self.asked = false;
    return Leave::to_gate;
  }

  // Reads what is there of a head, never more than a head's limit and one
  // read (the parser refuses beyond); false if the client left.
  static bool read_head_bytes(int fd, std::string& in) {
    const std::size_t room = http1::max_head_bytes + 1 > in.size() ? http1::max_head_bytes + 1 - in.size() : 0;
    const std::size_t want = std::min<std::size_t>(16 * 1024, std::max<std::size_t>(room, 1));
    const std::size_t have = in.size();
    in.resize(have + want);
    const ssize_t n = ::recv(fd, in.data() + have, want, MSG_DONTWAIT);
    in.resize(have + (n > 0 ? static_cast<std::size_t>(n) : 0));
    return n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR));
  }

  // A complete head on a kept connection (`head`: views into `in`): served
  // here, queued, or the gate's.
  std::optional<Job> admit(int fd, std::string& in, const http1::ParseResult& parsed, const http1::RequestHead& head,
                           Clock::time_point since) {
    GateDecision decision;
    try {
      decision = policy(head);
    } catch (...) {
      decision.answer.emplace();  // the gate calls it again and answers its failure
    }
    if (decision.answer) return to_gate(fd, std::move(in), since);
    frame_admitted(in, parsed.size, head);
    Job job{fd, std::move(in), decision.body_bytes};
    {
      std::lock_guard guard(mutex);
      if (!stopping && queue.empty() && fits(job.body_bytes)) {
        budget_used += job.body_bytes;
        return job;
      }
      serving.erase(fd);
    }
    enqueue(std::move(job));
    return std::nullopt;
  }

  std::optional<Job> to_gate(int fd, std::string in, Clock::time_point since) {
    {
      std::lock_guard guard(mutex);
      serving.erase(fd);
    }
    gate->give_back(fd, std::move(in), since);
    return std::nullopt;
  }

  std::optional<Job> drop(int fd) {
    {
      std::lock_guard guard(mutex);
      serving.erase(fd);
    }
    ::close(fd);
    return std::nullopt;
  }


  // One request, on the lean route or through httplib. `job.buffered`
  // becomes the bytes read past it.
  After serve(Job& job) {
    // The framing of the request, from the head the gate checked (the same codec).
    http1::RequestHead head;  // views into job.buffered, which stays as it is meanwhile
    const auto parsed = http1::parse_request_head(job.buffered, head);
    if (lean.accepts && parsed.state == http1::ParseResult::complete && lean.accepts(head)) {
      BufferedStream stream(job.fd, job.buffered.substr(parsed.size), limits.io_timeout);
      LeanRoute::Served served;
      try {
        served = lean.serve(head, stream);
      } catch (...) {
        served = {};  // out of memory or the like: this connection ends, the others go on
      }
      if (job.body_bytes >= limits.trim_after || served.answer_bytes >= limits.trim_after) ::malloc_trim(0);
      job.buffered = stream.take_leftover();
      return served.keep_alive ? After::keep : After::close;
    }
    const std::uint64_t body_starts = parsed.size;
    const std::uint64_t body_ends = body_starts + head.content_length;  // with Framing::length
    BufferedStream stream(job.fd, std::move(job.buffered), limits.io_timeout);
    // A chunked body ends where its coding says: follow what httplib reads.
    std::optional<http1::ChunkedDecoder> chunks;
    if (head.framing == http1::Framing::chunked) {
      chunks.emplace(job.body_bytes);
      stream.set_tap([&chunks, skip = body_starts, data = std::string()](std::string_view bytes) mutable {
        const std::size_t head_part = static_cast<std::size_t>(std::min<std::uint64_t>(skip, bytes.size()));
        skip -= head_part;
        bytes.remove_prefix(head_part);
        while (!bytes.empty() && !chunks->done() && !chunks->failed()) {
          bytes.remove_prefix(chunks->feed(bytes, data));
          data.clear();
        }
      });
    }
    bool closed = false;
    bool ok = false;
    large_answer = false;
    try {
      ok = server.process_request(stream, false, closed, nullptr);
    } catch (...) {
      ok = false;  // out of memory or the like: this connection ends, the others go on
    }
    if (job.body_bytes >= limits.trim_after || large_answer) ::malloc_trim(0);
    stream.set_tap(nullptr);

    // cpp-httplib leaves a body unread when no handler asks for it: a GET's,
    // one its handler answered without reading (a refusal), one refused
    // half-read. Its bytes must not be taken for the next request's head
    // (refused as one, closing the connection under a client that was told
    // keep-alive: cpp-httplib's client then fails with "Write" or "Read").
    // It is read and dropped here, within the bytes admitted for it.
    bool whole = chunks ? chunks->done() : stream.consumed() >= body_ends;
    if (!whole && ok && !closed) whole = chunks ? skip_chunks(stream, *chunks) : skip(stream, body_ends - stream.consumed());
    job.buffered = stream.take_leftover();
    if (!whole) return After::linger;
    return ok && !closed ? After::keep : After::close;
  }

  // Reads and drops `left` bytes; false if they did not come.
  static bool skip(BufferedStream& stream, std::uint64_t left) {
    char sink[16 * 1024];
    while (left > 0) {
      ssize_t n = stream.read(sink, static_cast<std::size_t>(std::min<std::uint64_t>(left, sizeof sink)));
      if (n <= 0) return false;
      left -= static_cast<std::uint64_t>(n);
    }
    return true;
  }

  // Reads and drops the rest of a chunked body (within the decoder's limit)
  // without reading past its end: a pipelined request stays in the stream.
  static bool skip_chunks(BufferedStream& stream, http1::ChunkedDecoder& chunks) {
    char sink[16 * 1024];
    std::string data;
    while (!chunks.done() && !chunks.failed()) {
      // Chunk data in bulk; size lines and the trailer a byte at a time.
      const std::size_t want =
          chunks.data_left() > 0 ? static_cast<std::size_t>(std::min<std::uint64_t>(chunks.data_left(), sizeof sink)) : 1;
      ssize_t n = stream.read(sink, want);
      if (n <= 0) return false;
      chunks.feed(std::string_view(sink, static_cast<std::size_t>(n)), data);
      data.clear();
    }
    return chunks.done();
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
    for (auto& worker : workers) wake(worker.get());  // idle or parked
    for (auto& worker : workers) {
      worker->thread.join();
      ::close(worker->wake_fd);
    }
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
