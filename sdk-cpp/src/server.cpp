#include "server.hpp"

#include <poll.h>
#include <sys/ioctl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iterator>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "plugvisor/wire/http1.hpp"
#include "plugvisor/wire/address.hpp"
#include "plugvisor/wire/call_mutex.hpp"
#include "socket_lock.hpp"
#include "worker_pool.hpp"

namespace plugvisor::sdk {

namespace {
thread_local std::optional<std::chrono::steady_clock::time_point> request_deadline;
}

std::optional<std::chrono::steady_clock::time_point> deadline() noexcept { return request_deadline; }

namespace detail {

namespace http1 = plugvisor::detail::http1;

namespace {

using Clock = std::chrono::steady_clock;

// How long in-flight calls may take to finish once a shutdown has begun.
constexpr auto drain_grace = std::chrono::seconds(5);
// How long serve() gets to return by itself once every call is done.
constexpr auto response_flush_time = std::chrono::milliseconds(100);
// The whole head of a request must have arrived this long after the
// connection opened or its previous response was written (protocol §12):
// a client that trickles bytes holds a worker no longer, whatever its pace.
// With no byte of a head by then, the connection was idle: it is closed (not
// sooner than 5 s, protocol §12); with part of one, it is answered 408. The
// same clock bounds the body a refused request may still send.
constexpr auto head_timeout = std::chrono::seconds(5);
// A read of an authorised request's body, or a write, that makes no progress
// for this long drops the connection (SO_RCVTIMEO, SO_SNDTIMEO). A proven
// connection waiting for its next head reads with one blocking recv bounded
// by the same timeout (read_next_head): it must equal head_timeout.
constexpr timeval connection_timeout{5, 0};
static_assert(std::chrono::seconds(connection_timeout.tv_sec) == head_timeout && connection_timeout.tv_usec == 0,
              "read_next_head bounds the wait for a head by SO_RCVTIMEO");
// The first read of a request: its head, and small bodies whole.
constexpr std::size_t read_chunk = 16 * 1024;
// A request body's buffer up to this size stays with its connection for the
// next request (Inbox::keep_rest).
constexpr std::size_t kept_body_bytes = 64 * 1024;
// A body over the limit is read and dropped up to this size, keeping the
// connection; a larger one is answered and the connection closed.
constexpr std::uint64_t discard_limit = 1 << 20;

bool equal_constant_time(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  }
  return diff == 0;
}

// One response, written with one sendmsg (head and body together).
struct Response {
  int status = 200;
  std::string_view content_type = "application/json";
  std::string body;
  bool close = false;  // "Connection: close", then close the connection
};

Response error_response(ErrorCode code, const std::string& message, int status = 0) {
  return Response{status ? status : http_status(code), "application/json",
                  protocol::error_body(code, message).dump(), false};
}

// Writes every byte of `iov` (changed in place); false if the peer is gone.
bool write_all(int fd, iovec* iov, int count) {
  while (count > 0) {
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<std::size_t>(count);
    ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    http1::consume(iov, count, static_cast<std::size_t>(n));
  }
  return true;
}

// Reads some bytes; 0 on end of file, an error or the connection timeout.
std::size_t read_some(int fd, char* into, std::size_t size) {
  while (true) {
    ssize_t n = ::read(fd, into, size);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) return 0;
  }
}

// Reads some bytes, waiting no later than `deadline`: the count, 0 on end of
// file or an error, -1 once the deadline has passed with nothing to read.
// (The data is usually there already: then this is one recv.)
long read_by(int fd, char* into, std::size_t size, Clock::time_point deadline) {
  while (true) {
    ssize_t n = ::recv(fd, into, size, MSG_DONTWAIT);
    if (n >= 0) return static_cast<long>(n);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return 0;
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return -1;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::min<long long>(left, 60'000))) < 0 && errno != EINTR) return 0;
  }
}

// The first read of a head on a connection that waits with nothing
// buffered, its head deadline `head_timeout` from now: one blocking recv,
// which SO_RCVTIMEO (connection_timeout, equal to head_timeout) bounds, so
// a call whose bytes are on their way costs one system call, not a recv
// that finds nothing, a poll and a second recv. Same results as read_by.
long read_next_head(int fd, char* into, std::size_t size, Clock::time_point deadline) {
  ssize_t n = ::recv(fd, into, size, 0);
  if (n >= 0) return static_cast<long>(n);
  if (errno == EAGAIN || errno == EWOULDBLOCK) return -1;  // SO_RCVTIMEO: the head timeout passed
  if (errno == EINTR) return read_by(fd, into, size, deadline);  // a host's signal: wait out the rest
  return 0;
}

// The heads of a 200 answer in the two content types calls answer with,
// written once by the codec up to the value of Content-Length: the answer
// to a call then costs a copy and the length's digits, not a head built and
// checked anew on the heap.
class OkHeads {
 public:
  static constexpr std::size_t capacity = 128;

  OkHeads() {
    for (Encoding encoding : {Encoding::json, Encoding::bytes}) {
      auto& [type, prefix] = heads_[static_cast<std::size_t>(encoding == Encoding::bytes)];
      type = content_type(encoding);
      const http1::Header fields[] = {{"Content-Type", type}};
      std::string head;
      http1::append_response_head(head, 200, fields, 0);
      // "... Content-Length: 0\r\n\r\n": the part before the 0 is the prefix.
      // (Were the codec to end its heads otherwise, the codec writes them all.)
      if (head.ends_with(length_field) && head.size() - 1 + max_digits <= capacity) {
        prefix = head.substr(0, head.size() - 5);
      }
    }
  }

  // The head of a 200 answer of `length` bytes of `type`, written into
  // `out`; empty if `type` has no prepared head.
  std::string_view write(char (&out)[capacity], std::string_view type, std::uint64_t length) const {
    for (const auto& [known, prefix] : heads_) {
      if (prefix.empty() || type != known) continue;
      std::memcpy(out, prefix.data(), prefix.size());
      auto [end, ec] = std::to_chars(out + prefix.size(), out + capacity - 4, length);
      if (ec != std::errc()) return {};
      std::copy_n("\r\n\r\n", 4, end);
      return std::string_view(out, static_cast<std::size_t>(end + 4 - out));
    }
    return {};
  }

 private:
  static constexpr std::string_view length_field = "\r\nContent-Length: 0\r\n\r\n";
  static constexpr std::size_t max_digits = 20;  // of a std::uint64_t
  std::pair<std::string_view, std::string> heads_[2];
};

bool read_exactly(int fd, char* into, std::size_t size) {
  while (size > 0) {
    std::size_t n = read_some(fd, into, size);
    if (n == 0) return false;
    into += n;
    size -= n;
  }
  return true;
}

}  // namespace

// What the accept loop knows of a served connection, to choose which one a
// newcomer replaces at the cap (fair admission, protocol §12). Written by
// the connection's worker, read under Impl::connections_mutex.
struct ConnectionState {
  enum Phase : int {
    waiting,  // for the first byte of a request head (idle)
    partial,  // part of a head has come; or a request refused from its head is answered
    reading,  // bytes of a head were read and are being looked at (its worker is not waiting on the client)
    busy,     // an authorised request (a call, /shutdown) is being read or run
    evicted,  // given up for a newcomer: its worker ends
  };
  std::atomic<int> phase{waiting};
  std::atomic<Clock::rep> since{0};  // when it began to wait for its current head
  std::atomic<bool> proven{false};   // it carried an authorised request: never evicted

