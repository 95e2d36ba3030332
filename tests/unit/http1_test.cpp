// The HTTP/1.1 framing codec of the call path (wire/src/http1.cpp): heads
// parsed from bytes, malformed input refused, chunked bodies, serialisation.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

#include "plugvisor/wire/http1.hpp"

namespace http1 = plugvisor::detail::http1;
using Result = http1::ParseResult;

namespace {

Result parse(std::string_view text, http1::RequestHead& head) { return http1::parse_request_head(text, head); }

Result parse(std::string_view text) {
  http1::RequestHead head;
  return parse(text, head);
}

Result parse_response(std::string_view text, http1::ResponseHead& head) {
  return http1::parse_response_head(text, head);
}

const std::string call_head =
    "POST /v1/dataProcessor/echo/processData HTTP/1.1\r\n"
    "Host: plugin\r\n"
    "Authorization: Bearer t0k\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Length: 5\r\n"
    "X-Plugvisor-Deadline-Ms: 250\r\n"
    "\r\n";

}  // namespace

TEST_CASE("a call's request head is parsed in one pass, its headers found whatever their case", "[unit][http1]") {
  http1::RequestHead head;
  const std::string bytes = call_head + "hello";  // the head's views point into it
  auto result = parse(bytes, head);
  REQUIRE(result.state == Result::complete);
  CHECK(result.size == call_head.size());
  CHECK(head.method == "POST");
  CHECK(head.target == "/v1/dataProcessor/echo/processData");
  CHECK(head.minor_version == 1);
  CHECK(head.keep_alive);
  CHECK(head.framing == http1::Framing::length);
  CHECK(head.has_content_length);
  CHECK(head.content_length == 5);
  CHECK(head.get("authorization") == "Bearer t0k");
  CHECK(head.get("AUTHORIZATION") == "Bearer t0k");
  CHECK(head.get("x-plugvisor-deadline-ms") == "250");
  CHECK(head.get("Nope").empty());
  CHECK_FALSE(head.has("Nope"));
}

TEST_CASE("lowercase header names and values with surrounding spaces are read as such", "[unit][http1]") {
  http1::RequestHead head;
  auto result = parse("POST /shutdown HTTP/1.1\r\ncontent-length:   0  \r\nconnection: Close\r\n\r\n", head);
  REQUIRE(result.state == Result::complete);
  CHECK(head.has_content_length);
  CHECK(head.content_length == 0);
  CHECK_FALSE(head.keep_alive);
}

TEST_CASE("a head that has not fully arrived asks for more bytes", "[unit][http1]") {
  for (std::size_t cut : {0UL, 1UL, 10UL, call_head.size() / 2, call_head.size() - 2, call_head.size() - 1}) {
    CAPTURE(cut);
    CHECK(parse(call_head.substr(0, cut)).state == Result::incomplete);
  }
}

TEST_CASE("a head over 64 KiB is refused with 431", "[unit][http1]") {
  std::string huge = "GET /healthz HTTP/1.1\r\nX-Big: " + std::string(http1::max_head_bytes, 'a');
  auto result = parse(huge);
  CHECK(result.state == Result::invalid);
  CHECK(result.status == 431);
  // Just under the limit, complete, is fine.
  std::string big = "GET /healthz HTTP/1.1\r\nX-Big: " + std::string(60000, 'a') + "\r\n\r\n";
  CHECK(parse(big).state == Result::complete);
}

TEST_CASE("empty lines before a request count towards the 64 KiB limit, so a full buffer is never incomplete",
          "[unit][http1]") {
  // Issue 14: a head of ~65.5 KB after four CRLFs was "incomplete" with
  // max_head_bytes + 1 bytes in hand, and the C++ SDK reset the connection.
  for (std::string lead : {"\r\n\r\n", "\n\n\n\n", "\r\n"}) {
    std::string head = lead + "GET /healthz HTTP/1.1\r\nX-Big: ";
    head += std::string(http1::max_head_bytes + 1 - head.size(), 'a');
    auto result = parse(head);
    CHECK(result.state == Result::invalid);
    CHECK(result.status == 431);
  }
}

TEST_CASE("a head of more than 100 header lines is refused with 431", "[unit][http1]") {
  std::string head = "GET /healthz HTTP/1.1\r\n";
  for (std::size_t i = 0; i < http1::max_header_lines; ++i) head += "X-" + std::to_string(i) + ": v\r\n";
  CHECK(parse(head + "\r\n").state == Result::complete);  // 100 is fine
  auto result = parse(head + "X-One-Too-Many: v\r\n\r\n");
  CHECK(result.state == Result::invalid);
  CHECK(result.status == 431);
}

