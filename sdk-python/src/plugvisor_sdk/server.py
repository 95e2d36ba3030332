"""The plugin's HTTP/1.1 server: framing, authentication, dispatch, errors.

Class layout::

    socketserver.ThreadingMixIn          (one daemon thread per connection)
      └── PluginServerMixin              connection tracking, accept loop, stop()
            ├── UnixServer  (+ socketserver.UnixStreamServer)   socket created 0600
            └── TcpServer   (+ socketserver.TCPServer)          127.0.0.1, TCP_NODELAY
    socketserver.StreamRequestHandler
      └── RequestHandler                 HTTP/1.1 keep-alive; one method per endpoint
    Service                              what requests need: token, limits, Admission, types
    BoundMethod                          one method of one type, ready to call

Neither ``http.server.HTTPServer`` nor ``BaseHTTPRequestHandler`` is used.
``HTTPServer.server_bind`` assumes a ``(host, port)`` address and resolves the
host name; the handler's ``address_string()`` fails over a Unix socket; its
header parsing builds an ``email`` message per request (several times slower
than the few lines below), and importing it (with ``http.client``, ``email``
and ``ssl``) adds ~12 ms to every launch. Parsing the request line and
headers here also gives control of every status of docs/protocol.md:
``413`` before the body is read, ``Expect: 100-continue``
answered only for calls that will run, and the JSON error body everywhere.
Connections are kept alive with no request limit; a kept-alive connection
holds its thread.
"""

from __future__ import annotations

import errno
import fcntl
import hmac
import http
import json
import os
import re
import select
import selectors
import socket
import socketserver
import struct
import sys
import termios
import threading
import time
from typing import Any, Callable, Mapping

from . import json_depth, log
from .config import Config
from .context import Context
from .context import _local as _this_call
from .contracts import Kind
from .errors import HANDLER_CODES, ErrorCode, PluginError
from .lifecycle import Admission
from .manager_head import MAX_DEADLINE_DIGITS, MAX_LENGTH_DIGITS, ManagerHeads

__all__ = ["BoundMethod", "Service", "RequestHandler", "UnixServer", "TcpServer", "PluginServerMixin"]

# The limits below are protocol.md's (sections 10.5 and 12) and the C++
# SDK's, which takes them from the shared codec (contracts/.../http1.hpp):
# the two SDKs answer the same malformed input the same way
# (tests/integration/sdk_parity_test.cpp runs one table of cases on both).

#: The largest request head: request line, header lines, blank line and the
#: empty lines tolerated before it. Beyond it: 431.
MAX_HEAD_BYTES = 65536
#: Most header lines in one request head. Beyond it: 431.
MAX_HEADERS = 100
#: The whole head of a request must have arrived this long (seconds) after
#: the connection opened or its previous response was written; with no byte
#: of it by then the connection was idle and is closed, with part of one it is
#: answered 408. The same clock bounds a refused request's body.
HEAD_TIMEOUT = 5.0
#: A read of an authorised request's body, or a write, that makes no progress
#: for this long (seconds) drops the connection.
CONNECTION_TIMEOUT = 5.0
#: Connections served at once, by default; at the cap a newcomer replaces the
#: connection that has waited longest for its head without ever carrying an
#: authorised request, or waits in the listen backlog.
MAX_CONNECTIONS = 1024
#: A body not read by the time an error is answered is read and discarded up
#: to this size, keeping the connection; a larger one closes it.
DISCARD_LIMIT = 1 << 20
#: Longest chunk-size or trailer line of a chunked body.
MAX_CHUNK_LINE = 4096
#: How long (seconds) a closing connection keeps reading what the client
#: still sends, so that the response is not lost to a reset.
LINGER_SECONDS = 1.0
#: Responses up to this size are sent in one buffer; larger bodies are not copied.
SMALL_RESPONSE = 16384
#: Bytes asked of one recv.
READ_SIZE = 65536
#: The manager's call is read into a buffer of the connection's own, whole
#: (head and body), when it fits in this many bytes; the buffer starts at
#: READ_SIZE and grows to the largest such call the connection carried.
#: Larger calls are read by the general path.
MANAGER_CALL_BUFFER = 256 * 1024

JSON_TYPE = b"application/json"
BYTES_TYPE = b"application/octet-stream"
_STATUS_LINES = {
    status: f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n".encode()
    for status in (200, 202, 204, 304, 400, 401, 404, 408, 413, 431, 500, 501, 503, 505)
}
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,15}")
#: An HTTP token (RFC 9110 5.6.2): what a method and a header name may hold.
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_DIGITS = re.compile(r"[0-9]+")
#: The usual head, matched whole in one pass (the fast path of a kept-alive
#: connection that carried an authorised call): a token method, a target
#: without whitespace, HTTP/1.1, at most MAX_HEADERS header lines of a token
#: name, a colon and a value without CR, LF or NUL, each ended by CRLF. A head
#: it does not match is read and judged by the general path (_head_lines,
#: _parse_head), which gives every refusal its status and message.
_TOKEN_CHARS = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]"
_USUAL_HEAD = re.compile(rb"(" + _TOKEN_CHARS + rb"+) ([^ \t\r\n\0]+) HTTP/1\.1\r\n((?:" + _TOKEN_CHARS +
                         rb"+:[^\r\n\0]*\r\n){0,%d})\r\n" % MAX_HEADERS)
#: A receive timeout already armed is kept while it is no shorter than the
#: one wanted and at most this much (seconds) longer: no setsockopt on the
#: usual read, and a deadline never early, late by at most this.
_REARM_SLACK = 0.001
_NOT_SERIALIZABLE = object()
# The kinds as module constants: reading an enum member off its class costs
# ~70 ns on CPython 3.11, and a call compares kinds five times.
_NONE, _BYTES, _JSON = Kind.NONE, Kind.BYTES, Kind.JSON
_monotonic = time.monotonic
#: Most response heads a connection keeps (RequestHandler._ok_head).
_OK_HEADS = 64


class BoundMethod:
    """One method of one type: its kinds and the callable ``fn(value, ctx)``
    (``value`` is None for a method without input). ``input`` None: decoded
    as the request's ``Content-Type`` says (octet-stream: bytes, else JSON);
    ``output`` None: bytes-like results go as octet-stream, others as JSON."""

    __slots__ = ("input", "output", "fn")

    def __init__(self, input: Kind | None, output: Kind | None, fn: Callable[[Any, Context], Any]) -> None:
        self.input = input
        self.output = output
        self.fn = fn


