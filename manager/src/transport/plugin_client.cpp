#include "transport/plugin_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

#include "plugvisor/wire/http1.hpp"
#include "plugvisor/wire/address.hpp"

namespace plugvisor::detail {

namespace {

using Clock = std::chrono::steady_clock;

// The first read of an answer: its head, and small bodies whole. The body
// bytes this read takes past the head are copied into the reply; the rest of
// a larger body is read straight into place. 16 KiB (as the SDK's request
// side): a 64 KiB reply is then one 16 KiB copy and a second read of what is
// already there, where a 64 KiB first read copied the whole body once more
// (about 1.3 us of a 20 us call, pinned). A head past 16 KiB grows the buffer.
constexpr std::size_t read_chunk = 16 * 1024;
// The reads of a chunked body, whose bytes all go through the buffer.
constexpr std::size_t chunked_read = 64 * 1024;

[[noreturn]] void lost(const std::string& what) { throw TransportError{TransportFailure::lost, what}; }

// The largest answer body the manager takes from a plugin, and how much of
// a declared length it allocates before the bytes arrive: a plugin's
// Content-Length is not trusted with the host's memory.
constexpr std::uint64_t max_reply_bytes = std::uint64_t{1} << 30;
constexpr std::size_t reply_prealloc_bytes = 16 * 1024 * 1024;

[[noreturn]] void too_large(std::uint64_t size) {
  throw Error(ErrorCode::bad_reply, "the plugin answered with a body of " + std::to_string(size) +
                                        " bytes or more, over the manager's limit of 1 GiB");
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// The remaining budget at `now` in whole milliseconds, at least 1 (0 would
// mean "no timeout" to SO_RCVTIMEO), or 0 if the deadline has passed.
std::int64_t remaining_ms(Clock::time_point deadline, Clock::time_point now = Clock::now()) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
  return left <= 0 ? 0 : left;
}

}  // namespace

/// One socket to the plugin, with the bytes read from it but not yet used.
struct PluginClient::Connection {
  int fd = -1;
  std::string buffer;
  std::size_t have = 0;
  std::string head;  // the request head being sent; its buffer is reused
  // The answer's head being read: its list of header views (into `buffer`)
  // keeps its room from answer to answer, so that parsing allocates nothing.
  http1::ResponseHead response;
  Clock::time_point idle_since;
  // The SO_RCVTIMEO / SO_SNDTIMEO now set, in ms (-1: none yet). Lowered
  // whenever the deadline is nearer, so that no blocking read or write
  // outlasts it; raised only when one times out early.
  std::int64_t read_timeout = -1;
  std::int64_t write_timeout = -1;

  Connection() = default;
  ~Connection() {
    if (fd >= 0) ::close(fd);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Bounds the next blocking read (SO_RCVTIMEO) or write (SO_SNDTIMEO) by the
  // deadline, as it stands at `now`; `force` sets it even if the one set is
  // shorter. Throws `lost` once the deadline has passed.
  void arm(int option, Clock::time_point deadline, Clock::time_point now, bool force = false) {
    std::int64_t& current = option == SO_RCVTIMEO ? read_timeout : write_timeout;
    std::int64_t left = remaining_ms(deadline, now);
    if (left == 0) lost("timed out: the deadline passed");
    if (!force && current >= 0 && current <= left) return;
    timeval tv{static_cast<time_t>(left / 1000), static_cast<suseconds_t>((left % 1000) * 1000)};
    ::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv);
    current = left;
  }

  // Reads into `into`; returns the count (0: the peer closed). Throws `lost`
  // on an error or at the deadline.
  std::size_t read_into(char* into, std::size_t size, Clock::time_point deadline) {
    arm(SO_RCVTIMEO, deadline, Clock::now());
    while (true) {
      ssize_t n = ::recv(fd, into, size, 0);
      if (n >= 0) return static_cast<std::size_t>(n);
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        arm(SO_RCVTIMEO, deadline, Clock::now(), true);  // throws once the deadline has passed
        continue;
      }
      lost(errno_text("read"));
    }
  }