TEST_CASE("a bad Content-Length is refused", "[unit][http1]") {
  for (const char* value : {"-1", "+5", "5x", "0x10", "", "1 2", "99999999999999999999", "5.0"}) {
    CAPTURE(value);
    auto result = parse(std::string("POST /x HTTP/1.1\r\nContent-Length: ") + value + "\r\n\r\n");
    CHECK(result.state == Result::invalid);
    CHECK(result.status == 400);
  }
}

TEST_CASE("conflicting Content-Length headers are refused, identical repeats are one value", "[unit][http1]") {
  CHECK(parse("POST /x HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n").state == Result::invalid);
  CHECK(parse("POST /x HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n").state == Result::invalid);
  http1::RequestHead head;
  REQUIRE(parse("POST /x HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n", head).state ==
          Result::complete);
  CHECK(head.content_length == 5);
}

TEST_CASE("Content-Length with Transfer-Encoding, or a coding other than chunked, is refused", "[unit][http1]") {
  CHECK(parse("POST /x HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n").state ==
        Result::invalid);
  auto gzip = parse("POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
  CHECK(gzip.state == Result::invalid);
  CHECK(gzip.status == 501);
  http1::RequestHead head;
  REQUIRE(parse("POST /x HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n", head).state == Result::complete);
  CHECK(head.framing == http1::Framing::chunked);
}

TEST_CASE("header injection through bare CR, folded lines or spaces before the colon is refused", "[unit][http1]") {
  CHECK(parse("POST /x HTTP/1.1\r\nX-A: a\rContent-Length: 5\r\n\r\n").state == Result::invalid);
  CHECK(parse("POST /x HTTP/1.1\r\nX-A: a\r\n continued\r\n\r\n").state == Result::invalid);
  CHECK(parse("POST /x HTTP/1.1\r\nContent-Length : 5\r\n\r\n").state == Result::invalid);
  CHECK(parse("POST /x HTTP/1.1\r\n: empty name\r\n\r\n").state == Result::invalid);
  CHECK(parse("POST /x HTTP/1.1\r\nno colon here\r\n\r\n").state == Result::invalid);
  static constexpr char nul[] = "POST /x HTTP/1.1\r\nX-A: a\0b\r\n\r\n";
  CHECK(parse(std::string(nul, sizeof nul - 1)).state == Result::invalid);
}

TEST_CASE("a CR or NUL byte anywhere in a header line is refused, and no other byte is taken for one", "[unit][http1]") {
  // The check reads eight bytes at a time: every position of a 3-word
  // value, and bytes next to CR and NUL in value (0x01, 0x0c, 0x0e, 0x8d, 0x80, 0xff).
  const std::string value(24, 'v');
  for (std::size_t at = 0; at < value.size(); ++at) {
    for (char bad : {'\r', '\0'}) {
      std::string v = value;
      v[at] = bad;
      INFO("byte " << static_cast<int>(bad) << " at " << at);
      CHECK(parse("POST /x HTTP/1.1\r\nX-A: " + v + "\r\n\r\n").state == Result::invalid);
    }
    for (unsigned char near : {0x01, 0x0c, 0x0e, 0x8d, 0x80, 0xff}) {
      std::string v = value;
      v[at] = static_cast<char>(near);
      INFO("byte " << static_cast<int>(near) << " at " << at);
      http1::RequestHead head;
      const std::string bytes = "POST /x HTTP/1.1\r\nX-A: " + v + "\r\n\r\n";  // the head's views point into it
      REQUIRE(parse(bytes, head).state == Result::complete);
      CHECK(head.get("X-A") == v);
    }
  }
}

TEST_CASE("header names are tokens: every byte outside RFC 9110's tchar set is refused", "[unit][http1]") {
  const std::string_view tchars = "!#$%&'*+-.^_`|~";
  for (int c = 1; c < 256; ++c) {
    const char byte = static_cast<char>(c);
    if (c == '\r' || c == '\n' || c == ':') continue;  // these end the line or the name
    const bool token = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       tchars.find(byte) != std::string_view::npos;
    INFO("byte " << c);
    CHECK((parse("POST /x HTTP/1.1\r\nX" + std::string(1, byte) + "A: v\r\n\r\n").state == Result::complete) == token);
  }
}

TEST_CASE("malformed request lines are refused", "[unit][http1]") {
  CHECK(parse("POST\r\n\r\n").state == Result::invalid);
  CHECK(parse("POST /x\r\n\r\n").state == Result::invalid);
  CHECK(parse("POST /x HTTP/2.0\r\n\r\n").state == Result::invalid);
  CHECK(parse("PO(ST /x HTTP/1.1\r\n\r\n").state == Result::invalid);
  CHECK(parse("POST  HTTP/1.1\r\n\r\n").state == Result::invalid);
  CHECK(parse(" \r\n\r\n").state == Result::invalid);
  CHECK(parse("\r\n\r\n\r\n\r\n\r\n").state == Result::invalid);
}

TEST_CASE("HTTP/1.0 closes unless it asks for keep-alive, HTTP/1.1 keeps unless it asks to close", "[unit][http1]") {
  http1::RequestHead head;
  REQUIRE(parse("GET /healthz HTTP/1.0\r\n\r\n", head).state == Result::complete);
  CHECK(head.minor_version == 0);
  CHECK_FALSE(head.keep_alive);
  REQUIRE(parse("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", head).state == Result::complete);
  CHECK(head.keep_alive);
  REQUIRE(parse("GET /healthz HTTP/1.1\r\nConnection: TE, close\r\n\r\n", head).state == Result::complete);
  CHECK_FALSE(head.keep_alive);
}

TEST_CASE("pipelined requests are parsed one after the other from the same bytes", "[unit][http1]") {
  std::string first = "POST /v1/a/b/c HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
  std::string second = "GET /healthz HTTP/1.1\r\n\r\n";
  std::string bytes = first + second;
  http1::RequestHead head;
  auto one = parse(bytes, head);
  REQUIRE(one.state == Result::complete);
  CHECK(head.target == "/v1/a/b/c");
  CHECK(bytes.substr(one.size, head.content_length) == "abc");
  auto rest = bytes.substr(one.size + head.content_length);
  auto two = parse(rest, head);
  REQUIRE(two.state == Result::complete);
  CHECK(head.method == "GET");
  CHECK(head.target == "/healthz");
  CHECK(two.size == rest.size());
}

TEST_CASE("a bare LF ends lines too, and a leading empty line is skipped", "[unit][http1]") {
  http1::RequestHead head;
  std::string text = "\r\nGET /healthz HTTP/1.1\nHost: x\n\n";
  auto result = parse(text, head);
  REQUIRE(result.state == Result::complete);
  CHECK(result.size == text.size());
  CHECK(head.get("Host") == "x");
}

TEST_CASE("Expect: 100-continue is noticed", "[unit][http1]") {
  http1::RequestHead head;
  REQUIRE(parse("POST /x HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n", head).state ==
          Result::complete);
  CHECK(head.expect_continue);
}

TEST_CASE("response heads: status, length, chunked, read until close, bodiless statuses", "[unit][http1]") {
  http1::ResponseHead head;
  REQUIRE(parse_response("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\ncontent-length: 2\r\n\r\n{}", head)
              .state == Result::complete);
  CHECK(head.status == 200);
  CHECK(head.framing == http1::Framing::length);
  CHECK(head.content_length == 2);
  CHECK(head.get("content-type") == "application/json");

  REQUIRE(parse_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", head).state == Result::complete);
  CHECK(head.framing == http1::Framing::chunked);

  REQUIRE(parse_response("HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n", head).state == Result::complete);
  CHECK(head.framing == http1::Framing::until_close);
  CHECK_FALSE(head.keep_alive);

  REQUIRE(parse_response("HTTP/1.1 204 No Content\r\n\r\n", head).state == Result::complete);
  CHECK(head.framing == http1::Framing::length);
  CHECK(head.content_length == 0);

  REQUIRE(parse_response("HTTP/1.1 100 Continue\r\n\r\n", head).state == Result::complete);
  CHECK(head.status == 100);

  REQUIRE(parse_response("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", head).state == Result::complete);
  CHECK(head.status == 404);
}

TEST_CASE("malformed response heads are refused", "[unit][http1]") {
  http1::ResponseHead head;
  CHECK(parse_response("HTTP/1.1 2000 OK\r\n\r\n", head).state == Result::invalid);
  CHECK(parse_response("HTTP/1.1 20 OK\r\n\r\n", head).state == Result::invalid);
  CHECK(parse_response("HTTP/2 200 OK\r\n\r\n", head).state == Result::invalid);
  CHECK(parse_response("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", head).state == Result::invalid);
  CHECK(parse_response("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", head).state ==
        Result::invalid);
  CHECK(parse_response("HTTP/1.1 200 OK\r\nContent-Len", head).state == Result::incomplete);
}

TEST_CASE("a chunked body is decoded whatever the pieces it arrives in", "[unit][http1]") {
  const std::string wire = "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\nNEXT";
  for (std::size_t piece = 1; piece <= wire.size(); ++piece) {
    CAPTURE(piece);
    http1::ChunkedDecoder decoder;
    std::string body;
    std::size_t used = 0;
    while (used < wire.size() && !decoder.done() && !decoder.failed()) {
      used += decoder.feed(std::string_view(wire).substr(used, piece), body);
    }
    REQUIRE(decoder.done());
    CHECK(body == "hello world");
    CHECK(wire.substr(used) == "NEXT");
  }
}

TEST_CASE("malformed or oversized chunked bodies fail", "[unit][http1]") {
  std::string body;
  http1::ChunkedDecoder bad_size;
  bad_size.feed("zz\r\nhello\r\n", body);
  CHECK(bad_size.failed());

  http1::ChunkedDecoder no_crlf;
  no_crlf.feed("5\r\nhelloX\r\n0\r\n\r\n", body);
  CHECK(no_crlf.failed());

  http1::ChunkedDecoder limited(8);
  limited.feed("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", body);
  CHECK(limited.failed());
  CHECK(limited.too_large());

  http1::ChunkedDecoder endless;
  endless.feed(std::string(10000, '1'), body);
  CHECK(endless.failed());
}

TEST_CASE("heads are written with Content-Length, and never with injected lines", "[unit][http1]") {
  std::string out;
  const http1::Header fields[] = {{"Content-Type", "application/json"}};
  http1::append_response_head(out, 404, fields, 2);
  CHECK(out == "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n");

  out.clear();
  const http1::Header auth[] = {{"Authorization", "Bearer x"}};
  http1::append_request_head(out, "POST", "/v1/a/b/c", auth, 0);
  CHECK(out == "POST /v1/a/b/c HTTP/1.1\r\nAuthorization: Bearer x\r\nContent-Length: 0\r\n\r\n");

  out.clear();
  http1::append_request_head(out, "GET", "/healthz", {}, std::nullopt);
  CHECK(out == "GET /healthz HTTP/1.1\r\n\r\n");

  const http1::Header injected[] = {{"X-A", "a\r\nX-Evil: 1"}};
  CHECK_THROWS_AS(http1::append_response_head(out, 200, injected, 0), std::invalid_argument);
  const http1::Header bad_name[] = {{"X A", "a"}};
  CHECK_THROWS_AS(http1::append_response_head(out, 200, bad_name, 0), std::invalid_argument);
  CHECK_THROWS_AS(http1::append_request_head(out, "POST", "/v1/a\r\nX: y", {}, 0), std::invalid_argument);
  CHECK_THROWS_AS(http1::append_request_head(out, "POST", "/v1/a b", {}, 0), std::invalid_argument);
}

TEST_CASE("a caller's Content-Length or Transfer-Encoding is refused: the codec writes the framing once",
          "[unit][http1]") {
  std::string out;
  const http1::Header length[] = {{"content-length", "5"}};
  const http1::Header chunked[] = {{"Transfer-Encoding", "chunked"}};
  CHECK_THROWS_AS(http1::append_response_head(out, 200, length, 2), std::invalid_argument);
  CHECK_THROWS_AS(http1::append_response_head(out, 200, chunked, 2), std::invalid_argument);
  CHECK_THROWS_AS(http1::append_request_head(out, "POST", "/v1/a/b/c", length, 2), std::invalid_argument);
  CHECK_THROWS_AS(http1::append_request_head(out, "GET", "/healthz", chunked, std::nullopt), std::invalid_argument);
  // What the parser would have said of the head written before this rule: two lengths.
  http1::RequestHead head;
  CHECK(parse("POST /v1/a/b/c HTTP/1.1\r\ncontent-length: 5\r\nContent-Length: 2\r\n\r\n", head).state ==
        Result::invalid);
}

TEST_CASE("a 204 or 304 response is written without Content-Length, and refuses a body", "[unit][http1]") {
  std::string out;
  http1::append_response_head(out, 204, {}, 0);
  CHECK(out == "HTTP/1.1 204 No Content\r\n\r\n");
  out.clear();
  http1::append_response_head(out, 304, {}, 0);
  CHECK(out == "HTTP/1.1 304 Not Modified\r\n\r\n");
  CHECK_THROWS_AS(http1::append_response_head(out, 204, {}, 2), std::invalid_argument);
}

TEST_CASE("a POST head without Content-Length or Transfer-Encoding has a zero-length body", "[unit][http1]") {
  http1::RequestHead head;
  REQUIRE(parse("POST /shutdown HTTP/1.1\r\nHost: localhost\r\n\r\n", head).state == Result::complete);
  CHECK(head.framing == http1::Framing::length);
  CHECK(head.content_length == 0);
  CHECK_FALSE(head.has_content_length);
}

TEST_CASE("the Host of a request to a plugin is a valid host on every transport, never a socket path", "[unit][http1]") {
  CHECK(http1::host_header_value(true, "/run/user/0/plugvisor-1-x/text-tools.sock") == "localhost");
  CHECK(http1::host_header_value(false, "127.0.0.1:4242") == "127.0.0.1:4242");
  CHECK(http1::host_header_value(false, "[::1]:4242") == "[::1]:4242");
  CHECK(http1::host_header_value(false, "::1:4242") == "[::1]:4242");
}

TEST_CASE("a path splits on '/', keeping empty segments, without its query", "[unit][http1]") {
  CHECK(http1::path_of("/v1/a/b/c?x=1") == "/v1/a/b/c");
  auto parts = http1::split_path("/v1/a/b/c");
  REQUIRE(parts.size() == 4);
  CHECK(parts[0] == "v1");
  CHECK(parts[3] == "c");
  CHECK(http1::split_path("/v1//b/c").at(1).empty());
  CHECK(http1::split_path("/v1/a/b/c/").size() == 5);
}

TEST_CASE("consume drops written bytes from a list of buffers, across buffer ends", "[unit][http1]") {
  char head[] = "HEAD";
  char body[] = "BODY";
  for (std::size_t written = 0; written <= 8; ++written) {
    iovec buffers[2] = {{head, 4}, {body, 4}};
    iovec* at = buffers;
    int count = 2;
    http1::consume(at, count, written);
    std::string rest;
    for (int i = 0; i < count; ++i) rest.append(static_cast<char*>(at[i].iov_base), at[i].iov_len);
    INFO("written " << written);
    CHECK(rest == std::string("HEADBODY").substr(written));
    CHECK(count == (written < 4 ? 2 : written < 8 ? 1 : 0));
  }
}

TEST_CASE("a body buffer grows for a read without zero-filling the new bytes", "[unit][http1]") {
  // The bytes past the old size are left as the buffer held them (here the
  // 'x's of an earlier body in the same capacity), not set to '\0' first:
  // the read that follows overwrites them (a 16 MiB body skips a 16 MiB
  // memset on each side of a call).
  std::string body(1 << 20, 'x');
  body.resize(3);
  body[0] = 'a';
  http1::resize_for_overwrite(body, 1 << 20);
  REQUIRE(body.size() == std::size_t{1} << 20);
  CHECK(body.substr(0, 3) == "axx");
  INFO("a '\\0' here: the bytes were zero-filled (a standard library without std::string::resize_and_overwrite, "
       "or wire/src/resize_for_overwrite.cpp not compiled as C++23)");
  CHECK(body.find('\0', 4) == std::string::npos);  // [3] held the terminator of the 3-byte string
  // Beyond the capacity it reallocates, keeps the bytes it had, and has the
  // size asked for, not the capacity it grew to (libstdc++ 12 hands the
  // operation the doubled capacity: 1 MiB grown to 1.25 MiB became 2 MiB).
  http1::resize_for_overwrite(body, (1 << 20) + (1 << 18));
  REQUIRE(body.size() == (std::size_t{1} << 20) + (1 << 18));
  http1::resize_for_overwrite(body, (1 << 21) + 5);
  REQUIRE(body.size() == (std::size_t{1} << 21) + 5);
  CHECK(body.compare(0, 3, "axx") == 0);
  CHECK(body[(1 << 20) - 1] == 'x');
  http1::resize_for_overwrite(body, 2);
  CHECK(body == "ax");
}
