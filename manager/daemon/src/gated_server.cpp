#include "gated_server.hpp"

#include <malloc.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
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
      After after = serve(job);
      bool released = job.body_bytes > 0;
      {
        std::lock_guard guard(mutex);
        budget_used -= job.body_bytes;
        serving.erase(job.fd);
        if (stopping) after = After::close;
        released = released && !queue.empty();
      }
      if (released) changed.notify_one();  // room in the budget: the next job may fit now
      if (after == After::keep) {
        gate->give_back(job.fd, std::move(job.buffered));
      } else if (after == After::linger) {
        gate->linger(job.fd);
      } else {
        ::close(job.fd);
      }
    }
  }

  // What becomes of a connection after its request.
  enum class After {
    keep,    // back to the gate for the next request
    close,   // closed at once: nothing of the request is left unread
    linger,  // closed by the gate once the client has stopped sending
  };

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