  // Moves to `next` unless the connection was evicted meanwhile; false then.
  bool move_to(Phase next) noexcept {
    int now = phase.load();
    while (now != evicted) {
      if (phase.compare_exchange_weak(now, next)) return true;
    }
    return false;
  }
};

struct Server::Impl {
  LaunchConfig launch;
  std::string expected_authorization;  // "Bearer <token>", built once
  std::map<std::string, Plugin::Handler, std::less<>> handlers;  // found by a view into the path
  std::optional<SocketLock> lock;
  int listen_fd = -1;
  bool tcp = false;
  const OkHeads ok_heads;
  WorkerPool workers;

  std::mutex connections_mutex;  // guards the two fields below
  std::map<int, ConnectionState*> connections;  // open accepted connections
  bool stopping = false;         // step 4 of the shutdown: no more connections

  mutable plugvisor::wire::CallMutex mutex;  // guards the fields below (taken by every call: admit, finish)
  std::condition_variable_any changed;
  bool draining = false;
  int in_flight = 0;
  int shutdown_answers = 0;  // 202s of /shutdown not yet written
  Clock::time_point last_activity = Clock::now();
  bool serve_returned = false;
  int exit_code = protocol::exit_ok;
  std::thread shutdown_thread;

  Impl(const LaunchConfig& l, std::map<std::string, Plugin::Handler> h, std::size_t max_connections)
      : launch(l),
        expected_authorization("Bearer " + l.token),
        handlers(std::make_move_iterator(h.begin()), std::make_move_iterator(h.end())),
        workers([this](int fd) { serve_connection(fd); }, max_connections) {}

  ~Impl() {
    if (shutdown_thread.joinable()) shutdown_thread.join();
    workers.stop_and_join();
    if (listen_fd >= 0) ::close(listen_fd);
  }

  // A call is either admitted, and counted until its response has been
  // written, or refused because a shutdown has begun. Admission and the
  // shutdown decision take the same lock: no call starts after the decision.
  // (No clock read here: a call in flight holds the idle timer off by
  // itself, and finish() restarts it.)
  bool admit() {
    std::lock_guard guard(mutex);
    if (draining) return false;
    ++in_flight;
    return true;
  }

  void finish() {
    std::lock_guard guard(mutex);
    --in_flight;
    last_activity = Clock::now();
    // Only a drain waits for the calls in flight, and it starts waiting
    // after `draining` is set under this mutex: no notify on other calls
    // (condition_variable_any's notify takes a lock of its own).
    if (draining) changed.notify_all();
  }

