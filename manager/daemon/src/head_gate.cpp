#include "head_gate.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <thread>
#include <system_error>
#include <unordered_map>

#include "plugvisor/contracts.hpp"

namespace plugvisor::detail {

namespace {

using Clock = std::chrono::steady_clock;

// Reads of a head, at most this much at a time.
constexpr std::size_t read_bytes = 16 * 1024;
// After a refusal the gate stops writing and drops what the client still
// sends for this long, or this many bytes, so that the client reads the
// answer rather than a reset; then it closes.
constexpr auto drain_time = std::chrono::seconds(1);
constexpr std::size_t drain_bytes = 1 << 20;
// How often deadlines are looked at.
constexpr int tick_ms = 100;

struct Connection {
  std::string in;   // read, not yet consumed: a head in the making
  std::string out;  // the gate's answer, being written
  std::size_t out_pos = 0;
  bool close_after = false;  // once `out` is written: shut down, drain, close
  bool draining = false;
  std::size_t drained = 0;
  bool want_write = false;  // EPOLLOUT registered
  Clock::time_point waiting_since;
  Clock::time_point deadline;
};

GateAnswer bad_head(const http1::ParseResult& parsed) {
  return {parsed.status, "application/json",
          protocol::error_body(ErrorCode::invalid_input, std::string("bad request: ") + parsed.error).dump() + "\n",
          {}};
}

}  // namespace

void frame_admitted(std::string& in, std::size_t head_size, const http1::RequestHead& head) {
  if (head.framing != http1::Framing::length || head.has_content_length || head.method == "GET" ||
      head.method == "HEAD") {
    return;
  }
  const std::size_t blank = in[head_size - 2] == '\r' ? head_size - 2 : head_size - 1;
  in.insert(blank, "Content-Length: 0\r\n");
}

struct HeadGate::Impl {
  GatePolicy policy;
  GateHandoff handoff;
  GateLimits limits;
  int epoll_fd = -1;
  int wake_fd = -1;

  // A connection given to the gate, not yet in `connections`.
  struct Arrival {
    int fd;
    std::string buffered;
    bool in_epoll;  // add() registered it already (nothing buffered): no wake was needed
    bool linger;    // answered and to be closed: drained, not read for a head
    Clock::time_point since;  // waiting for a head since
  };
  std::mutex mutex;  // guards inbox and stopped
  std::vector<Arrival> inbox;
  bool stopped = false;