  // Reads more into `buffer` after its `have` bytes; false if the peer closed.
  bool fill(Clock::time_point deadline) {
    if (have == buffer.size()) buffer.resize(buffer.size() * 2);
    std::size_t n = read_into(buffer.data() + have, buffer.size() - have, deadline);
    have += n;
    return n > 0;
  }

  // Whether a pooled connection can carry a request: the plugin has not closed
  // it (nor sent anything unasked) while it was idle.
  bool still_open() const {
    char byte;
    ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
};

PluginClient::PluginClient(bool unix_socket, std::string address, std::string token,
                           std::shared_ptr<std::atomic<std::uint64_t>> connections)
    : unix_socket_(unix_socket),
      address_(std::move(address)),
      token_(std::move(token)),
      connections_(std::move(connections)) {
  idle_.reserve(max_idle);
  // Host means nothing to a plugin, but strict servers refuse a request
  // whose Host is not a valid host (a socket path is not).
  std::string host = http1::host_header_value(unix_socket_, address_);
  if (!http1::valid_field_value(host)) throw std::invalid_argument("the plugin address holds control characters");
  host_header_ = "Host: " + host + "\r\n";
  if (!http1::valid_field_value(token_)) throw std::invalid_argument("the plugin token holds control characters");
  fixed_headers_ = host_header_ + "Authorization: Bearer " + token_ + "\r\n";
}

PluginClient::~PluginClient() = default;

std::unique_ptr<PluginClient::Connection> PluginClient::connect(Clock::time_point deadline) const {
  auto connection = std::make_unique<Connection>();
  int fd = -1;
  int rc = -1;
  if (unix_socket_) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (address_.size() >= sizeof addr.sun_path) {
      throw TransportError{TransportFailure::not_delivered, "the socket path is too long: " + address_};
    }
    std::memcpy(addr.sun_path, address_.c_str(), address_.size() + 1);
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    connection->fd = fd;
    if (fd >= 0) {
      // SO_SNDTIMEO bounds connect() too: a plugin that stopped accepting
      // with a full backlog would otherwise block it without limit.
      if (remaining_ms(deadline) == 0) {
        throw TransportError{TransportFailure::not_delivered, "connect: the deadline passed"};
      }
      connection->arm(SO_SNDTIMEO, deadline, Clock::now());
      rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    }
  } else {
    auto parsed = wire::parse_plugin_tcp_address(address_, /*any_port=*/false);
    if (!parsed) throw TransportError{TransportFailure::not_delivered, "address " + address_ + " " + parsed.problem};
    socklen_t size = 0;
    sockaddr_storage addr = parsed.address.socket_address(size);
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    connection->fd = fd;
    if (fd >= 0) {
      int yes = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
      // SO_SNDTIMEO bounds connect() too.
      if (remaining_ms(deadline) == 0) {
        throw TransportError{TransportFailure::not_delivered, "connect: the deadline passed"};
      }
      connection->arm(SO_SNDTIMEO, deadline, Clock::now());
      rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), size);
    }
  }
  if (fd < 0 || rc != 0) {
    // ENOENT, ECONNREFUSED, EAGAIN (a full backlog), a connect timeout: the
    // plugin never saw the request.
    throw TransportError{TransportFailure::not_delivered,
                         errno_text(fd < 0 ? "socket" : (errno == EINPROGRESS ? "connect timed out" : "connect"))};
  }
  connection->buffer.resize(read_chunk);
  return connection;
}

namespace {

// The connection a thread took last, and from which client: a hint only (an
// fd number may since belong to another connection of the pool: harmless).
thread_local struct {
  const PluginClient* client = nullptr;
  int fd = -1;
} last_used;

}  // namespace