  void shutdown_answered() {
    std::lock_guard guard(mutex);
    --shutdown_answers;
    changed.notify_all();
  }

  // Checks the bearer token; fills `res` with the 401 if it is wrong.
  bool authorized(const http1::RequestHead& req, Response& res) const {
    // Several Authorization fields are not one credential (RFC 9110 §11.6.2):
    // refused whatever they hold, as the Python SDK does (protocol.md §9).
    const auto fields = std::count_if(req.headers.begin(), req.headers.end(),
                                      [](const http1::Header& h) { return http1::iequals(h.name, "Authorization"); });
    if (fields > 1) {
      res = error_response(ErrorCode::unauthorized,
                           "several Authorization headers: send exactly one, 'Authorization: Bearer <token>'");
      return false;
    }
    std::string_view auth = req.get("Authorization");
    if (equal_constant_time(auth, expected_authorization)) return true;
    res = error_response(ErrorCode::unauthorized,
                         auth.empty() ? "missing Authorization header: send 'Authorization: Bearer <token>' with "
                                        "the token from the launch configuration"
                                      : "wrong bearer token: use the token from the launch configuration");
    return false;
  }

  // The endpoints, once the whole request has been read. Sets `admitted`
  // when the call was counted in flight, and `shutdown_answer` for the 202 of
  // /shutdown: both end once the response is written (finish()). The token
  // of /shutdown and of a call was checked from the head, before the body.
  Response route(const http1::RequestHead& req, std::string& body, bool& admitted, bool& shutdown_answer) {
    const std::string_view path = http1::path_of(req.target);
    const bool head = req.method == "HEAD";
    if ((req.method == "GET" || head) && path == "/healthz") {
      return Response{200, "application/json", R"({"status":"ok"})", false};
    }
    if (req.method == "POST" && path == "/shutdown") {
      {
        // The drain waits for this answer before it closes the connections.
        std::lock_guard guard(mutex);
        ++shutdown_answers;
      }
      shutdown_answer = true;
      begin_shutdown("asked through /shutdown");
      return Response{202, "application/json", R"({"status":"shutting down"})", false};
    }
    if (req.method == "POST" && path.starts_with("/v1/")) {
      // /v1/{contract}/{type}/{method}: three non-empty parts, read in place.
      const std::string_view rest = path.substr(4);
      const auto slash1 = rest.find('/');
      const auto slash2 = slash1 == std::string_view::npos ? slash1 : rest.find('/', slash1 + 1);
      if (slash1 != std::string_view::npos && slash2 != std::string_view::npos && slash1 > 0 &&
          slash2 > slash1 + 1 && slash2 + 1 < rest.size() && rest.find('/', slash2 + 1) == std::string_view::npos) {
        return handle_call(req, rest.substr(0, slash1), rest.substr(slash1 + 1, slash2 - slash1 - 1),
                           rest.substr(slash2 + 1), body, admitted);
      }
    }
    return not_found(req.method, path);
  }

  static Response not_found(std::string_view method, std::string_view path) {
    return error_response(ErrorCode::not_found, "no endpoint " + std::string(method) + " " + std::string(path) +
                                                    ": calls are POST /v1/{contract}/{type}/{method}");
  }

  Response handle_call(const http1::RequestHead& req, std::string_view contract_v, std::string_view type_v,
                       std::string_view method, std::string& body, bool& admitted) {
    Response res;
    if (!admit()) {
      res = error_response(ErrorCode::unavailable, "the plugin is shutting down; the call was not run");
      res.close = true;
      return res;
    }
    admitted = true;
    const std::string_view contract = contract_v;
    const std::string_view type = type_v;
    // "contract/type method": how error messages name the call, spelt only for one.
    const auto what = [&] { return std::string(contract) + "/" + std::string(type) + " " + std::string(method); };
    // Parts of one path, consecutive: "contract/type" is the view from the
    // one to the other, found without building a key on every call.
    auto it = handlers.find(std::string_view(contract_v.data(),
                                             static_cast<std::size_t>(type_v.data() + type_v.size() - contract_v.data())));
    if (it == handlers.end()) {
      return error_response(ErrorCode::not_found,
                            "this plugin provides no " + std::string(contract) + " type '" + std::string(type) + "'");
    }
    request_deadline.reset();
    if (auto header = req.get(protocol::deadline_header); !header.empty()) {
      auto ms = protocol::parse_deadline_ms(header);
      if (!ms) {
        return error_response(ErrorCode::invalid_input,
                              std::string(protocol::deadline_header) + " must be a whole number of milliseconds (at most " +
                                  std::to_string(protocol::max_deadline_digits) + " digits)");
      }
      request_deadline = protocol::deadline_after(*ms);  // saturates: a huge budget means no deadline
    }
    const bool bytes = req.get("Content-Type").starts_with("application/octet-stream");
    try {
      // The handler owns the body: an echo answers with the same buffer.
      Payload output = it->second(method, Payload{bytes ? Encoding::bytes : Encoding::json, std::move(body)});
      res = Response{200, content_type(output.encoding), std::move(output.body), false};
    } catch (const Error& e) {
      // Only the codes a handler may answer travel as such: 503 means "not
      // run" to the manager, and the host-side codes are not HTTP answers.
      bool wire = e.code() == ErrorCode::invalid_input || e.code() == ErrorCode::not_found ||
                  e.code() == ErrorCode::too_large || e.code() == ErrorCode::internal;
      res = error_response(wire ? e.code() : ErrorCode::internal,
                           wire ? std::string(e.what())
                                : what() + " failed (" + std::string(to_string(e.code())) + "): " + e.what());
    } catch (const std::exception& e) {
      res = error_response(ErrorCode::internal, what() + " failed: " + e.what());
    } catch (...) {
      res = error_response(ErrorCode::internal, what() + " failed");
    }
    request_deadline.reset();
    return res;
  }

