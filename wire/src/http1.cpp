#include "plugvisor/wire/http1.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace plugvisor::detail::http1 {

namespace {

constexpr char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// The token characters of RFC 9110 §5.6.2, as a table: a header name is
// checked a byte at a time on every head, both sides.
constexpr std::array<bool, 256> tchar_table = [] {
  std::array<bool, 256> table{};
  for (int c = 0; c < 256; ++c) {
    table[static_cast<std::size_t>(c)] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  }
  for (unsigned char c : std::string_view("!#$%&'*+-.^_`|~")) table[c] = true;
  return table;
}();

bool is_tchar(unsigned char c) noexcept { return tchar_table[c]; }

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

ParseResult bad(const char* error, int status = 400) {
  return ParseResult{ParseResult::invalid, 0, status, error};
}

// Whether `list` (a comma-separated header value) holds `token`, case-insensitively.
bool list_has(std::string_view list, std::string_view token) noexcept {
  while (!list.empty()) {
    auto comma = list.find(',');
    if (iequals(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

bool parse_decimal(std::string_view text, std::uint64_t& value) noexcept {
  if (text.empty() || text.size() > 18) return false;  // 18 digits: no overflow, far beyond any body
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  std::from_chars(text.data(), text.data() + text.size(), value);
  return true;
}

// Whether `text` holds a CR or a NUL byte: one pass, eight bytes at a time
// (find_first_of with a two-byte set calls memchr once per byte of the head:
// measured, the largest single item of the C++ plugin's user time per call).
bool has_cr_or_nul(std::string_view text) noexcept {
  constexpr std::uint64_t ones = 0x0101010101010101u;
  constexpr std::uint64_t highs = 0x8080808080808080u;
  // Whether any byte of `v` is zero (exact: no false positive).
  auto zero_byte = [](std::uint64_t v) { return ((v - ones) & ~v & highs) != 0; };
  const char* p = text.data();
  std::size_t left = text.size();
  for (; left >= 8; p += 8, left -= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    if (zero_byte(v) || zero_byte(v ^ (ones * '\r'))) return true;
  }
  for (; left > 0; ++p, --left) {
    if (*p == '\r' || *p == '\0') return true;
  }
  return false;
}

// Splits the head at the start of `data` into lines. Calls `line` for each
// line before the blank one, without its CR LF (a bare LF also ends a line).
// Returns the head's size, 0 if the blank line has not arrived yet, or
// SIZE_MAX for a bare CR or NUL inside a line.
template <class F>
std::size_t for_each_line(std::string_view data, F&& line) {
  std::size_t at = 0;
  const std::size_t limit = std::min(data.size(), max_head_bytes);
  while (at < limit) {
    auto lf = data.find('\n', at);
    if (lf == std::string_view::npos || lf >= limit) return 0;
    std::size_t end = lf > at && data[lf - 1] == '\r' ? lf - 1 : lf;
    std::string_view text = data.substr(at, end - at);
    if (has_cr_or_nul(text)) return SIZE_MAX;
    at = lf + 1;
    if (text.empty()) return at;
    if (!line(text)) return SIZE_MAX;
  }
  return 0;
}

// Parses the header lines after the first one into `head`, and the framing
// headers. `first` receives the start line.
ParseResult parse_head(std::string_view data, Head& head, std::string_view& first) {
  head.headers.clear();
  // A client may send an empty line before a request (RFC 9112 §2.2).
  std::size_t skipped = 0;
  while (skipped < data.size() && skipped < 4 && (data[skipped] == '\r' || data[skipped] == '\n')) ++skipped;
  data.remove_prefix(skipped);

  const char* error = "";
  int error_status = 400;
  bool seen_first = false;
  std::size_t size = for_each_line(data, [&](std::string_view text) {
    if (!seen_first) {
      seen_first = true;
      first = text;
      return true;
    }
    if (text.front() == ' ' || text.front() == '\t') {
      error = "folded header lines are not accepted";
      return false;
    }
    auto colon = text.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      error = "a header line without a name and a colon";
      return false;
    }
    if (head.headers.size() == max_header_lines) {
      error = "the head has more than 100 header lines";
      error_status = 431;
      return false;
    }
    std::string_view name = text.substr(0, colon);
    if (!valid_field_name(name)) {
      error = "a header name with characters HTTP does not allow (no space before the colon)";
      return false;
    }
    head.headers.push_back(Header{name, trim(text.substr(colon + 1))});
    return true;
  });
  if (size == 0) {
    // The empty lines skipped count too: the limit is on the bytes a
    // reader must hold, so a full buffer is never "incomplete".
    if (skipped + data.size() >= max_head_bytes) return bad("the request head exceeds 64 KiB", 431);
    return ParseResult{};
  }
  if (size == SIZE_MAX) return bad(*error ? error : "a bare CR or NUL byte in the head", error_status);
  if (!seen_first) return bad("an empty head");

  head.framing = Framing::length;
  head.content_length = 0;
  head.has_content_length = false;
  bool has_transfer = false;
  for (const auto& h : head.headers) {
    if (iequals(h.name, "Content-Length")) {
      // One value; repeated identical values (also as a list) are tolerated.
      std::string_view values = h.value;
      do {
        auto comma = values.find(',');
        std::uint64_t v = 0;
        if (!parse_decimal(trim(values.substr(0, comma)), v)) return bad("Content-Length is not a whole number");
        if (head.has_content_length && v != head.content_length) return bad("conflicting Content-Length values");
        head.content_length = v;
        head.has_content_length = true;
        values = comma == std::string_view::npos ? std::string_view() : values.substr(comma + 1);
      } while (!values.empty());
    } else if (iequals(h.name, "Transfer-Encoding")) {
      if (has_transfer || !iequals(trim(h.value), "chunked")) {
        return bad("Transfer-Encoding other than chunked is not supported: send Content-Length", 501);
      }
      has_transfer = true;
    } else if (iequals(h.name, "Connection")) {
      if (list_has(h.value, "close")) head.keep_alive = false;
      if (list_has(h.value, "keep-alive") && head.minor_version == 0) head.keep_alive = true;
    }
  }
  if (has_transfer) {
    if (head.has_content_length) return bad("both Content-Length and Transfer-Encoding: send one");
    head.framing = Framing::chunked;
  }
  return ParseResult{ParseResult::complete, skipped + size, 0, ""};
}

// "HTTP/1.x" -> x, or -1.
int http_minor(std::string_view version) noexcept {
  if (version.size() != 8 || version.substr(0, 7) != "HTTP/1." || version[7] < '0' || version[7] > '9') return -1;
  return version[7] - '0';
}

// Sets keep_alive from the version before parse_head reads Connection.
int prescan_version(std::string_view data, bool request) {
  auto lf = data.find('\n');
  std::string_view line = data.substr(0, lf);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (request) {
    auto space = line.rfind(' ');
    return space == std::string_view::npos ? -1 : http_minor(line.substr(space + 1));
  }
  return http_minor(line.substr(0, line.find(' ')));
}

void append_fields(std::string& out, std::span<const Header> headers) {
  for (const auto& h : headers) {
    if (!valid_field_name(h.name) || !valid_field_value(h.value)) {
      throw std::invalid_argument("HTTP header '" + std::string(h.name) +
                                  "' has a name or value that would break the message (CR, LF or NUL)");
    }
    // The framing is the codec's to write: a caller's copy would make a
    // second, possibly contradicting, length that the parser refuses.
    if (iequals(h.name, "Content-Length") || iequals(h.name, "Transfer-Encoding")) {
      throw std::invalid_argument("HTTP header '" + std::string(h.name) +
                                  "' is written by the codec from the body's length: do not pass it");
    }
    out.append(h.name).append(": ").append(h.value).append("\r\n");
  }
}

void append_length(std::string& out, std::uint64_t length) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, length);
  out.append("Content-Length: ").append(digits, end).append("\r\n");
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view Head::get(std::string_view name) const noexcept {
  for (const auto& h : headers) {
    if (iequals(h.name, name)) return h.value;
  }
  return {};
}

bool Head::has(std::string_view name) const noexcept {
  for (const auto& h : headers) {
    if (iequals(h.name, name)) return true;
  }
  return false;
}

bool valid_field_name(std::string_view name) noexcept {
  if (name.empty()) return false;
  for (char c : name) {
    if (!is_tchar(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool valid_field_value(std::string_view value) noexcept {
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7f) return false;
  }
  return true;
}

ParseResult parse_request_head(std::string_view data, RequestHead& out) {
  std::string_view first;
  std::size_t skip = 0;
  while (skip < data.size() && skip < 4 && (data[skip] == '\r' || data[skip] == '\n')) ++skip;
  int minor = prescan_version(data.substr(skip), true);
  out.minor_version = minor < 0 ? 1 : minor;
  out.keep_alive = out.minor_version >= 1;
  ParseResult result = parse_head(data, out, first);
  if (result.state != ParseResult::complete) return result;
  // METHOD SP target SP HTTP/1.x
  auto sp1 = first.find(' ');
  auto sp2 = first.rfind(' ');
  if (sp1 == std::string_view::npos || sp1 == 0 || sp2 == sp1) {
    return bad("the request line is not METHOD TARGET HTTP/1.1");
  }
  out.method = first.substr(0, sp1);
  out.target = first.substr(sp1 + 1, sp2 - sp1 - 1);
  for (char c : out.method) {
    if (!is_tchar(static_cast<unsigned char>(c))) return bad("the request method is not a token");
  }
  if (out.target.empty() || out.target.find_first_of(" \t") != std::string_view::npos) {
    return bad("the request target is empty or holds whitespace");
  }
  if (minor < 0) return bad("only HTTP/1.0 and HTTP/1.1 are served", 505);
  out.expect_continue = list_has(out.get("Expect"), "100-continue");
  return result;
}

ParseResult parse_response_head(std::string_view data, ResponseHead& out) {
  std::string_view first;
  int minor = prescan_version(data, false);
  out.minor_version = minor < 0 ? 1 : minor;
  out.keep_alive = out.minor_version >= 1;
  ParseResult result = parse_head(data, out, first);
  if (result.state != ParseResult::complete) return result;
  // HTTP/1.x SP 3DIGIT [SP reason]
  if (minor < 0) return bad("the status line is not HTTP/1.x");
  if (first.size() < 12 || first[8] != ' ' || (first.size() > 12 && first[12] != ' ')) {
    return bad("the status line is not HTTP/1.1 NNN REASON");
  }
  int status = 0;
  auto [end, ec] = std::from_chars(first.data() + 9, first.data() + 12, status);
  if (ec != std::errc() || end != first.data() + 12 || status < 100 || status > 999) {
    return bad("the status code is not three digits");
  }
  out.status = status;
  if (status < 200 || status == 204 || status == 304) {
    out.framing = Framing::length;
    out.content_length = 0;
  } else if (out.framing == Framing::length && !out.has_content_length) {
    out.framing = Framing::until_close;
    out.keep_alive = false;
  }
  return result;
}

bool ChunkedDecoder::consume_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.find('\r') != std::string_view::npos) return false;
  if (state_ == State::trailer) {
    if (line.empty()) state_ = State::done;
    return true;  // trailer fields mean nothing here
  }
  if (state_ == State::data_crlf) {
    if (!line.empty()) return false;
    state_ = State::size_line;
    return true;
  }
  // chunk-size [; extensions]
  std::string_view size = trim(line.substr(0, line.find(';')));
  if (size.empty() || size.size() > 15) return false;
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(size.data(), size.data() + size.size(), value, 16);
  if (ec != std::errc() || end != size.data() + size.size()) return false;
  if (value == 0) {
    state_ = State::trailer;
    return true;
  }
  total_ += value;
  if (total_ > max_body_) {
    too_large_ = true;
    return false;
  }
  left_ = value;
  state_ = State::data;
  return true;
}

std::size_t ChunkedDecoder::feed(std::string_view in, std::string& body) {
  constexpr std::size_t max_line = 4096;
  std::size_t used = 0;
  while (used < in.size() && state_ != State::done && state_ != State::failed) {
    if (state_ == State::data) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, in.size() - used));
      body.append(in.data() + used, n);
      used += n;
      left_ -= n;
      if (left_ == 0) state_ = State::data_crlf;
      continue;
    }
    auto lf = in.find('\n', used);
    if (lf == std::string_view::npos) {
      line_.append(in.substr(used));
      used = in.size();
      if (line_.size() > max_line) state_ = State::failed;
      break;
    }
    std::string_view part = in.substr(used, lf - used);
    used = lf + 1;
    bool ok;
    if (line_.empty()) {
      ok = consume_line(part);
    } else {
      line_.append(part);
      ok = line_.size() <= max_line && consume_line(line_);
      line_.clear();
    }
    if (!ok) state_ = State::failed;
  }
  return used;
}