std::unique_ptr<PluginClient::Connection> PluginClient::acquire(Clock::time_point deadline, Clock::time_point now,
                                                                bool& reused) {
  std::vector<std::unique_ptr<Connection>> stale;  // closed outside the lock
  {
    std::lock_guard lock(mutex_);
    // The connection this thread used last, if it is idle, goes to the back:
    // a caller thread keeps talking to the same plugin worker, so that the
    // scheduler can keep the two on one CPU (a pool that shuffles threads and
    // connections makes every call a wake-up across CPUs).
    if (last_used.client == this && idle_.size() > 1 && idle_.back()->fd != last_used.fd) {
      auto mine = std::find_if(idle_.begin(), idle_.end(), [](const auto& c) { return c->fd == last_used.fd; });
      if (mine != idle_.end()) std::iter_swap(mine, idle_.end() - 1);
    }
    while (!idle_.empty()) {
      auto pooled = std::move(idle_.back());
      idle_.pop_back();
      // Over a Unix socket a write to a closed peer fails at once (EPIPE)
      // without sending anything, and post() then takes the next connection;
      // over TCP it would seem to succeed, so look first.
      if (now - pooled->idle_since < max_idle_time && (unix_socket_ || pooled->still_open())) {
        reused = true;
        list_in_flight_locked(pooled->fd);
        last_used = {this, pooled->fd};
        return pooled;
      }
      stale.push_back(std::move(pooled));
    }
  }
  reused = false;
  auto connection = connect(deadline);
  ++*connections_;
  std::lock_guard lock(mutex_);
  list_in_flight_locked(connection->fd);
  last_used = {this, connection->fd};
  return connection;
}

void PluginClient::list_in_flight_locked(int fd) {
  in_flight_.push_back(fd);
  if (aborted_) ::shutdown(fd, SHUT_RDWR);
}

void PluginClient::release(std::unique_ptr<Connection> connection, bool reusable, bool in_flight) noexcept {
  if (reusable) connection->idle_since = Clock::now();
  {
    // One lock for both: off the in-flight list (before another thread can
    // take it from the pool and close it) and into the pool.
    std::lock_guard lock(mutex_);
    if (in_flight) in_flight_.erase(std::find(in_flight_.begin(), in_flight_.end(), connection->fd));
    // idle_ has room for max_idle reserved: this push never allocates.
    if (reusable && idle_.size() < max_idle) idle_.push_back(std::move(connection));
  }
  // Not pooled: closed here, off the list already.
}

void PluginClient::close_idle() {
  std::vector<std::unique_ptr<Connection>> closing;
  std::lock_guard lock(mutex_);
  closing.swap(idle_);
  idle_.reserve(max_idle);  // release() is noexcept: its push must not allocate
}

namespace {

using Connection = PluginClient::Connection;

/// Writes the request head into `head` (its buffer reused from call to
/// call): the request line, then `fixed_lines` (Host, and the token on
/// calls), then the deadline as it stands at `now` and the body's type and
/// length.
void request_head(std::string& head, std::string_view method, const std::string& path, const Payload* payload,
                  Clock::time_point deadline, Clock::time_point now, const std::string& fixed_lines) {
  head.clear();
  head.reserve(256 + fixed_lines.size());
  try {
    if (payload) {
      char budget[24];
      auto [end, ec] =
          std::to_chars(budget, budget + sizeof budget, std::max<std::int64_t>(remaining_ms(deadline, now), 1));
      const http1::Header fields[] = {{protocol::deadline_header, std::string_view(budget, end)},
                                      {"Content-Type", content_type(payload->encoding)}};
      http1::append_request_head(head, method, path, fields, payload->body.size());
    } else {
      http1::append_request_head(head, method, path, {}, std::nullopt);
    }
  } catch (const std::invalid_argument& e) {
    throw Error(ErrorCode::invalid_input, std::string("cannot send ") + path + ": " + e.what());
  }
  head.insert(head.find("\r\n") + 2, fixed_lines);
}

/// Head and body in one sendmsg (more if the socket takes less). Throws
/// `lost` if not a byte went out; returns why the request was cut short
/// after some bytes, or "" once it is all sent. `now`: the time the first
/// write's timeout is counted from.
std::string send_request(Connection& c, std::string& head, const Payload* payload, Clock::time_point deadline,
                         Clock::time_point now, bool& nothing_sent) {
  iovec iov[2] = {{head.data(), head.size()},
                  {payload ? const_cast<char*>(payload->body.data()) : nullptr, payload ? payload->body.size() : 0}};
  iovec* at = iov;
  int count = payload && !payload->body.empty() ? 2 : 1;
  for (bool first = true; count > 0; first = false) {
    c.arm(SO_SNDTIMEO, deadline, first ? now : Clock::now());
    msghdr msg{};
    msg.msg_iov = at;
    msg.msg_iovlen = static_cast<std::size_t>(count);
    ssize_t n = ::sendmsg(c.fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        c.arm(SO_SNDTIMEO, deadline, Clock::now(), true);  // throws once the deadline has passed
        continue;
      }
      if (nothing_sent) lost(errno_text("write"));
      return errno_text("write");
    }
    if (n > 0) nothing_sent = false;
    http1::consume(at, count, static_cast<std::size_t>(n));
  }
  return "";
}