  // Writes `res` (head and body in one sendmsg); false if the peer is gone.
  bool send(int fd, const http1::RequestHead* req, const Response& res) {
    // HTTP/1.1 keeps the connection by default: say so only when closing, or
    // to an HTTP/1.0 client that asked for keep-alive.
    bool say_connection = res.close || (req && req->minor_version == 0);
    char prepared[OkHeads::capacity];
    std::string head;
    std::string_view written =
        res.status == 200 && !say_connection ? ok_heads.write(prepared, res.content_type, res.body.size()) : "";
    if (written.empty()) {  // not a call's usual answer: the codec writes it
      const http1::Header fields[] = {{"Content-Type", res.content_type},
                                      {"Connection", res.close ? "close" : "keep-alive"}};
      head.reserve(160);
      http1::append_response_head(head, res.status, std::span(fields, say_connection ? 2 : 1), res.body.size());
      written = head;
    }
    iovec iov[2] = {{const_cast<char*>(written.data()), written.size()},
                    {const_cast<char*>(res.body.data()), res.body.size()}};
    bool with_body = !res.body.empty() && !(req && req->method == "HEAD");
    return write_all(fd, iov, with_body ? 2 : 1);
  }

  // Keeps track of the connection so that the last step of a shutdown can
  // close it; false if that step has come already.
  bool track(int fd, ConnectionState& state) {
    std::lock_guard guard(connections_mutex);
    if (stopping) return false;
    connections.emplace(fd, &state);
    return true;
  }

  bool is_stopping() {
    std::lock_guard guard(connections_mutex);
    return stopping;
  }

  // At the cap, with a newcomer in the backlog: gives up the connection that
  // has held a worker longest without proving itself (never an authorised
  // one, nor one whose request is being run, nor one whose worker is not
  // blocked on it: bytes it has not read yet, or a head it is looking at).
  // Part-way heads go first (a trickling client), then idle connections.
  // Returns whether one was.
  bool evict_one() {
    std::lock_guard guard(connections_mutex);
    int victim = -1;
    ConnectionState* chosen = nullptr;
    int chosen_phase = 0;
    Clock::rep oldest = 0;
    for (const auto& [fd, state] : connections) {
      if (state->proven.load()) continue;
      int phase = state->phase.load();
      if (phase != ConnectionState::partial && phase != ConnectionState::waiting) continue;
      Clock::rep since = state->since.load();
      bool better = !chosen || (phase == ConnectionState::partial && chosen_phase == ConnectionState::waiting) ||
                    (phase == chosen_phase && since < oldest);
      if (better) {
        victim = fd;
        chosen = state;
        chosen_phase = phase;
        oldest = since;
      }
    }
    if (!chosen) return false;
    // Bytes its worker has not read yet (a connection just taken from the
    // backlog, its request not read): it is not stalled. The caller looks
    // again shortly.
    if (int unread = 0; ::ioctl(victim, FIONREAD, &unread) != 0 || unread > 0) return false;
    if (!chosen->phase.compare_exchange_strong(chosen_phase, ConnectionState::evicted)) return false;
    ::shutdown(victim, SHUT_RDWR);  // its worker's read returns at once
    return true;
  }

  void untrack_and_close(int fd) {
    {
      std::lock_guard guard(connections_mutex);
      connections.erase(fd);
    }
    ::close(fd);
  }

  // Reads what has come of a request head into `into`, by `deadline`:
  // the count, 0 once the connection closed or was given up, -1 once the
  // deadline passed. An unproven connection may be given up (evict_one)
  // only while its worker waits for bytes: the worker claims what has come
  // (phase `reading`) before it reads it, and evict_one leaves a connection
  // with unread bytes alone, so that a request the worker holds, or one
  // waiting in the socket, is never given up.
  static long read_head_bytes(int fd, ConnectionState& state, std::size_t have, char* into, std::size_t size,
                              Clock::time_point deadline) {
    if (state.proven.load()) {  // never given up
      return have == 0 ? read_next_head(fd, into, size, deadline) : read_by(fd, into, size, deadline);
    }
    if (!state.move_to(have > 0 ? ConnectionState::partial : ConnectionState::waiting)) return 0;
    bool ready = false;
    while (!ready) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) break;
      pollfd p{fd, POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 60'000)));
      if (r < 0 && errno != EINTR) return 0;
      ready = r > 0;
    }
    if (!state.move_to(ConnectionState::reading)) return 0;  // given up meanwhile
    return ready ? read_by(fd, into, size, deadline) : -1;
  }