std::string host_header_value(bool unix_socket, std::string_view address) {
  if (unix_socket) return "localhost";
  auto colon = address.rfind(':');
  std::string_view host = address.substr(0, colon == std::string_view::npos ? address.size() : colon);
  if (host.find(':') != std::string_view::npos && !host.starts_with('[')) {
    return "[" + std::string(host) + "]" + std::string(address.substr(host.size()));
  }
  return std::string(address);
}

void append_request_head(std::string& out, std::string_view method, std::string_view target,
                         std::span<const Header> headers, std::optional<std::uint64_t> content_length) {
  if (!valid_field_name(method)) throw std::invalid_argument("the HTTP method is not a token");
  if (target.empty()) throw std::invalid_argument("the request target is empty");
  for (char c : target) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) throw std::invalid_argument("the request target holds whitespace or control bytes");
  }
  out.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  append_fields(out, headers);
  if (content_length) append_length(out, *content_length);
  out.append("\r\n");
}

void append_response_head(std::string& out, int status, std::span<const Header> headers,
                          std::uint64_t content_length) {
  char digits[4];
  if (status < 100 || status > 999) throw std::invalid_argument("an HTTP status has three digits");
  std::to_chars(digits, digits + 3, status);
  const bool bodiless = status < 200 || status == 204 || status == 304;
  if (bodiless && content_length != 0) throw std::invalid_argument("a 1xx, 204 or 304 response has no body");
  out.append("HTTP/1.1 ").append(digits, 3).append(" ").append(reason_phrase(status)).append("\r\n");
  append_fields(out, headers);
  if (!bodiless) append_length(out, content_length);
  out.append("\r\n");
}

std::string_view reason_phrase(int status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

std::string_view path_of(std::string_view target) noexcept { return target.substr(0, target.find('?')); }

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  parts.reserve(4);  // a call's path, /v1/{contract}/{type}/{method}, in one allocation
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (true) {
    auto slash = path.find('/');
    parts.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return parts;
}

void consume(iovec*& iov, int& count, std::size_t n) noexcept {
  while (count > 0 && n >= iov->iov_len) {
    n -= iov->iov_len;
    ++iov;
    --count;
  }
  if (count > 0) {
    iov->iov_base = static_cast<char*>(iov->iov_base) + n;
    iov->iov_len -= n;
  }
}

}  // namespace plugvisor::detail::http1