  // A connection for the inbox. One back from a worker with nothing read
  // past its request is put in the epoll set here, on the worker's thread,
  // and the gate is not woken: its next wake (at the latest the connection's
  // next request, or the tick) takes the inbox first. The inbox goes before
  // the epoll set, under the mutex, so that no event comes for a connection
  // the inbox lacks. This saves the gate a wake per request; at most one
  // connection per worker waits so. New connections always wake the gate,
  // which bounds them (max_connections) at once.
  void arrive(int fd, std::string buffered, bool from_worker, bool linger = false,
              Clock::time_point since = Clock::now()) {
    bool wake = true;
    {
      std::lock_guard guard(mutex);
      if (stopped) {
        ::close(fd);
        return;
      }
      bool in_epoll = false;
      if (from_worker && buffered.empty() && !linger) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd;
        in_epoll = ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) == 0;
      }
      wake = !in_epoll;
      inbox.push_back({fd, std::move(buffered), in_epoll, linger, since});
    }
    if (!wake) return;
    std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(wake_fd, &one, sizeof one);
  }

  std::unordered_map<int, Connection> connections;  // the gate's thread only
  std::thread thread;

  // Hands `fd` to the gate's thread (closes it if the gate has stopped).
  void post(int fd, std::string buffered, bool linger);

  void run() {
    epoll_event events[64];
    while (true) {
      int n = ::epoll_wait(epoll_fd, events, 64, tick_ms);
      if (!take_inbox()) break;
      for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == wake_fd) {
          std::uint64_t count;
          [[maybe_unused]] auto r = ::read(wake_fd, &count, sizeof count);
          continue;
        }
        if (!connections.contains(fd)) continue;
        if (events[i].events & EPOLLOUT) on_writable(fd);
        if (connections.contains(fd) && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) on_readable(fd);
      }
      expire();
    }
    while (!connections.empty()) close_connection(connections.begin()->first);
  }

  // Registers new connections; false once stopped.
  bool take_inbox() {
    std::vector<Arrival> arrived;
    {
      std::lock_guard guard(mutex);
      if (stopped) return false;
      arrived.swap(inbox);
    }
    for (auto& [fd, buffered, in_epoll, linger, since] : arrived) {
      if (connections.size() >= limits.max_connections) evict_oldest();
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.fd = fd;
      if (!in_epoll && ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        ::close(fd);
        continue;
      }
      Connection& c = connections[fd];
      c.waiting_since = since;
      if (linger) {
        ::shutdown(fd, SHUT_WR);
        c.draining = true;
        c.deadline = c.waiting_since + drain_time;
        continue;
      }
      c.in = std::move(buffered);
      c.deadline = c.waiting_since + limits.head_timeout;
      if (!c.in.empty()) process(fd);  // a pipelined request, already here
    }
    return true;
  }

  void evict_oldest() {
    auto oldest = connections.begin();
    for (auto it = connections.begin(); it != connections.end(); ++it) {
      if (it->second.waiting_since < oldest->second.waiting_since) oldest = it;
    }
    if (oldest != connections.end()) close_connection(oldest->first);
  }

  void expire() {
    auto now = Clock::now();
    std::vector<int> late;
    for (const auto& [fd, c] : connections) {
      if (now >= c.deadline) late.push_back(fd);
    }
    for (int fd : late) close_connection(fd);
  }

  void close_connection(int fd) {
    ::close(fd);  // leaves the epoll set with it
    connections.erase(fd);
  }

  void on_readable(int fd) {
    Connection& c = connections.at(fd);
    if (c.draining) {
      char sink[read_bytes];
      ssize_t n = ::recv(fd, sink, sizeof sink, MSG_DONTWAIT);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      c.drained += n > 0 ? static_cast<std::size_t>(n) : 0;
      if (n <= 0 || c.drained >= drain_bytes) close_connection(fd);
      return;
    }
    if (!c.out.empty()) return;  // the answer goes first; a pipelined head waits in the socket
    // Never more than a head's limit and one read: the parser refuses beyond.
    std::size_t room = http1::max_head_bytes + 1 > c.in.size() ? http1::max_head_bytes + 1 - c.in.size() : 0;
    std::size_t want = std::min(read_bytes, std::max<std::size_t>(room, 1));
    std::size_t have = c.in.size();
    c.in.resize(have + want);
    ssize_t n = ::recv(fd, c.in.data() + have, want, MSG_DONTWAIT);
    c.in.resize(have + (n > 0 ? static_cast<std::size_t>(n) : 0));
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) return close_connection(fd);  // the client left
    process(fd);
  }

  // Looks at the head in `in`: waits for more, answers, or hands over.
  void process(int fd) {
    Connection& c = connections.at(fd);
    if (!c.out.empty() || c.draining) return;
    http1::RequestHead head;
    http1::ParseResult parsed = http1::parse_request_head(c.in, head);
    if (parsed.state == http1::ParseResult::incomplete) return;
    if (parsed.state == http1::ParseResult::invalid) return answer(fd, bad_head(parsed), false, true);
    GateDecision decision;
    try {
      decision = policy(head);
    } catch (const std::exception& e) {
      GateAnswer failed{500, "application/json",
                        protocol::error_body(ErrorCode::internal, std::string("the daemon failed on this request: ") +
                                                                      e.what())
                                .dump() + "\n",
                        {}};
      return answer(fd, failed, false, true);
    }
    if (!decision.answer) {
      // Admitted: the connection leaves the gate with what it read.
      frame_admitted(c.in, parsed.size, head);
      std::string buffered = std::move(c.in);
      ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
      connections.erase(fd);
      handoff(fd, std::move(buffered), decision.body_bytes);
      return;
    }
    // Answered from the head: an unread body ends the connection.
    const bool has_body = head.framing == http1::Framing::chunked || head.content_length > 0;
    const bool close = has_body || !head.keep_alive;
    const bool head_only = head.method == "HEAD";
    c.in.erase(0, parsed.size);
    answer(fd, *decision.answer, head_only, close);
  }

  void answer(int fd, const GateAnswer& a, bool head_only, bool close) {
    Connection& c = connections.at(fd);
    std::vector<http1::Header> fields{{"Content-Type", a.content_type}};
    for (const auto& [name, value] : a.headers) fields.push_back({name, value});
    if (close) fields.push_back({"Connection", "close"});
    c.out.clear();
    http1::append_response_head(c.out, a.status, fields, a.body.size());
    if (!head_only) c.out += a.body;
    c.out_pos = 0;
    c.close_after = close;
    if (close) c.in.clear();
    c.deadline = Clock::now() + limits.head_timeout;  // to write it
    on_writable(fd);
  }

  void on_writable(int fd) {
    Connection& c = connections.at(fd);
    while (c.out_pos < c.out.size()) {
      ssize_t n = ::send(fd, c.out.data() + c.out_pos, c.out.size() - c.out_pos, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return watch(fd, c, true);
      if (n <= 0) return close_connection(fd);
      c.out_pos += static_cast<std::size_t>(n);
    }
    if (c.out.empty()) return watch(fd, c, false);
    c.out.clear();
    c.out_pos = 0;
    watch(fd, c, false);
    if (c.close_after) {
      ::shutdown(fd, SHUT_WR);
      c.draining = true;
      c.deadline = Clock::now() + drain_time;
      return;
    }
    c.waiting_since = Clock::now();
    c.deadline = c.waiting_since + limits.head_timeout;
    process(fd);  // a pipelined head may be here already
  }

  void watch(int fd, Connection& c, bool write) {
    if (c.want_write == write) return;
    c.want_write = write;
    // While an answer waits for room, reading waits too: level-triggered
    // EPOLLIN on a pipelining client would otherwise spin.
    epoll_event ev{};
    ev.events = write ? EPOLLOUT : EPOLLIN;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, fd, &ev);
  }
};