  // Serves the requests of one connection, in order, until it closes.
  void serve_connection(int fd) {
    ConnectionState state;
    state.since = Clock::now().time_since_epoch().count();
    if (!track(fd, state)) {
      ::close(fd);
      return;
    }
    try {
      serve_requests(fd, state);
    } catch (...) {
      // Out of memory or the like: drop this connection, keep serving others.
    }
    untrack_and_close(fd);
  }

  // The bytes read from one connection: the current request is buffer[0,
  // have), of which `used` bytes are taken; a chunked body may end in
  // `carry`, read past it (a pipelined request).
  struct Inbox {
    std::string buffer = std::string(read_chunk, '\0');
    std::size_t have = 0;  // bytes of buffer holding data
    std::size_t used = 0;  // bytes of them the current request took
    std::string carry;     // bytes read past a chunked body
    bool carried = false;  // the chunked body ended in `carry`, not in `buffer`
    std::string body;      // the current request's body; its buffer is reused

    // Keeps what follows the request just answered for the next round.
    // A body buffer up to kept_body_bytes (the last answer's: answer())
    // is kept for the next request (no allocation per call); a larger one is
    // given back to the heap, so that an idle connection holds no more.
    void keep_rest() {
      if (body.capacity() > kept_body_bytes) std::string().swap(body);
      if (carried) {
        buffer.replace(0, carry.size(), carry);
        have = carry.size();
        if (buffer.size() < read_chunk) buffer.resize(read_chunk);
      } else {
        std::memmove(buffer.data(), buffer.data() + used, have - used);
        have -= used;
      }
      carry.clear();
      carried = false;
    }
  };

  // Serves the requests of one connection in order, each in named steps:
  // read the head, refuse from the head alone, prove the connection the
  // manager's, read the body, answer; then keep the bytes of the next one.
  void serve_requests(int fd, ConnectionState& state) {
    Inbox in;
    http1::RequestHead req;
    while (true) {
      Clock::time_point head_deadline;
      if (!read_head(fd, state, in, req, head_deadline)) return;
      const RequestKind kind = classify(req);
      std::optional<Response> refused = refusal(req, kind);
      // Anything but an authorised call is answered as a part-way head: the
      // connection may still be given up while the answer is written.
      if ((refused || !kind.takes_body) && !state.move_to(ConnectionState::partial)) return;
      if (refused) {
        if (!answer_refused(fd, in, req, *refused, head_deadline)) return;
        continue;
      }
      // An authorised call or /shutdown: from here the connection is the
      // manager's, never given up for a newcomer.
      if (kind.takes_body) {
        state.proven = true;
        if (!state.move_to(ConnectionState::busy)) return;
      }
      in.body.clear();
      if (!read_body(fd, in, req, in.body)) return;
      if (!answer(fd, req, in.body)) return;
      in.keep_rest();
    }
  }

  // The head, from as few reads as it takes (usually one), all of it before
  // `head_deadline` (set here). False once the connection is done with: it
  // closed, was given up, or was answered 408 or 400.
  bool read_head(int fd, ConnectionState& state, Inbox& in, http1::RequestHead& req,
                 Clock::time_point& head_deadline) {
    std::string& buffer = in.buffer;
    std::size_t& have = in.have;
    const auto head_started = Clock::now();
    head_deadline = head_started + head_timeout;
    state.since = head_started.time_since_epoch().count();
    if (!state.move_to(have > 0 ? ConnectionState::reading : ConnectionState::waiting)) return false;
    http1::ParseResult parsed;
    // A head can only be complete once a line has ended: parsed again only
    // then, so that a client sending a byte at a time costs no more than one
    // parse per line (at most 100 of them, max_header_lines).
    bool line_ended = have > 0;
    while (true) {
      if (line_ended &&
          (parsed = http1::parse_request_head(std::string_view(buffer.data(), have), req)).state !=
              http1::ParseResult::incomplete) {
        break;
      }
      if (have == buffer.size()) {
        if (buffer.size() > http1::max_head_bytes) {  // the codec answers 431 first; never read past it
          parsed = {http1::ParseResult::invalid, 0, 431, "the request head exceeds 64 KiB"};
          break;
        }
        buffer.resize(std::min(buffer.size() * 2, http1::max_head_bytes + 1));
      }
      long n = read_head_bytes(fd, state, have, buffer.data() + have, buffer.size() - have, head_deadline);
      if (n == 0) return false;  // closed (or evicted)
      if (n < 0) {
        if (have == 0) return false;  // idle for head_timeout: close quietly
        if (!state.move_to(ConnectionState::partial)) return false;
        auto res = error_response(ErrorCode::invalid_input,
                                  "the request head did not arrive within " +
                                      protocol::format_duration(head_timeout) + ": send it whole",
                                  408);
        res.close = true;
        send(fd, nullptr, res);
        linger_close(fd);
        return false;
      }
      line_ended = std::memchr(buffer.data() + have, '\n', static_cast<std::size_t>(n)) != nullptr ||
                   have + static_cast<std::size_t>(n) >= http1::max_head_bytes;
      have += static_cast<std::size_t>(n);
    }
    if (parsed.state == http1::ParseResult::invalid) {
      if (!state.move_to(ConnectionState::partial)) return false;
      auto res = error_response(ErrorCode::invalid_input, std::string("bad request: ") + parsed.error,
                                parsed.status);
      res.close = true;
      send(fd, nullptr, res);
      linger_close(fd);
      return false;
    }
    in.used = parsed.size;
    return true;
  }