/// The answer's head, skipping any 1xx, usually from the first read.
http1::ParseResult read_response_head(Connection& c, Clock::time_point deadline, http1::ResponseHead& response) {
  http1::ParseResult parsed;
  while (true) {
    while ((parsed = http1::parse_response_head(std::string_view(c.buffer.data(), c.have), response)).state ==
           http1::ParseResult::incomplete) {
      if (!c.fill(deadline)) lost(c.have == 0 ? "the connection closed without an answer" : "the answer was cut short");
    }
    if (parsed.state == http1::ParseResult::invalid) {
      throw TransportError{TransportFailure::lost, std::string("a malformed answer: ") + parsed.error, true};
    }
    if (response.status >= 200) return parsed;
    std::memmove(c.buffer.data(), c.buffer.data() + parsed.size, c.have - parsed.size);
    c.have -= parsed.size;
  }
}

/// A body of a known length, straight into a buffer of that length (grown
/// as the bytes come past reply_prealloc_bytes). Returns the buffer bytes used.
std::size_t read_length_body(Connection& c, std::uint64_t length, std::size_t used, Clock::time_point deadline,
                             std::string& body) {
  if (length > max_reply_bytes) too_large(length);
  auto size = static_cast<std::size_t>(length);
  std::size_t buffered = std::min(size, c.have - used);
  // Grown without a zero-fill: the reads overwrite every byte, and a body
  // cut short is discarded with the exception.
  http1::resize_for_overwrite(body, std::max(buffered, std::min(size, reply_prealloc_bytes)));
  std::memcpy(body.data(), c.buffer.data() + used, buffered);
  used += buffered;
  for (std::size_t got = buffered; got < size;) {
    if (got == body.size()) http1::resize_for_overwrite(body, std::min(size, 2 * got));  // as the bytes come
    std::size_t n = c.read_into(body.data() + got, body.size() - got, deadline);
    if (n == 0) lost("the answer was cut short");
    got += n;
  }
  return used;
}

std::size_t read_chunked_body(Connection& c, std::size_t used, Clock::time_point deadline, std::string& body) {
  http1::ChunkedDecoder decoder(max_reply_bytes);
  used += decoder.feed(std::string_view(c.buffer.data() + used, c.have - used), body);
  // A long chunked body is read in larger pieces than a head.
  if (!decoder.done() && c.buffer.size() < chunked_read) c.buffer.resize(chunked_read);
  while (!decoder.done() && !decoder.failed()) {
    c.have = used = 0;  // the head is no longer needed: reuse the buffer
    if (!c.fill(deadline)) lost("the chunked answer was cut short");
    used = decoder.feed(std::string_view(c.buffer.data(), c.have), body);
  }
  if (decoder.too_large()) too_large(max_reply_bytes);
  if (decoder.failed()) throw TransportError{TransportFailure::lost, "a malformed chunked answer", true};
  return used;
}

/// Neither length nor chunks: the body ends when the plugin closes.
std::size_t read_body_until_close(Connection& c, std::size_t used, Clock::time_point deadline, std::string& body) {
  body.assign(c.buffer.data() + used, c.have - used);
  char chunk[64 * 1024];
  while (std::size_t n = c.read_into(chunk, sizeof chunk, deadline)) {
    body.append(chunk, n);
    if (body.size() > max_reply_bytes) too_large(body.size());
  }
  return c.have;
}