class Service:
    """What serving requests needs, shared by every connection's thread."""

    def __init__(
        self,
        config: Config,
        token: str,
        max_body_bytes: int,
        types: Mapping[str, Mapping[str, BoundMethod]],
        admission: Admission,
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self.config = config
        #: Connections served at once (see MAX_CONNECTIONS).
        self.max_connections = max_connections
        self.expected_auth = b"Bearer " + token.encode("utf-8")
        self.max_body_bytes = max_body_bytes
        #: "contract/type" -> method name -> BoundMethod
        self.types = types
        self.admission = admission
        #: b"contract/type/method", as the target holds it after /v1/ -> (contract,
        #: type, method, BoundMethod): the manager's call found by one lookup.
        self.calls: dict[bytes, tuple[str, str, str, BoundMethod]] = {}
        for contract_type, methods in types.items():
            contract, _, type_name = contract_type.partition("/")
            for method_name, bound in methods.items():
                try:  # a target is read as latin-1: other names are never matched
                    key = f"{contract_type}/{method_name}".encode("latin-1")
                except UnicodeEncodeError:
                    continue
                self.calls[key] = (contract, type_name, method_name, bound)


_date_cache: tuple[int, bytes] = (0, b"")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _date_header() -> bytes:
    """``Date: <IMF-fixdate>\\r\\n``, computed once a second."""
    global _date_cache
    now = int(time.time())
    if _date_cache[0] != now:
        t = time.gmtime(now)
        text = (f"Date: {_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
                f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT\r\n")
        _date_cache = (now, text.encode())
    return _date_cache[1]


def _traceback(error: BaseException) -> str:
    import traceback  # only when something failed

    return "".join(traceback.format_exception(error)).rstrip()


def _error_body(code: ErrorCode, message: str) -> bytes:
    return json.dumps({"error": {"code": code.value, "message": message}}, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def _send_all(sock: socket.socket, buffers: list[Any], sent: int = 0) -> None:
    """Sends every buffer in order with as few system calls as possible and
    no copy, but for the first ``sent`` bytes (already sent)."""
    views = [memoryview(b).cast("B") for b in buffers]
    views = [v for v in views if v.nbytes]
    while views:
        if not sent:
            sent = sock.sendmsg(views)
        while sent:
            first = views[0]
            if sent >= first.nbytes:
                sent -= first.nbytes
                views.pop(0)
            else:
                views[0] = first[sent:]
                sent = 0


def _unread_bytes(sock: socket.socket) -> int:
    """Bytes received on ``sock`` and not read yet; -1 if that cannot be told."""
    try:
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        return -1


def _what(context: Context) -> str:
    """A call as error messages name it: ``contract/type method``."""
    return f"{context.contract}/{context.type} {context.method}"


def _arm(sock: socket.socket, option: int, seconds: float) -> None:
    """Sets SO_RCVTIMEO or SO_SNDTIMEO to ``seconds`` (at least 1 µs: 0 would mean never)."""
    whole = int(seconds)
    micros = max(int((seconds - whole) * 1e6), 0 if whole else 1)
    sock.setsockopt(socket.SOL_SOCKET, option, struct.pack("@ll", whole, micros))


def _usual_headers(block: bytes) -> dict[str, str]:
    """The headers of a head _USUAL_HEAD matched (its header lines, each
    ended by CRLF, already checked): lower-case names, values without the
    surrounding blanks, repeated fields joined with ", " as _parse_head does."""
    lines = block.decode("latin-1").split("\r\n")
    lines.pop()  # after the last CRLF
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        key = name.lower()
        if key in headers:
            headers[key] += ", " + value.strip(" \t")
        else:
            headers[key] = value.strip(" \t")
    return headers


class _ConnectionState:
    """What the accept loop knows of a served connection, to choose which one
    a newcomer replaces at the cap (fair admission, protocol.md 12). Changed
    under the server's connections lock."""

    WAITING = 0  # for the first byte of a request head (idle)
    PARTIAL = 1  # part of a head has come; or a request refused from its head is answered
    READING = 4  # bytes of a head were read and are being looked at (its thread is not waiting on the client)
    BUSY = 2     # an authorised request (a call, /shutdown) is being read or run
    EVICTED = 3  # given up for a newcomer: its thread ends

    __slots__ = ("phase", "since", "proven", "_lock")

    def __init__(self, lock: threading.Lock) -> None:
        self.phase = self.WAITING
        self.since = time.monotonic()  # when it began to wait for its current head
        self.proven = False  # it carried an authorised request: never evicted
        self._lock = lock

    def move_to(self, phase: int, restart: bool = False) -> bool:
        """Moves to ``phase`` (and restarts the head clock); False if evicted."""
        with self._lock:
            if self.phase == self.EVICTED:
                return False
            self.phase = phase
            if restart:
                self.since = time.monotonic()
            return True

    def prove(self) -> bool:
        """Marks an authorised request; False if the connection was evicted."""
        with self._lock:
            if self.phase == self.EVICTED:
                return False
            self.phase = self.BUSY
            self.proven = True
            return True


class _HeadError(Exception):
    """A request head that cannot be served: its status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _parse_head(lines: list[bytes]) -> tuple[str, str, str, dict[str, str]]:
    """The method, target, version and headers (lower-case names; repeated
    fields joined with ", ") of a complete head's lines, by the codec's rules
    (wire/src/http1.cpp): no whitespace before a colon, no folded lines,
    a token for a name. Raises :class:`_HeadError`."""
    request_line = lines[0]
    parts = request_line.split(b" ")
    if len(parts) < 3 or not parts[0] or not parts[-1]:
        raise _HeadError(400, "bad request: the request line is not METHOD TARGET HTTP/1.1")
    version = parts[-1]
    method = parts[0]
    target = b" ".join(parts[1:-1])
    if not _TOKEN.fullmatch(method):
        raise _HeadError(400, "bad request: the request method is not a token")
    if not target or b" " in target or b"\t" in target:
        raise _HeadError(400, "bad request: the request target is empty or holds whitespace")
    headers: dict[str, str] = {}
    for raw in lines[1:]:
        if raw[:1] in (b" ", b"\t"):
            raise _HeadError(400, "bad request: folded header lines are not accepted")
        name, colon, value = raw.partition(b":")
        if not colon or not name:
            raise _HeadError(400, "bad request: a header line without a name and a colon")
        if not _TOKEN.fullmatch(name):
            raise _HeadError(400, "bad request: a header name with characters HTTP does not allow "
                                  "(no space before the colon)")
        key = name.lower().decode("latin-1")
        text = value.strip(b" \t").decode("latin-1")
        headers[key] = headers[key] + ", " + text if key in headers else text
    if not (len(version) == 8 and version.startswith(b"HTTP/1.") and version[7:].isdigit()):
        raise _HeadError(505, "bad request: only HTTP/1.0 and HTTP/1.1 are served")
    # HTTP/1.x past 1.1 is served as 1.1 (RFC 9110 2.5), as the codec does.
    return (method.decode("latin-1"), target.decode("latin-1"),
            "HTTP/1.0" if version == b"HTTP/1.0" else "HTTP/1.1", headers)


def _content_length(text: str) -> int:
    """A Content-Length value by the codec's rule: digits only, at most
    MAX_LENGTH_DIGITS (checked before int()), repeated identical values allowed."""
    if text.isdigit() and len(text) <= MAX_LENGTH_DIGITS and text.isascii():
        return int(text)  # the usual one value
    value = -1
    for item in text.split(","):
        item = item.strip(" \t")
        if not (item.isascii() and _DIGITS.fullmatch(item) and len(item) <= MAX_LENGTH_DIGITS):
            raise _HeadError(400, "bad request: Content-Length is not a whole number")
        number = int(item)
        if value >= 0 and number != value:
            raise _HeadError(400, "bad request: conflicting Content-Length values")
        value = number
    return value


def _has_token(value: str, token: str) -> bool:
    if not value:
        return False
    return any(item.strip(" \t").lower() == token for item in value.split(","))


class RequestHandler(socketserver.BaseRequestHandler):
    """Serves one connection: requests one after the other until either side
    closes. Not for direct use; the servers below instantiate it."""

    #: Answers are HTTP/1.1; connections stay open unless a response says ``Connection: close``.
    protocol_version = "HTTP/1.1"
    server: "PluginServerMixin"

    def setup(self) -> None:
        self.service: Service = self.server.service
        self.state: _ConnectionState = self.server.connection_state(self.request)
        self._buffer = bytearray()  # bytes read and not yet used
        self._linger = False
        self._body_done = True
        self._chunked = False
        self._length = 0
        self._expect = False
        self._keep_alive_header = False
        self._head_deadline = 0.0
        self.command = ""
        self.path = ""
        self.request_version = "HTTP/1.1"
        self.headers_in: dict[str, str] = {}
        # The socket stays blocking, and its timeouts are the kernel's
        # (SO_RCVTIMEO, SO_SNDTIMEO: a read or write that makes no progress
        # for that long fails): a Python-level timeout would poll() before
        # every recv and send, and switch the descriptor's mode each time it
        # is set, four system calls per request beyond the two that move bytes.
        self.request.settimeout(None)
        self._rcv_armed = -1.0
        # The manager's usual call is read into it whole (_serve_manager_call).
        self._scratch = bytearray(READ_SIZE)
        self._scratch_view = memoryview(self._scratch)
        self._ok_heads: dict[tuple[bytes, int], bytes] = {}
        self._ok_heads_until = 0.0
        self._manager_heads = ManagerHeads(self.service.calls, self.service.expected_auth,
                                           self.service.max_body_bytes)
        _arm(self.request, socket.SO_SNDTIMEO, CONNECTION_TIMEOUT)

    # -- the connection ---------------------------------------------------------

    def handle(self) -> None:
        """Serves requests until the connection is to be closed."""
        self.close_connection = False
        while not self.close_connection:
            self.handle_one_request()

    def handle_one_request(self) -> None:
        """Reads one request and answers it; sets ``close_connection``."""
        self.close_connection = True
        try:
            started = False
            if self.state.proven and not self._buffer:
                if self._serve_manager_call():
                    return  # answered, or closed, or idle for HEAD_TIMEOUT: close quietly
                started = True  # bytes came: the head's clock started before they did
            if self._read_head(started):
                self._route()
        except OSError:  # the peer went away (reset, broken pipe, timeout), or it was evicted
            self.close_connection = True

    def finish(self) -> None:
        if self._linger:
            # Read what the client still sends before closing: closing with
            # unread data resets the connection, and a reset can destroy the
            # response before the client has read it.
            sock = self.request
            try:
                sock.shutdown(socket.SHUT_WR)
                end = time.monotonic() + LINGER_SECONDS
                while (left := end - time.monotonic()) > 0:
                    sock.settimeout(left)
                    if not sock.recv(READ_SIZE):
                        break
            except OSError:
                pass

    # -- reading --------------------------------------------------------------

    def _recv(self, deadline: float | None) -> int:
        """Reads what has come into the buffer, waiting until ``deadline``
        (monotonic seconds, late by at most _REARM_SLACK), or CONNECTION_TIMEOUT for
        each read if None. Returns the count; 0 on end of file; -1 once the
        deadline passed."""
        sock = self.request
        if deadline is None:
            wait = CONNECTION_TIMEOUT
        else:
            wait = deadline - time.monotonic()
            if wait <= 0:
                return -1
        if not wait <= self._rcv_armed <= wait + _REARM_SLACK:  # never sooner than asked
            _arm(sock, socket.SO_RCVTIMEO, wait)
            self._rcv_armed = wait
        try:
            data = sock.recv(READ_SIZE)
        except (BlockingIOError, TimeoutError):  # SO_RCVTIMEO ran out
            return -1 if deadline is not None else 0
        self._buffer += data
        return len(data)

    def _recv_head(self) -> int:
        """Reads what has come of a request head by its deadline, as _recv.
        An unproven connection may be given up (_evict_one_locked) only while
        its thread waits for bytes: the thread claims what has come (READING)
        before it reads it, and a connection with unread bytes is left alone,
        so that a request the thread holds, or one waiting in the socket, is
        never given up."""
        state = self.state
        if not state.proven:
            if not state.move_to(_ConnectionState.PARTIAL if self._buffer else _ConnectionState.WAITING):
                return 0
            left = self._head_deadline - time.monotonic()
            ready = False
            if left > 0:
                poller = select.poll()
                poller.register(self.request, select.POLLIN)
                ready = bool(poller.poll(left * 1000))
            if not state.move_to(_ConnectionState.READING):
                return 0  # given up meanwhile
            if not ready:
                return -1
        return self._recv(self._head_deadline)

    def _take(self, size: int) -> bytes:
        with memoryview(self._buffer) as view:  # one copy, not a slice and its copy
            data = bytes(view[:size])
        del self._buffer[:size]
        return data

    def _head_lines(self, fresh: bool = True) -> list[bytes] | None:
        """The lines of the next request head, all of it read by the head's
        deadline; None if the connection ends (answered, idle or closed).
        ``fresh``: the head's clock starts now; else the caller started it."""
        buffer = self._buffer
        state = self.state
        if fresh:
            if not state.move_to(_ConnectionState.READING if buffer else _ConnectionState.WAITING, restart=True):
                return None
            self._head_deadline = state.since + HEAD_TIMEOUT
        lines: list[bytes] = []
        skipped = 0  # empty lines before a request (RFC 9112, 2.2), as the codec: 4 bytes at most
        line_start = 0
        scan = 0  # bytes searched for a line end already: each byte is looked at once
        while True:
            while skipped < 4 and skipped < len(buffer) and buffer[skipped] in b"\r\n" and not lines \
                    and line_start == skipped:
                skipped += 1
                line_start = scan = skipped
            newline = buffer.find(b"\n", scan, MAX_HEAD_BYTES + skipped)
            if newline < 0:
                if len(buffer) >= MAX_HEAD_BYTES:
                    return self._refuse_head(431, "bad request: the request head exceeds 64 KiB")
                scan = len(buffer)
                got = self._recv_head()
                if got == 0:
                    return None  # closed, or evicted
                if got < 0:
                    if not buffer:
                        return None  # idle for HEAD_TIMEOUT: close quietly
                    return self._refuse_head(
                        408, f"the request head did not arrive within {HEAD_TIMEOUT:g}s: send it whole")
                continue
            end = newline - 1 if newline > line_start and buffer[newline - 1] == 13 else newline
            line = bytes(buffer[line_start:end])
            scan = line_start = newline + 1
            if b"\r" in line or b"\0" in line:
                return self._refuse_head(400, "bad request: a bare CR or NUL byte in the head")
            if not line:
                if not lines:
                    return self._refuse_head(400, "bad request: an empty head")
                del buffer[:line_start]
                return lines
            if len(lines) > MAX_HEADERS:
                return self._refuse_head(431, f"bad request: the head has more than {MAX_HEADERS} header lines")
            lines.append(line)

    def _refuse_head(self, status: int, message: str) -> None:
        """Answers a head that cannot be served, then a lingering close."""
        self.state.move_to(_ConnectionState.PARTIAL)  # it may be given up meanwhile
        self._linger = True
        self._body_done = True
        self._error(status, ErrorCode.INVALID_INPUT, message, close=True)
        return None

    def _read_head(self, started: bool = False) -> bool:
        """Reads a request head (``started``: the head's deadline is set and
        its first bytes are in the buffer); False if it was answered, or the
        connection ends."""
        self.command, self.path, self.request_version = "", "", "HTTP/1.1"
        self._body_done = True
        self._expect = False
        self._keep_alive_header = False
        self.headers_in = {}
        self._chunked = False
        self._length = 0
        if self.state.proven:
            # A connection that carried an authorised call is never given up
            # (no phase to keep), and its requests are the manager's: its
            # call as the manager spells it was tried by _serve_manager_call
            # (handle_one_request), in any other spelling it is served whole
            # by _serve_usual_call.
            if not started:
                self._head_deadline = time.monotonic() + HEAD_TIMEOUT
                if not self._buffer and self._recv(self._head_deadline) <= 0:
                    return False  # closed, or idle for HEAD_TIMEOUT: close quietly
            if self._serve_usual_call():
                return False  # answered
            lines = self._head_lines(fresh=False)
        else:
            lines = self._head_lines()
        if lines is None:
            return False
        self._arrival = time.monotonic()
        try:
            self.command, self.path, self.request_version, headers = _parse_head(lines)
        except _HeadError as e:
            self._refuse_head(e.status, e.message)
            return False
        return self._use_head(headers)

    def _use_head(self, headers: dict[str, str]) -> bool:
        """Frames the request and reads its connection options; False if it was refused."""
        self.headers_in = headers
        try:
            self._frame(headers)
        except _HeadError as e:
            self._refuse_head(e.status, e.message)
            return False
        connection = headers.get("connection", "")
        if self.request_version == "HTTP/1.1":
            self.close_connection = _has_token(connection, "close")
        else:
            self.close_connection = not _has_token(connection, "keep-alive")
            self._keep_alive_header = not self.close_connection
        self._expect = _has_token(headers.get("expect", ""), "100-continue")
        return True

    def _frame(self, headers: dict[str, str]) -> None:
        """How the body is delimited, by the codec's rules (protocol.md 10.5)."""
        transfer = headers.get("transfer-encoding")
        length_text = headers.get("content-length")
        if length_text is not None:
            self._length = _content_length(length_text)
        if transfer is not None:
            if transfer.strip(" \t").lower() != "chunked":
                raise _HeadError(501, "bad request: Transfer-Encoding other than chunked is not supported: "
                                      "send Content-Length")
            if length_text is not None:
                raise _HeadError(400, "bad request: both Content-Length and Transfer-Encoding: send one")
            self._chunked = True
        # Neither header: the body is empty (RFC 9112 §6.3), as curl -X POST sends it.
        self._body_done = not self._chunked and self._length == 0

    def _discard(self, size: int) -> bool:
        """Reads and drops ``size`` body bytes of a refused request, by the
        head's deadline; False if the peer closed or was too slow."""
        while True:
            have = min(size, len(self._buffer))
            del self._buffer[:have]
            size -= have
            if size == 0:
                return True
            if self._recv(self._head_deadline) <= 0:
                return False

    def _settle_body(self) -> bool:
        """Before an answer that does not need the body: consumes it if cheap.
        Returns False when the connection must close instead."""
        if self._body_done:
            return True
        if self._chunked or self._expect or self._length > DISCARD_LIMIT:
            self._linger = True
            return False
        if not self._discard(self._length):
            return False
        self._body_done = True
        return True

    def _read_exactly(self, size: int) -> bytes | None:
        while len(self._buffer) < size:
            if self._recv(None) <= 0:
                return None
        return self._take(size)

    def _read_body(self) -> bytes | None:
        """The request body, or None if it was answered (413) or the peer left."""
        if self._expect:
            self.request.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._expect = False
        if self._chunked:
            return self._read_chunked()
        data = self._read_exactly(self._length)
        if data is None:
            self.close_connection = True
            return None
        self._body_done = True
        return data

    def _read_line(self) -> bytes | None:
        """One line of a chunked body, without its line end; None if the peer
        left or the line is over MAX_CHUNK_LINE (or holds a bare CR)."""
        scan = 0
        while True:
            newline = self._buffer.find(b"\n", scan)
            if newline >= 0:
                break
            scan = len(self._buffer)
            if scan > MAX_CHUNK_LINE or self._recv(None) <= 0:
                return None
        line = self._take(newline + 1)[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
        return None if len(line) > MAX_CHUNK_LINE or b"\r" in line else line

    def _read_chunked(self) -> bytes | None:
        """A chunked body by the codec's rules: hexadecimal sizes of at most
        15 digits, each chunk's data followed by exactly CRLF (or LF)."""
        limit = self.service.max_body_bytes
        parts: list[bytes] = []
        total = 0
        while True:
            line = self._read_line()
            size_text = line.split(b";", 1)[0].strip(b" \t") if line is not None else b""
            if line is None or not _CHUNK_SIZE.fullmatch(size_text):
                return self._bad_chunk()
            size = int(size_text, 16)
            if size == 0:
                while True:  # trailer fields mean nothing here
                    trailer = self._read_line()
                    if trailer is None:
                        return self._bad_chunk()
                    if not trailer:
                        break
                break
            total += size
            if total > limit:
                self._linger = True
                self._error(413, ErrorCode.TOO_LARGE,
                            f"request body exceeds this plugin's limit of {limit} bytes", close=True)
                return None
            chunk = self._read_exactly(size)
            if chunk is None:
                self.close_connection = True
                return None
            if self._read_line() != b"":  # the line end after the data, nothing else
                return self._bad_chunk()
            parts.append(chunk)
        self._body_done = True
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _bad_chunk(self) -> None:
        self._linger = True
        self._body_done = True
        self._error(400, ErrorCode.INVALID_INPUT, "bad request: malformed chunked body", close=True)
        return None

    # -- answering ------------------------------------------------------------

    def _send(self, status: int, body: Any, content_type: bytes, close: bool = False) -> None:
        """Writes one complete response. ``body`` is bytes-like."""
        if not self._body_done and not self._settle_body():
            close = True
        if close:
            self.close_connection = True
        size = len(body) if type(body) is bytes else memoryview(body).nbytes
        if status == 200 and not self.close_connection and not self._keep_alive_header:
            head = self._ok_head(content_type, size)
        else:
            head = self._head(status, content_type, size)
        sock = self.request  # SO_SNDTIMEO: CONNECTION_TIMEOUT (setup)
        if self.command == "HEAD":
            sock.sendall(head)
        elif size <= SMALL_RESPONSE:
            sock.sendall(head + body if type(body) is bytes else head + bytes(body))
        else:  # head and body in one system call, the body not copied
            sent = sock.sendmsg((head, body)) if type(body) is bytes else 0
            if sent < len(head) + size:
                _send_all(sock, [head, body], sent)

    def _ok_head(self, content_type: bytes, size: int) -> bytes:
        """The head of a ``200`` on a kept-alive HTTP/1.1 connection, from a
        per-connection cache of the current second's (the Date changes
        once a second; at most _OK_HEADS sizes are kept)."""
        now = time.time()
        heads = self._ok_heads
        if now >= self._ok_heads_until or len(heads) >= _OK_HEADS:
            heads.clear()
            self._ok_heads_until = float(int(now) + 1)
        key = (content_type, size)
        head = heads.get(key)
        if head is None:
            head = heads[key] = self._head(200, content_type, size)
        return head

    def _head(self, status: int, content_type: bytes, size: int) -> bytes:
        return b"%s%sContent-Type: %s\r\n%s%s\r\n" % (
            _STATUS_LINES[status],
            _date_header(),
            content_type,
            # A 204 or 304 carries no Content-Length (RFC 9110 §8.6).
            b"" if status in (204, 304) else b"Content-Length: %d\r\n" % size,
            b"Connection: close\r\n" if self.close_connection
            else b"Connection: keep-alive\r\n" if self._keep_alive_header else b"",
        )

    def _error(self, status: int, code: ErrorCode, message: str, close: bool = False) -> None:
        self._send(status, _error_body(code, message), JSON_TYPE, close)

    # -- routing --------------------------------------------------------------

    def _route(self) -> None:
        """Answers the request whose head was read, in the order of checks
        of protocol.md 10.7 (the C++ SDK's): 404 unknown endpoint, 401, 413,
        all from the head, before any body is read."""
        method = self.command
        path = self.path
        if "?" in path:
            path = path.split("?", 1)[0]
        health = method in ("GET", "HEAD") and path == "/healthz"
        takes_body = method == "POST" and (path == "/shutdown" or path.startswith("/v1/"))
        authorized = takes_body and self._authorized()
        if not authorized:
            # Anything but an authorised call is answered as a part-way head:
            # the connection may still be given up while the answer is written.
            self.state.move_to(_ConnectionState.PARTIAL)
        if not health and not takes_body:
            self._not_found(method, path)
            return
        if takes_body and not authorized:
            self._unauthorized()
            return
        limit = self.service.max_body_bytes
        if self._length > limit:
            self._error(413, ErrorCode.TOO_LARGE,
                        f"request body of {self._length} bytes exceeds this plugin's limit of {limit} bytes")
            return
        if health:
            self._send(200, b'{"status":"ok"}', JSON_TYPE)
            return
        # An authorised call or /shutdown: from here the connection is the
        # manager's, never given up for a newcomer.
        state = self.state
        if not state.proven and not state.prove():
            self.close_connection = True
            return
        if path == "/shutdown":
            self._shutdown()
            return
        parts = path[4:].split("/")
        if len(parts) == 3 and all(parts):
            self._call(parts[0], parts[1], parts[2])
            return
        self._not_found(method, path)

    def _serve_manager_call(self) -> bool:
        """Reads the next request of a proven connection with nothing
        buffered, and serves it if it is the manager's call as the manager
        spells it (manager_head.ManagerHeads), to a type and method this
        plugin has, with the right token and a body within the limit, the
        body in this read or the next ones (up to MANAGER_CALL_BUFFER bytes
        in all) and nothing after it. Returns True when done with it:
        answered, or the connection closed or stayed idle for HEAD_TIMEOUT
        (``close_connection`` says which). Returns False with the bytes read
        in the buffer and the head's deadline set otherwise: the paths that
        follow judge them, with the same checks; the call served here passes
        them all."""
        sock = self.request
        head_deadline = _monotonic() + HEAD_TIMEOUT
        if self._rcv_armed != HEAD_TIMEOUT:  # the wait for a head: HEAD_TIMEOUT
            _arm(sock, socket.SO_RCVTIMEO, HEAD_TIMEOUT)
            self._rcv_armed = HEAD_TIMEOUT
        try:
            size = sock.recv_into(self._scratch)
        except (BlockingIOError, TimeoutError):  # SO_RCVTIMEO ran out: idle
            return True
        if not size:
            return True
        matched = self._manager_heads.match(self._scratch, size)
        if matched is not None:
            arrival = _monotonic()  # the deadline counts from the head, as on the general path
            call, end, length, deadline_ms, content_type = matched
            total = end + length
            if total == size:
                body = bytes(self._scratch_view[end:size])
            elif size < total <= MANAGER_CALL_BUFFER:
                body = self._rest_of_manager_call(size, end, total)
                if body is None:
                    self.close_connection = True  # the peer left or stalled mid-body: no answer
                    return True
            else:
                body = None  # pipelined requests, or a body too large for the buffer
            if body is not None:
                self.command = "POST"
                self._body_done = True
                self._keep_alive_header = False
                self.close_connection = False
                admission = self.service.admission
                if not admission.admit():
                    self._error(503, ErrorCode.UNAVAILABLE, "the plugin is shutting down; the call was not run",
                                close=True)
                    return True
                try:
                    contract, type_name, method_name, bound = call
                    self._run_handler(contract, type_name, method_name, bound,
                                      None if deadline_ms is None else arrival + deadline_ms / 1000.0,
                                      body, content_type)
                finally:
                    admission.finish()  # the response has been written (or the peer is gone)
                return True
        self._buffer += self._scratch_view[:size]
        self._head_deadline = head_deadline
        return False

    def _rest_of_manager_call(self, size: int, end: int, total: int) -> bytes | None:
        """The body of a manager's call whose first ``size`` bytes are in the
        call buffer (head ``end`` bytes, ``total`` in all), read into the
        buffer (grown to hold it) by reads that each make progress within
        CONNECTION_TIMEOUT, as the general path's; nothing past ``total`` is
        read. None if the peer closed or stalled."""
        if total > len(self._scratch):
            grown = bytearray(min(MANAGER_CALL_BUFFER, -(-total // READ_SIZE) * READ_SIZE))
            grown[:size] = self._scratch_view[:size]
            self._scratch_view.release()
            self._scratch = grown
            self._scratch_view = memoryview(grown)
        if self._rcv_armed != CONNECTION_TIMEOUT:
            _arm(self.request, socket.SO_RCVTIMEO, CONNECTION_TIMEOUT)
            self._rcv_armed = CONNECTION_TIMEOUT
        view = self._scratch_view
        recv_into = self.request.recv_into
        while size < total:
            try:
                got = recv_into(view[size:total])
            except (BlockingIOError, TimeoutError):
                return None
            if not got:
                return None
            size += got
        return bytes(view[end:total])

    def _serve_usual_call(self) -> bool:
        """Serves the usual request of a proven connection whole, if the
        buffer starts with one: an authorised ``POST /v1/{contract}/{type}/{method}``
        of a type and method this plugin has, in a head _USUAL_HEAD matches,
        with a valid Content-Length within the body limit (or none), a valid
        deadline (or none), and no Transfer-Encoding, Expect or Connection
        field. Returns False having changed nothing otherwise: the general
        path (_head_lines, _parse_head, _route) then reads the same bytes and
        gives the answer, with the same checks in the same order; the usual
        call passes them all, so both paths answer it alike."""
        buffer = self._buffer
        usual = _USUAL_HEAD.match(buffer)
        if usual is None or usual.end() > MAX_HEAD_BYTES:
            return False
        method, target, block = usual.group(1, 2, 3)
        if method != b"POST" or not target.startswith(b"/v1/") or b"?" in target:
            return False
        slash = target.rfind(b"/")
        service = self.service
        methods = service.types.get(target[4:slash].decode("latin-1"))
        if methods is None:
            return False
        bound = methods.get(target[slash + 1:].decode("latin-1"))
        if bound is None:
            return False
        headers = _usual_headers(block)
        if "transfer-encoding" in headers or "expect" in headers or "connection" in headers:
            return False
        auth = headers.get("authorization")
        if auth is None or not hmac.compare_digest(auth.encode("latin-1"), service.expected_auth):
            return False
        length_text = headers.get("content-length", "0")
        if not (length_text.isdigit() and len(length_text) <= MAX_LENGTH_DIGITS and length_text.isascii()):
            return False
        length = int(length_text)
        if length > service.max_body_bytes:
            return False
        deadline_text = headers.get("x-plugvisor-deadline-ms")
        if deadline_text is not None and not (deadline_text.isdigit() and len(deadline_text) <= MAX_DEADLINE_DIGITS
                                              and deadline_text.isascii()):
            return False
        # It is the usual call: from here it is answered.
        del buffer[:usual.end()]
        self._arrival = now = time.monotonic()
        self.command = "POST"
        self.path = target.decode("latin-1")
        self.headers_in = headers
        self._length = length
        self._body_done = length == 0
        self.close_connection = False
        admission = service.admission
        if not admission.admit():
            self._error(503, ErrorCode.UNAVAILABLE, "the plugin is shutting down; the call was not run", close=True)
            return True
        try:
            contract, _, type_name = self.path[4:slash].partition("/")
            self._execute(contract, type_name, self.path[slash + 1:], bound,
                          None if deadline_text is None else now + int(deadline_text) / 1000.0)
        finally:
            admission.finish()  # the response has been written (or the peer is gone)
        return True

    def _not_found(self, method: str, path: str) -> None:
        self._error(404, ErrorCode.NOT_FOUND,
                    f"no endpoint {method} {path}: calls are POST /v1/{{contract}}/{{type}}/{{method}}")

    def _authorized(self) -> bool:
        got = self.headers_in.get("authorization")
        return got is not None and hmac.compare_digest(got.encode("latin-1"), self.service.expected_auth)

    def _unauthorized(self) -> None:
        got = self.headers_in.get("authorization")
        self._error(401, ErrorCode.UNAUTHORIZED,
                    "missing Authorization header: send 'Authorization: Bearer <token>' with the token "
                    "from the launch configuration" if got is None
                    else "wrong bearer token: use the token from the launch configuration")

    def _shutdown(self) -> None:
        # The shutdown starts before the answer (so that it is the reason
        # logged, even if the manager closes stdin as soon as it reads the
        # 202), and the answer is counted, so that the drain waits for it.
        admission = self.service.admission
        admission.hold()
        try:
            admission.begin_shutdown("asked through /shutdown")
            self._send(202, b'{"status":"shutting down"}', JSON_TYPE)
        finally:
            admission.finish()

    def _call(self, contract: str, type_name: str, method_name: str) -> None:
        admission = self.service.admission
        if not admission.admit():
            self._error(503, ErrorCode.UNAVAILABLE, "the plugin is shutting down; the call was not run", close=True)
            return
        try:
            self._run_call(contract, type_name, method_name)
        finally:
            admission.finish()  # the response has been written (or the peer is gone)

    def _run_call(self, contract: str, type_name: str, method_name: str) -> None:
        service = self.service
        methods = service.types.get(f"{contract}/{type_name}")
        if methods is None:
            self._error(404, ErrorCode.NOT_FOUND, f"this plugin provides no {contract} type '{type_name}'")
            return
        deadline = None
        deadline_text = self.headers_in.get("x-plugvisor-deadline-ms")
        if deadline_text is not None:
            # At most MAX_DEADLINE_DIGITS digits (protocol.md §10.4), checked
            # before int(): CPython refuses int() of over 4300 digits.
            if not (deadline_text.isascii() and deadline_text.isdigit()
                    and len(deadline_text) <= MAX_DEADLINE_DIGITS):
                self._error(400, ErrorCode.INVALID_INPUT,
                            f"X-Plugvisor-Deadline-Ms must be a whole number of milliseconds "
                            f"(at most {MAX_DEADLINE_DIGITS} digits)")
                return
            # A float: a huge budget is a deadline centuries away ("never"), not an overflow.
            deadline = self._arrival + int(deadline_text) / 1000.0
        bound = methods.get(method_name)
        if bound is None:
            self._error(404, ErrorCode.NOT_FOUND,
                        f"contract {contract} has no method '{method_name}' (type '{type_name}' answers: "
                        f"{', '.join(sorted(methods))})")
            return
        self._execute(contract, type_name, method_name, bound, deadline)

    def _execute(self, contract: str, type_name: str, method_name: str, bound: BoundMethod,
                 deadline: float | None) -> None:
        """Reads the body of an admitted call, then runs it (_run_handler)."""
        body = b""
        if bound.input is _NONE:
            if not self._settle_body():
                self.close_connection = True
        else:
            buffer = self._buffer
            size = self._length
            if not self._expect and not self._chunked and len(buffer) >= size:
                with memoryview(buffer) as view:  # the usual body, already read with its head
                    body = bytes(view[:size])
                del buffer[:size]
                self._body_done = True
            else:
                read = self._read_body()
                if read is None:
                    return
                body = read
        self._run_handler(contract, type_name, method_name, bound, deadline, body,
                          self.headers_in.get("content-type", ""))

    def _run_handler(self, contract: str, type_name: str, method_name: str, bound: BoundMethod,
                     deadline: float | None, body: bytes, content_type: str) -> None:
        """Decodes the body of an admitted call (read whole), runs its handler and answers."""
        kind = bound.input
        value: Any = None
        if kind is _BYTES:
            value = body
        elif kind is not _NONE:
            if kind is None:
                octets = content_type.split(";", 1)[0].strip().lower() == "application/octet-stream"
                kind = _BYTES if octets else _JSON
            if kind is _JSON:
                try:
                    value = json_depth.loads(body)
                except json_depth.TooDeep as e:
                    self._error(400, ErrorCode.INVALID_INPUT, f"input is refused: {e}")
                    return
                except (ValueError, UnicodeDecodeError) as e:
                    self._error(400, ErrorCode.INVALID_INPUT, f"input is not JSON: {e}")
                    return
            else:
                value = body
        context = Context(contract, type_name, method_name, deadline, self.service.config, content_type)
        _this_call.context = context  # context.current(); an attribute store, not a call: twice per call
        try:
            result = bound.fn(value, context)
        except PluginError as e:
            what = f"{contract}/{type_name} {method_name}"
            if e.code in HANDLER_CODES:
                self._error(e.code.http_status, e.code, e.message)
            else:
                # 503 would tell the manager "not run", and host-side codes are no HTTP answers.
                self._error(500, ErrorCode.INTERNAL, f"{what} failed ({e.code.value}): {e.message}")
            return
        except BaseException as e:  # a handler must never end the plugin
            what = f"{contract}/{type_name} {method_name}"
            log.error(f"{what} failed: {_traceback(e)}")
            self._error(500, ErrorCode.INTERNAL, f"{what} failed: {type(e).__name__}: {e}")
            return
        finally:
            _this_call.context = None
        if type(result) is bytes and bound.output is _BYTES:  # the usual answer of a bytes method
            self._send(200, result, BYTES_TYPE)
        else:
            self._answer(context, bound.output, result)

    def _answer(self, context: Context, kind: Kind | None, result: Any) -> None:
        if kind is _NONE:
            self._send(200, b"{}", JSON_TYPE)
            return
        if kind is None:
            kind = _BYTES if type(result) is bytes or isinstance(result, (bytearray, memoryview)) else _JSON
        if kind is _BYTES:
            if type(result) is bytes or isinstance(result, (bytearray, memoryview)):
                self._send(200, result, BYTES_TYPE)
            elif isinstance(result, str):
                self._send(200, result.encode("utf-8"), BYTES_TYPE)
            else:
                self._error(500, ErrorCode.INTERNAL,
                            f"{_what(context)} returned {type(result).__name__}; it must return bytes (or str)")
            return
        try:
            body = _dumps(result)
        except (TypeError, ValueError) as e:
            self._error(500, ErrorCode.INTERNAL, f"{_what(context)} returned a value that is not JSON: {e}")
            return
        self._send(200, body, JSON_TYPE)


class PluginServerMixin(socketserver.ThreadingMixIn):
    """What both servers share: daemon threads, a backlog of 128, tracking of
    open connections, at most ``service.max_connections`` of them served at
    once (fair admission at the cap), an accept loop that stops at once, and
    :meth:`stop`."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    service: Service

    def _prepare(self, service: Service) -> None:
        self.service = service
        self._connections: dict[socket.socket, _ConnectionState] = {}
        self._connections_lock = threading.Lock()
        self._room = threading.Condition(self._connections_lock)
        self._stop_r, self._stop_w = socket.socketpair()
        self._thread: threading.Thread | None = None

    def connection_state(self, request: socket.socket) -> _ConnectionState:
        """The state of an accepted connection (for its handler)."""
        with self._connections_lock:
            return self._connections[request]

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections[request] = _ConnectionState(self._connections_lock)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._room:
            self._connections.pop(request, None)
            self._room.notify_all()
        super().shutdown_request(request)

    def _evict_one_locked(self) -> bool:
        """Gives up the connection that has held a thread longest without
        proving itself (never an authorised one, nor one whose request is
        being run, nor one whose thread is not waiting on it: bytes it has
        not read yet, or a head it is looking at): part-way heads first (a
        trickling client), then idle connections. Returns whether one was.
        Called with the lock held."""
        chosen: tuple[bool, float] | None = None
        victim: socket.socket | None = None
        for sock, state in self._connections.items():
            if state.proven or state.phase not in (_ConnectionState.PARTIAL, _ConnectionState.WAITING):
                continue
            rank = (state.phase != _ConnectionState.PARTIAL, state.since)
            if chosen is None or rank < chosen:
                chosen, victim = rank, sock
        if victim is None or _unread_bytes(victim) != 0:
            # Nothing stalled; or bytes its thread has not read yet (a
            # connection just taken from the backlog, its request not read):
            # it is not stalled. The accept loop looks again shortly.
            return False
        self._connections[victim].phase = _ConnectionState.EVICTED
        try:
            victim.shutdown(socket.SHUT_RDWR)  # its thread's recv returns at once
        except OSError:
            pass
        return True

    def _make_room(self) -> bool:
        """With a newcomer in the backlog: whether one more connection may be
        served now, giving up an unproven one at the cap, so that connections
        that never send a whole head cannot keep the manager's health check
        and calls out. When nothing may be given up, the newcomer waits in
        the backlog."""
        cap = self.service.max_connections
        with self._room:
            if len(self._connections) < cap:
                return True
        # At the cap: give up a connection only for a newcomer that is there.
        if not select.select([self.socket], [], [], 0)[0]:
            return False
        with self._room:
            if len(self._connections) < cap:
                return True
            if self._evict_one_locked():
                return self._room.wait_for(lambda: len(self._connections) < cap, 1.0)
            self._room.wait(0.01)  # every connection is authorised or busy: look again shortly
            return len(self._connections) < cap

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            return  # the peer went away
        if error is not None:
            log.error(f"error while serving a connection: {_traceback(error)}")

    def start(self) -> None:
        """Starts accepting connections on a daemon thread."""
        self.socket.setblocking(False)
        self._thread = threading.Thread(target=self._accept_loop, name="plugvisor-accept", daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(self._stop_r, selectors.EVENT_READ)
            while True:
                for key, _ in selector.select():
                    if key.fileobj is self._stop_r:
                        return
                    self._accept_all()

    def _accept_all(self) -> None:
        while True:  # a burst of connects is taken in one wake-up
            if not self._make_room():
                return
            try:
                request, client_address = self.get_request()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in (errno.EMFILE, errno.ENFILE):
                    with self._room:  # out of descriptors: the same rule as the cap
                        if not self._evict_one_locked():
                            self._room.wait(0.01)
                return
            try:
                self.process_request(request, client_address)
            except Exception:
                self.handle_error(request, client_address)
                self.shutdown_request(request)

    def stop(self) -> None:
        """Stops accepting, closes the listener and every open connection.
        Call once every admitted call has been answered (or abandoned)."""
        try:
            self._stop_w.send(b"\0")
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(1.0)
        self.server_close()
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._stop_r.close()
        self._stop_w.close()


class UnixServer(PluginServerMixin, socketserver.UnixStreamServer):
    """Serves on a Unix socket file created with mode 0600. The caller holds
    the socket's lock file and has removed any stale socket file."""

    def __init__(self, path: str, service: Service) -> None:
        self._prepare(service)
        previous = os.umask(0o177)  # the socket file is born 0600
        try:
            super().__init__(path, RequestHandler)
        finally:
            os.umask(previous)
        os.chmod(path, 0o600)


class TcpServer(PluginServerMixin, socketserver.TCPServer):
    """Serves on 127.0.0.1 (port 0: any free port; see ``port``), with
    ``TCP_NODELAY`` on every accepted connection."""

    allow_reuse_address = True

    def __init__(self, port: int, service: Service) -> None:
        self._prepare(service)
        super().__init__(("127.0.0.1", port), RequestHandler)

    @property
    def port(self) -> int:
        """The port actually bound."""
        return int(self.server_address[1])

    def get_request(self) -> tuple[socket.socket, Any]:
        request, client_address = self.socket.accept()
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return request, client_address