  // What a head asks for, as far as reading its body goes.
  struct RequestKind {
    bool health;      // GET or HEAD /healthz
    bool takes_body;  // POST /shutdown or a call: its body is read once authorised
  };

  static RequestKind classify(const http1::RequestHead& req) {
    const std::string_view path = http1::path_of(req.target);
    return RequestKind{(req.method == "GET" || req.method == "HEAD") && path == "/healthz",
                       req.method == "POST" && (path == "/shutdown" || path.starts_with("/v1/"))};
  }

  // The answer to a request refused from its head alone, if it is one.
  // A POST without Content-Length or Transfer-Encoding has an empty body
  // (RFC 9112 §6.3): the codec gives it Framing::length and length 0.
  // Only an authorised call or /shutdown has its body read: anything
  // else is answered from the head alone, so that a client without the
  // token cannot make the plugin allocate up to maxBodyBytes (each
  // connection would hold that much).
  std::optional<Response> refusal(const http1::RequestHead& req, RequestKind kind) const {
    const std::uint64_t limit = launch.max_body_bytes;
    const bool has_body = req.framing == http1::Framing::chunked || req.content_length > 0;
    if (kind.health && has_body) return Response{200, "application/json", R"({"status":"ok"})", false};
    if (!kind.health && !kind.takes_body) return not_found(req.method, http1::path_of(req.target));
    if (Response unauthorized; kind.takes_body && !authorized(req, unauthorized)) return unauthorized;
    if (req.framing == http1::Framing::length && req.content_length > limit) {
      return error_response(ErrorCode::too_large,
                            "request body exceeds this plugin's limit of " + std::to_string(limit) + " bytes");
    }
    return std::nullopt;
  }

  // Answers a request refused from its head. A small body is skipped and
  // the connection kept (true); a larger or chunked one closes it (false).
  bool answer_refused(int fd, Inbox& in, const http1::RequestHead& req, Response& res,
                      Clock::time_point head_deadline) {
    const std::uint64_t length = req.framing == http1::Framing::length ? req.content_length : 0;
    const bool chunked_body = req.framing == http1::Framing::chunked;
    std::uint64_t buffered = std::min<std::uint64_t>(length, in.have - in.used);
    if (!chunked_body && length <= discard_limit && !req.expect_continue) {
      // Cheap to skip: keep the connection. The body must come by the
      // head's deadline: a refused client holds a worker no longer.
      std::uint64_t left = length - buffered;
      in.used += static_cast<std::size_t>(buffered);
      char sink[16 * 1024];
      while (left > 0) {
        long n = read_by(fd, sink, static_cast<std::size_t>(std::min<std::uint64_t>(left, sizeof sink)),
                         head_deadline);
        if (n <= 0) return false;
        left -= static_cast<std::uint64_t>(n);
      }
      if (!send(fd, &req, res) || !req.keep_alive) return false;
      std::memmove(in.buffer.data(), in.buffer.data() + in.used, in.have - in.used);
      in.have -= in.used;
      return true;
    }
    res.close = true;
    send(fd, &req, res);
    linger_close(fd);
    return false;
  }

