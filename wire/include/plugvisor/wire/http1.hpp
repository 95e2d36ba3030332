// Internal to plugvisor (the SDK's server and the manager's PluginClient): the
// HTTP/1.1 framing of protocol v1's call path. Not part of the public API; it
// may change in any release.
//
// Parsing works on bytes already read: a head is parsed in one pass from a
// buffer once its blank line is there, and its fields are views into that
// buffer (valid while the buffer is unchanged). Nothing here does I/O.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace plugvisor::detail::http1 {

/// The largest head (request or status line, headers, blank line, and the
/// empty lines tolerated before a request) accepted: beyond it, 431.
inline constexpr std::size_t max_head_bytes = 64 * 1024;
/// The most header lines a head may have: beyond it, 431 (protocol.md §10.5).
inline constexpr std::size_t max_header_lines = 100;

/// One header field as received, or to be written. Names compare
/// case-insensitively (iequals).
struct Header {
  std::string_view name;
  std::string_view value;
};

/// How a message's body is delimited.
enum class Framing {
  length,       ///< Content-Length (absent on a request: no body)
  chunked,      ///< Transfer-Encoding: chunked
  until_close,  ///< a response with neither: the body ends when the peer closes
};

/// What request and response heads share.
struct Head {
  int minor_version = 1;             ///< HTTP/1.<minor_version>
  std::vector<Header> headers;       ///< in order, views into the parsed buffer
  Framing framing = Framing::length;
  std::uint64_t content_length = 0;  ///< with Framing::length
  bool has_content_length = false;   ///< a Content-Length header was present
  bool keep_alive = true;            ///< false after "Connection: close", or HTTP/1.0 without keep-alive

  /// The value of the first header named `name` (case-insensitive); empty if none.
  std::string_view get(std::string_view name) const noexcept;
  /// Whether a header named `name` is present.
  bool has(std::string_view name) const noexcept;
};

/// A parsed request head.
struct RequestHead : Head {
  std::string_view method;
  std::string_view target;  ///< as sent: path and query
  bool expect_continue = false;  ///< "Expect: 100-continue"
};

/// A parsed response head.
struct ResponseHead : Head {
  int status = 0;
};

/// The outcome of parsing a head.
struct ParseResult {
  enum State { incomplete, complete, invalid } state = incomplete;
  std::size_t size = 0;   ///< with `complete`: bytes of the head, blank line included
  int status = 400;       ///< with `invalid`: the status to answer (400, 431, 501)
  const char* error = ""; ///< with `invalid`: what was wrong, for people
};

/// Parses a request head at the start of `data`. `incomplete` means "read
/// more" (at most max_head_bytes are looked at: beyond that it is invalid, 431).
/// Strict where ambiguity could smuggle a request: no whitespace before a
/// colon, no folded lines, no bare CR, one Content-Length value, not both
/// Content-Length and Transfer-Encoding, only the chunked transfer coding.
ParseResult parse_request_head(std::string_view data, RequestHead& out);

/// Parses a response head at the start of `data`; same rules. A response
/// without Content-Length or chunked encoding is Framing::until_close; a 1xx,
/// 204 or 304 has no body (length 0).
ParseResult parse_response_head(std::string_view data, ResponseHead& out);

/// Sets `body`'s size to `size` without zero-filling the bytes past its old
/// size: for a body that a read overwrites at once (a 16 MiB body otherwise
/// costs a 16 MiB memset before the read, once per side of a call). Those
/// bytes hold whatever the buffer held: the caller overwrites them before
/// anything reads them, or discards `body`. Where the standard library lacks
/// `std::string::resize_and_overwrite` (C++23), the bytes are zero-filled.
void resize_for_overwrite(std::string& body, std::size_t size);

/// Decodes a chunked body incrementally. Feed it the bytes that follow the
/// head, as they arrive; it appends the data to `body`.
class ChunkedDecoder {
 public:
  /// `max_body`: a body larger than this fails with too_large().
  explicit ChunkedDecoder(std::uint64_t max_body = UINT64_MAX) : max_body_(max_body) {}

  /// Consumes what it can of `in`, appending chunk data to `body`; returns the
  /// bytes consumed. Stops at the end of the body (done()) or on an error
  /// (failed()); otherwise consumes everything (a partial line is kept).
  std::size_t feed(std::string_view in, std::string& body);

  /// The last chunk and the trailer have been consumed.
  bool done() const noexcept { return state_ == State::done; }
  /// The input is not valid chunked encoding, or the body exceeds max_body.
  bool failed() const noexcept { return state_ == State::failed; }
  /// failed() because of the size limit.
  bool too_large() const noexcept { return too_large_; }
  /// While in a chunk's data: how many data bytes are still due (so a caller
  /// may read them straight into place, e.g. to drop a body in bulk).
  std::uint64_t data_left() const noexcept { return state_ == State::data ? left_ : 0; }

 private:
  enum class State { size_line, data, data_crlf, trailer, done, failed };
  State state_ = State::size_line;
  std::uint64_t left_ = 0;
  std::uint64_t total_ = 0;
  std::uint64_t max_body_;
  bool too_large_ = false;
  std::string line_;  // a size or trailer line split across feeds
  bool consume_line(std::string_view line);
};

/// Whether `value` can be written as a header value (no CR, LF or NUL;
/// visible ASCII, space and tab, or bytes >= 0x80).
bool valid_field_value(std::string_view value) noexcept;
/// Whether `name` is an HTTP token (the characters a header name may hold).
bool valid_field_name(std::string_view name) noexcept;

/// The Host header value for a request to a plugin at `address` (RFC 9110
/// §7.2: a host, never a socket path, which strict servers such as Go's
/// net/http refuse with 400). Over a Unix socket "localhost"; over TCP the
/// address itself ("127.0.0.1:PORT"), an IPv6 host in brackets ("[::1]:PORT").
std::string host_header_value(bool unix_socket, std::string_view address);

/// Appends "METHOD target HTTP/1.1", the headers, Content-Length (when
/// `content_length` is set) and the blank line to `out`. Throws
/// std::invalid_argument for a name or value that would break the framing
/// (CR, LF: header injection), a Content-Length or Transfer-Encoding among
/// `headers` (the framing is written here, once), or a target with whitespace
/// or control bytes.
void append_request_head(std::string& out, std::string_view method, std::string_view target,
                         std::span<const Header> headers, std::optional<std::uint64_t> content_length);

/// Appends "HTTP/1.1 status reason", the headers, Content-Length and the
/// blank line to `out`. Same checks as append_request_head. A 1xx, 204 or 304
/// carries no Content-Length (RFC 9110 §8.6); `content_length` must be 0 then.
void append_response_head(std::string& out, int status, std::span<const Header> headers,
                          std::uint64_t content_length);

/// The reason phrase of a status ("Not Found"); "Unknown" for others.
std::string_view reason_phrase(int status) noexcept;

/// ASCII case-insensitive equality.
bool iequals(std::string_view a, std::string_view b) noexcept;

/// The path of a request target, without its query ("/a/b?x" -> "/a/b").
std::string_view path_of(std::string_view target) noexcept;

/// Splits a path on '/': "/v1/a/b" -> {"v1", "a", "b"}; "/" -> {""};
/// empty segments are kept ("/v1//b" -> {"v1", "", "b"}).
std::vector<std::string_view> split_path(std::string_view path);

/// After a write of `n` bytes from the `count` buffers at `iov` (a message
/// written in several pieces): drops what was written, moving `iov` and
/// `count` past the buffers written whole and trimming the next one.
void consume(iovec*& iov, int& count, std::size_t n) noexcept;

}  // namespace plugvisor::detail::http1