HeadGate::HeadGate(GatePolicy policy, GateHandoff handoff, GateLimits limits) : impl_(std::make_unique<Impl>()) {
  impl_->policy = std::move(policy);
  impl_->handoff = std::move(handoff);
  impl_->limits = limits;
  impl_->epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  impl_->wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (impl_->epoll_fd < 0 || impl_->wake_fd < 0) throw std::system_error(errno, std::generic_category(), "epoll");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = impl_->wake_fd;
  ::epoll_ctl(impl_->epoll_fd, EPOLL_CTL_ADD, impl_->wake_fd, &ev);
  impl_->thread = std::thread([this] { impl_->run(); });
}

HeadGate::~HeadGate() {
  stop();
  ::close(impl_->epoll_fd);
  ::close(impl_->wake_fd);
}

void HeadGate::add(int fd, std::string buffered) { impl_->arrive(fd, std::move(buffered), false); }

void HeadGate::give_back(int fd, std::string leftover, Clock::time_point since) {
  impl_->arrive(fd, std::move(leftover), true, false, since);
}

void HeadGate::linger(int fd) { impl_->arrive(fd, {}, false, true); }

void HeadGate::stop() {
  {
    std::lock_guard guard(impl_->mutex);
    if (impl_->stopped) return;
    impl_->stopped = true;
  }
  std::uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(impl_->wake_fd, &one, sizeof one);
  if (impl_->thread.joinable()) impl_->thread.join();
  for (auto& arrival : impl_->inbox) ::close(arrival.fd);
  impl_->inbox.clear();
}


}  // namespace plugvisor::detail