  // The body of an admitted request, read straight into a buffer of its
  // length (or decoded from chunks). False once the connection is done with.
  bool read_body(int fd, Inbox& in, const http1::RequestHead& req, std::string& body) {
    const std::uint64_t limit = launch.max_body_bytes;
    if (req.expect_continue && (req.framing == http1::Framing::chunked || req.content_length > in.have - in.used)) {
      static constexpr char go_on[] = "HTTP/1.1 100 Continue\r\n\r\n";
      iovec iov{const_cast<char*>(go_on), sizeof go_on - 1};
      if (!write_all(fd, &iov, 1)) return false;
    }
    if (req.framing != http1::Framing::chunked) {
      auto size = static_cast<std::size_t>(req.content_length);
      std::size_t buffered = std::min(size, in.have - in.used);
      http1::resize_for_overwrite(body, size);  // no zero-fill: the read overwrites it, or it is dropped
      std::memcpy(body.data(), in.buffer.data() + in.used, buffered);
      in.used += buffered;
      return read_exactly(fd, body.data() + buffered, size - buffered);
    }
    http1::ChunkedDecoder decoder(limit);
    in.used += decoder.feed(std::string_view(in.buffer.data() + in.used, in.have - in.used), body);
    std::string more(read_chunk, '\0');
    while (!decoder.done() && !decoder.failed()) {
      std::size_t n = read_some(fd, more.data(), more.size());
      if (n == 0) return false;
      std::size_t consumed = decoder.feed(std::string_view(more.data(), n), body);
      if (decoder.done()) {
        in.carry.assign(more.data() + consumed, n - consumed);
        in.carried = true;
      }
    }
    if (decoder.failed()) {
      auto res = decoder.too_large()
                     ? error_response(ErrorCode::too_large, "request body exceeds this plugin's limit of " +
                                                                std::to_string(limit) + " bytes")
                     : error_response(ErrorCode::invalid_input, "bad request: malformed chunked body");
      res.close = true;
      send(fd, &req, res);
      linger_close(fd);
      return false;
    }
    return true;
  }

  // Routes a whole request and writes its response. The call stays in
  // flight until the response has been written (protocol §13.2). False when
  // the connection is to close.
  bool answer(int fd, const http1::RequestHead& req, std::string& body) {
    bool admitted = false;
    bool shutdown_answer = false;
    Response res;
    try {
      res = route(req, body, admitted, shutdown_answer);
    } catch (...) {
      res = error_response(ErrorCode::internal, "the plugin failed while reading the request");
    }
    if (!req.keep_alive) res.close = true;
    bool sent = false;
    try {
      sent = send(fd, &req, res);
    } catch (...) {
      // Only out of memory: the call still ends here.
    }
    if (admitted) finish();
    if (shutdown_answer) shutdown_answered();
    // The handler took the request's buffer (an echo answers with it): the
    // answer's buffer serves the next request's body instead, so that a
    // kept connection allocates none per call (Inbox::keep_rest bounds it).
    if (res.body.capacity() > body.capacity() && res.body.capacity() <= kept_body_bytes) {
      body = std::move(res.body);
      body.clear();
    }
    return sent && !res.close;
  }

  // After an answer that leaves a body unread: stop sending, and drain what
  // the client still sends for a moment, so that closing does not reset the
  // connection before the client has read the answer (TCP).
  static void linger_close(int fd) {
    ::shutdown(fd, SHUT_WR);
    timeval brief{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &brief, sizeof brief);
    char sink[16 * 1024];
    auto until = Clock::now() + std::chrono::seconds(1);
    while (Clock::now() < until && read_some(fd, sink, sizeof sink) > 0) {
    }
  }

  // Step 4 of the shutdown: no more connections; wakes accept() and every
  // worker blocked on a connection.
  void stop_serving() {
    std::lock_guard guard(connections_mutex);
    stopping = true;
    if (listen_fd >= 0) ::shutdown(listen_fd, SHUT_RDWR);
    for (const auto& [fd, state] : connections) ::shutdown(fd, SHUT_RDWR);
  }

  // At the cap: waits until a worker is free, giving up an unproven
  // connection (evict_one) whenever a newcomer waits in the backlog, so that
  // connections that never send a whole head cannot keep the manager's
  // health check and calls out. Returns false once the server is stopping.
  bool make_room() {
    while (!workers.wait_for_room(std::chrono::milliseconds(0))) {
      pollfd p{listen_fd, POLLIN, 0};
      int ready = ::poll(&p, 1, 10);
      if (is_stopping()) return false;
      if (ready == 1 && (p.revents & POLLIN)) {
        if (evict_one()) {
          workers.wait_for_room(std::chrono::seconds(1));  // the evicted worker ends at once
        } else {
          // Nothing may be given up (every connection is authorised or
          // running a request): the newcomer waits in the backlog.
          workers.wait_for_room(std::chrono::milliseconds(10));
        }
      }
    }
    return !is_stopping();
  }