HttpReply read_reply(Connection& c, std::string_view method, Clock::time_point deadline, bool& reusable) {
  http1::ResponseHead& response = c.response;
  http1::ParseResult parsed = read_response_head(c, deadline, response);
  HttpReply reply{response.status, std::string(response.get("Content-Type")), {}};
  const bool keep_alive = response.keep_alive;
  const auto framing = response.framing;
  std::size_t used = parsed.size;
  if (method == "HEAD") {
    // No body, whatever the head says.
  } else if (framing == http1::Framing::length) {
    used = read_length_body(c, response.content_length, used, deadline, reply.body);
  } else if (framing == http1::Framing::chunked) {
    used = read_chunked_body(c, used, deadline, reply.body);
  } else {
    used = read_body_until_close(c, used, deadline, reply.body);
  }
  // Bytes past the answer were never asked for: do not reuse the connection.
  reusable = keep_alive && framing != http1::Framing::until_close && used == c.have;
  c.have = 0;
  return reply;
}

}  // namespace

HttpReply PluginClient::exchange(Connection& c, std::string_view method, const std::string& path,
                                 const Payload* payload, Clock::time_point deadline, Clock::time_point now,
                                 bool& reusable, bool& nothing_sent) {
  reusable = false;
  nothing_sent = true;
  // /healthz goes without the token.
  request_head(c.head, method, path, payload, deadline, now, payload ? fixed_headers_ : host_header_);
  std::string write_error = send_request(c, c.head, payload, deadline, now, nothing_sent);
  if (!write_error.empty()) {
    // The plugin closed while the request was still going out, perhaps
    // after answering early (a 413): that answer may be there to read.
    try {
      HttpReply early = read_reply(c, method, deadline, reusable);
      reusable = false;
      return early;
    } catch (const TransportError&) {
      lost(write_error);
    }
  }
  return read_reply(c, method, deadline, reusable);
}

HttpReply PluginClient::post(const std::string& path, const Payload& payload, Clock::time_point deadline) {
  // One clock read serves the pool, the deadline header and the write's
  // timeout (a new connection reads it again).
  auto now = Clock::now();
  if (remaining_ms(deadline, now) == 0) lost("the deadline passed before the call was sent");
  // A pooled connection the plugin closed meanwhile fails before any byte is
  // written: take the next one, or a new one. max_idle + 1 tries reach a new
  // connection whatever the pool holds.
  for (std::size_t attempt = 0;; ++attempt) {
    bool reused = false;
    // Listed in in_flight_ from here; release() takes it off the list and
    // pools or closes it, whatever the exchange ends in.
    struct Lease {
      PluginClient& client;
      std::unique_ptr<Connection> connection;
      bool reusable = false;
      ~Lease() { client.release(std::move(connection), reusable, /*in_flight=*/true); }
    } lease{*this, acquire(deadline, now, reused)};
    if (!reused) now = Clock::now();  // after the connect
    bool nothing_sent = true;
    try {
      return exchange(*lease.connection, "POST", path, &payload, deadline, now, lease.reusable, nothing_sent);
    } catch (const TransportError& e) {
      lease.reusable = false;
      now = Clock::now();
      if (!nothing_sent || remaining_ms(deadline, now) == 0) throw;
      if (reused && attempt <= max_idle) continue;
      // A new connection that closed before taking a byte: the plugin never saw the request.
      throw TransportError{TransportFailure::not_delivered, e.detail};
    }
  }
}

void PluginClient::abort_in_flight() {
  std::lock_guard lock(mutex_);
  aborted_ = true;
  for (int fd : in_flight_) ::shutdown(fd, SHUT_RDWR);
}

HealthAnswer PluginClient::health(std::chrono::milliseconds timeout) {
  auto deadline = protocol::deadline_after(timeout);
  try {
    auto connection = connect(deadline);
    bool reusable = false;
    bool nothing_sent = true;
    HttpReply reply =
        exchange(*connection, "GET", "/healthz", nullptr, deadline, Clock::now(), reusable, nothing_sent);
    if (reply.status == 200 && reusable) {
      // Saves the first call a connection of its own.
      ++*connections_;
      release(std::move(connection), true, /*in_flight=*/false);
    }
    return HealthAnswer{std::move(reply), {}};
  } catch (const TransportError& e) {
    return HealthAnswer{std::nullopt, e.malformed ? e.detail : std::string()};
  }
}

}  // namespace plugvisor::detail