  void accept_loop() {
    while (true) {
      // At the cap, leave further connections in the backlog (the manager's
      // connect waits for room) rather than start a thread for each.
      if (!make_room()) return;
      int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (is_stopping()) return;
        if (errno == EMFILE || errno == ENFILE) {
          // Out of descriptors: the same rule as the cap.
          if (!evict_one()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        } else if (errno == ENOBUFS || errno == ENOMEM) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        continue;
      }
      if (tcp) {
        int yes = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
      }
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &connection_timeout, sizeof connection_timeout);
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &connection_timeout, sizeof connection_timeout);
      try {
        workers.submit(fd);
      } catch (const std::exception& e) {
        // No thread for it (a memory limit?): refuse this connection, keep serving.
        log("error", std::string("cannot serve a new connection: ") + e.what());
        ::close(fd);
      }
    }
  }

  void log(const char* level, const std::string& message) {
    std::string line = Json{{"level", level}, {"msg", message}}.dump() + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
  }

  // With `mutex` held and `draining` just set: announces the shutdown,
  // removes the socket file and starts the drain.
  void start_drain_locked(const std::string& reason) {
    shutdown_thread = std::thread([this, reason] { drain_and_exit(reason); });
  }

  void begin_shutdown(const std::string& reason) {
    std::lock_guard guard(mutex);
    if (draining) return;
    draining = true;
    start_drain_locked(reason);
  }

  // Waits for the admitted calls (bounded by the grace), then stops. A call
  // still running after the grace is abandoned and the exit code says so (1),
  // so that the manager never takes it for an idle exit.
  void drain_and_exit(const std::string& reason) {
    log("info", "shutting down: " + reason);
    // Remove the socket first: from here a connect fails at once (ENOENT),
    // which the manager reads as "never delivered".
    if (lock) lock->unlink_socket();
    std::unique_lock guard(mutex);
    bool drained =
        changed.wait_for(guard, drain_grace, [this] { return in_flight == 0 && shutdown_answers == 0; });
    if (!drained && in_flight > 0) {
      exit_code = protocol::exit_abandoned;
      guard.unlock();
      log("error", std::to_string(in_flight) + " call(s) still running after the 5s grace; exiting anyway");
      guard.lock();
    }
    guard.unlock();
    // Idle kept-alive connections stayed open until now (requests on them got
    // 503); every response is written, so close them all.
    stop_serving();
    guard.lock();
    if (changed.wait_for(guard, response_flush_time, [this] { return serve_returned; })) return;
    // A call abandoned after the grace still holds its worker.
    int code = exit_code;
    guard.unlock();
    if (lock) lock->release();
    std::fflush(nullptr);
    std::_Exit(code);
  }
};

Server::Server(const LaunchConfig& launch, std::map<std::string, Plugin::Handler> handlers,
               std::size_t max_connections)
    : impl_(std::make_unique<Impl>(launch, std::move(handlers), max_connections)) {}

Server::~Server() = default;

std::string Server::bind() {
  const auto& launch = impl_->launch;
  std::string reported;
  int fd = -1;
  if (launch.transport == "unix") {
    impl_->lock.emplace(launch.address);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, launch.address.c_str(), std::min(launch.address.size() + 1, sizeof addr.sun_path));
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    mode_t old_mask = ::umask(0177);  // the socket is created 0600
    bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::umask(old_mask);
    if (!ok || ::listen(fd, SOMAXCONN) != 0) {
      if (fd >= 0) ::close(fd);
      throw Error(ErrorCode::unavailable, "cannot bind Unix socket " + launch.address +
                                              ": check that its directory exists and is writable");
    }
    ::chmod(launch.address.c_str(), 0600);
    reported = launch.address;
  } else {
    auto parsed = wire::parse_plugin_tcp_address(launch.address, /*any_port=*/true);
    if (!parsed) {
      throw Error(ErrorCode::config, "tcp address " + launch.address + " " + parsed.problem +
                                         "; use 127.0.0.1:0 for any free port");
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(parsed.address.port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int yes = 1;
    socklen_t size = sizeof addr;
    bool ok = fd >= 0 && ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes) == 0 &&
              ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && ::listen(fd, SOMAXCONN) == 0 &&
              ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &size) == 0;
    if (!ok) {
      if (fd >= 0) ::close(fd);
      throw Error(ErrorCode::unavailable, "cannot bind tcp address " + launch.address);
    }
    reported = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
    impl_->tcp = true;
  }
  impl_->listen_fd = fd;
  return reported;
}

int Server::serve() {
  {
    // The idle clock starts when the plugin can be called, not at its launch.
    std::lock_guard guard(impl_->mutex);
    impl_->last_activity = Clock::now();
  }
  impl_->accept_loop();
  // Every connection was shut down with the listener: the workers end as soon
  // as they are out of a handler.
  impl_->workers.stop_and_join();
  std::lock_guard guard(impl_->mutex);
  impl_->serve_returned = true;
  impl_->changed.notify_all();
  if (impl_->lock) impl_->lock->release();
  return impl_->exit_code;
}

void Server::begin_shutdown(const std::string& reason) { impl_->begin_shutdown(reason); }

bool Server::shutdown_if_idle(std::chrono::milliseconds idle_timeout) {
  std::lock_guard guard(impl_->mutex);
  // Saturating: an idle timeout past the clock's end means "never idle", not an overflow.
  if (impl_->draining || impl_->in_flight > 0 || Clock::now() < protocol::deadline_after(idle_timeout, impl_->last_activity))
    return false;
  impl_->draining = true;
  impl_->start_drain_locked("idle for " + protocol::format_duration(idle_timeout));
  return true;
}

}  // namespace detail
}  // namespace plugvisor::sdk
