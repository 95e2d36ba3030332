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

import hmac
import http
import json
import os
import re
import selectors
import socket
import socketserver
import sys
import threading
import time
from typing import Any, Callable, Mapping

from . import log
from .config import Config
from .context import Context, _set_current
from .contracts import Kind
from .errors import HANDLER_CODES, ErrorCode, PluginError
from .lifecycle import Admission

__all__ = ["BoundMethod", "Service", "RequestHandler", "UnixServer", "TcpServer", "PluginServerMixin"]

#: Longest request line or header line.
MAX_LINE = 65536
#: Most header lines in one request.
MAX_HEADERS = 100
#: A body not read by the time an error is answered is read and discarded up
#: to this size, keeping the connection; a larger one closes it.
DISCARD_LIMIT = 1 << 20
#: Most digits an X-Plugvisor-Deadline-Ms value may have (protocol.md §10.4),
#: as many as the C++ SDK's int64 milliseconds: checked before int().
MAX_DEADLINE_DIGITS = 19
#: How long a closing connection keeps reading what the client still sends,
#: so that the response is not lost to a reset.
LINGER_SECONDS = 2.0
#: Responses up to this size are sent in one buffer; larger bodies are not copied.
SMALL_RESPONSE = 16384

JSON_TYPE = b"application/json"
BYTES_TYPE = b"application/octet-stream"
_STATUS_LINES = {
    status: f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n".encode()
    for status in (200, 202, 204, 304, 400, 401, 404, 413, 500, 503)
}
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,15}")
_NOT_SERIALIZABLE = object()


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
    ) -> None:
        self.config = config
        self.expected_auth = b"Bearer " + token.encode("utf-8")
        self.max_body_bytes = max_body_bytes
        #: "contract/type" -> method name -> BoundMethod
        self.types = types
        self.admission = admission


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


def _send_all(sock: socket.socket, buffers: list[Any]) -> None:
    """Sends every buffer in order with as few system calls as possible and no copy."""
    views = [memoryview(b).cast("B") for b in buffers]
    views = [v for v in views if v.nbytes]
    while views:
        sent = sock.sendmsg(views)
        while sent:
            first = views[0]
            if sent >= first.nbytes:
                sent -= first.nbytes
                views.pop(0)
            else:
                views[0] = first[sent:]
                sent = 0


class RequestHandler(socketserver.StreamRequestHandler):
    """Serves one connection: requests one after the other until either side
    closes. Not for direct use; the servers below instantiate it."""

    #: Answers are HTTP/1.1; connections stay open unless a response says ``Connection: close``.
    protocol_version = "HTTP/1.1"
    server: "PluginServerMixin"

    def setup(self) -> None:
        super().setup()
        self.service: Service = self.server.service
        self._linger = False
        self._body_done = True
        self._chunked = False
        self._length = 0
        self._expect = False
        self._keep_alive_header = False
        self.headers_in: dict[str, str] = {}

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
            if self._read_head():
                self._route()
        except OSError:  # the peer went away (reset, broken pipe, timeout)
            self.close_connection = True

    def finish(self) -> None:
        super().finish()
        if self._linger:
            # Read what the client still sends before closing: closing with
            # unread data resets the connection, and a reset can destroy the
            # response before the client has read it.
            sock = self.connection
            try:
                sock.shutdown(socket.SHUT_WR)
                end = time.monotonic() + LINGER_SECONDS
                while (left := end - time.monotonic()) > 0:
                    sock.settimeout(left)
                    if not sock.recv(65536):
                        break
            except OSError:
                pass

    # -- reading --------------------------------------------------------------

    def _read_head(self) -> bool:
        rfile = self.rfile
        line = rfile.readline(MAX_LINE + 1)
        for _ in range(8):  # tolerate empty lines before a request (RFC 9112, 2.2)
            if line not in (b"\r\n", b"\n"):
                break
            line = rfile.readline(MAX_LINE + 1)
        if not line:
            return False
        self.command, self.path, self.request_version = "", "", "HTTP/1.1"
        self._body_done = True
        self._expect = False
        self._keep_alive_header = False
        self.headers_in: dict[str, str] = {}
        if len(line) > MAX_LINE:
            return self._bad_request("request line too long")
        parts = line.split()
        if len(parts) != 3 or parts[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
            return self._bad_request("malformed request line: expected METHOD PATH HTTP/1.1")
        self.command = parts[0].decode("latin-1")
        self.path = parts[1].decode("latin-1")
        self.request_version = parts[2].decode("latin-1")
        self.requestline = line.decode("latin-1").rstrip("\r\n")

        headers = self.headers_in
        for _ in range(MAX_HEADERS + 1):
            raw = rfile.readline(MAX_LINE + 1)
            if raw in (b"\r\n", b"\n"):
                break
            if not raw:
                return False
            name, colon, value = raw.partition(b":")
            if len(raw) > MAX_LINE or not colon or raw[0] in b" \t" or not name.strip():
                return self._bad_request("malformed or too long header line")
            key = name.strip().lower().decode("latin-1")
            text = value.strip().decode("latin-1")
            if key in headers:
                if key == "content-length" and headers[key] != text:
                    return self._bad_request("conflicting Content-Length headers")
                if key != "content-length":
                    headers[key] = headers[key] + ", " + text
            else:
                headers[key] = text
        else:
            return self._bad_request(f"more than {MAX_HEADERS} header lines")

        self._arrival = time.monotonic()
        connection = headers.get("connection", "").lower()
        tokens = {t.strip() for t in connection.split(",")} if connection else set()
        if self.request_version == "HTTP/1.1":
            self.close_connection = "close" in tokens
            self._expect = headers.get("expect", "").lower() == "100-continue"
        else:
            self.close_connection = "keep-alive" not in tokens
            self._keep_alive_header = not self.close_connection
        return True

    def _bad_request(self, message: str) -> bool:
        """Answers a request that cannot be framed: 400, then a lingering close."""
        self._linger = True
        self._error(400, ErrorCode.INVALID_INPUT, message, close=True)
        return False

    def _discard(self, size: int) -> bool:
        """Reads and drops ``size`` body bytes; False if the peer closed first."""
        read = self.rfile.read
        while size > 0:
            got = len(read(min(size, 65536)))
            if got == 0:
                return False
            size -= got
        return True

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

    def _read_body(self) -> bytes | None:
        """The request body, or None if it was answered (413) or the peer left."""
        if self._expect:
            self.connection.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            self._expect = False
        if self._chunked:
            return self._read_chunked()
        size = self._length
        data = self.rfile.read(size) if size else b""
        if len(data) < size:
            self.close_connection = True
            return None
        self._body_done = True
        return data

    def _read_chunked(self) -> bytes | None:
        rfile = self.rfile
        limit = self.service.max_body_bytes
        parts: list[bytes] = []
        total = 0
        while True:
            line = rfile.readline(MAX_LINE + 1)
            size_text = line.split(b";", 1)[0].strip()
            if not _CHUNK_SIZE.fullmatch(size_text):
                if line:
                    self._error(400, ErrorCode.INVALID_INPUT, "malformed chunked body", close=True)
                self.close_connection = True
                return None
            size = int(size_text, 16)
            if size == 0:
                while rfile.readline(MAX_LINE + 1) not in (b"\r\n", b"\n", b""):
                    pass  # trailer fields mean nothing here
                break
            total += size
            if total > limit:
                self._error(413, ErrorCode.TOO_LARGE,
                            f"request body exceeds this plugin's limit of {limit} bytes", close=True)
                return None
            chunk = rfile.read(size)
            rfile.readline(MAX_LINE + 1)  # the CRLF after the chunk
            if len(chunk) < size:
                self.close_connection = True
                return None
            parts.append(chunk)
        self._body_done = True
        return parts[0] if len(parts) == 1 else b"".join(parts)

    # -- answering ------------------------------------------------------------

    def _send(self, status: int, body: Any, content_type: bytes, close: bool = False) -> None:
        """Writes one complete response. ``body`` is bytes-like."""
        if not self._body_done and not self._settle_body():
            close = True
        if close:
            self.close_connection = True
        size = memoryview(body).nbytes if not isinstance(body, bytes) else len(body)
        head = b"%s%sContent-Type: %s\r\n%s%s\r\n" % (
            _STATUS_LINES[status],
            _date_header(),
            content_type,
            # A 204 or 304 carries no Content-Length (RFC 9110 §8.6).
            b"" if status in (204, 304) else b"Content-Length: %d\r\n" % size,
            b"Connection: close\r\n" if self.close_connection
            else b"Connection: keep-alive\r\n" if self._keep_alive_header else b"",
        )
        if self.command == "HEAD":
            self.connection.sendall(head)
        elif size <= SMALL_RESPONSE:
            self.connection.sendall(head + body if isinstance(body, bytes) else head + bytes(body))
        else:
            _send_all(self.connection, [head, body])

    def _error(self, status: int, code: ErrorCode, message: str, close: bool = False) -> None:
        self._send(status, _error_body(code, message), JSON_TYPE, close)

    # -- routing --------------------------------------------------------------

    def _route(self) -> None:
        headers = self.headers_in
        method = self.command
        path = self.path.split("?", 1)[0]
        transfer = headers.get("transfer-encoding")
        length_text = headers.get("content-length")
        self._chunked = False
        self._length = 0
        if transfer is not None:
            if transfer.lower() != "chunked":
                self._linger = True
                self._error(400, ErrorCode.INVALID_INPUT,
                            f"Transfer-Encoding '{transfer}' is not supported: send Content-Length", close=True)
                return
            self._chunked = True
            if length_text is not None:
                self.close_connection = True  # both framings: trust neither connection state afterwards
        elif length_text is not None:
            if not (length_text.isascii() and length_text.isdigit()):
                self._linger = True
                self._error(400, ErrorCode.INVALID_INPUT, "Content-Length must be a whole number", close=True)
                return
            # Bounded before int() (CPython refuses over 4300 digits): a
            # longer number is over any body limit, and answered as such.
            self._length = int(length_text) if len(length_text) <= 19 else 10**19
        # Neither header: the body is empty (RFC 9112 §6.3), as curl -X POST sends it.
        self._body_done = not self._chunked and self._length == 0

        limit = self.service.max_body_bytes
        if self._length > limit:
            self._error(413, ErrorCode.TOO_LARGE,
                        f"request body of {self._length} bytes exceeds this plugin's limit of {limit} bytes")
            return

        if method == "POST":
            if path.startswith("/v1/"):
                parts = path[4:].split("/")
                if len(parts) == 3 and all(parts):
                    self._call(parts[0], parts[1], parts[2])
                    return
            elif path == "/shutdown":
                self._shutdown()
                return
        elif path == "/healthz" and method in ("GET", "HEAD"):
            self._send(200, b'{"status":"ok"}', JSON_TYPE)
            return
        self._error(404, ErrorCode.NOT_FOUND,
                    f"no endpoint {method} {path}: calls are POST /v1/{{contract}}/{{type}}/{{method}}")

    def _authorized(self) -> bool:
        got = self.headers_in.get("authorization")
        if got is not None and hmac.compare_digest(got.encode("latin-1"), self.service.expected_auth):
            return True
        self._error(401, ErrorCode.UNAUTHORIZED,
                    "missing Authorization header: send 'Authorization: Bearer <token>' with the token "
                    "from the launch configuration" if got is None
                    else "wrong bearer token: use the token from the launch configuration")
        return False

    def _shutdown(self) -> None:
        if not self._authorized():
            return
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
        if not self._authorized():
            return
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

        content_type = self.headers_in.get("content-type", "")
        kind = bound.input
        value: Any = None
        if kind is Kind.NONE:
            if not self._settle_body():
                self.close_connection = True
        else:
            body = self._read_body()
            if body is None:
                return
            if kind is None:
                octets = content_type.split(";", 1)[0].strip().lower() == "application/octet-stream"
                kind = Kind.BYTES if octets else Kind.JSON
            if kind is Kind.JSON:
                try:
                    value = json.loads(body)
                except (ValueError, UnicodeDecodeError) as e:
                    self._error(400, ErrorCode.INVALID_INPUT, f"input is not JSON: {e}")
                    return
            else:
                value = body

        what = f"{contract}/{type_name} {method_name}"
        context = Context(contract, type_name, method_name, deadline, service.config, content_type)
        _set_current(context)
        try:
            result = bound.fn(value, context)
        except PluginError as e:
            if e.code in HANDLER_CODES:
                self._error(e.code.http_status, e.code, e.message)
            else:
                # 503 would tell the manager "not run", and host-side codes are no HTTP answers.
                self._error(500, ErrorCode.INTERNAL, f"{what} failed ({e.code.value}): {e.message}")
            return
        except BaseException as e:  # a handler must never end the plugin
            log.error(f"{what} failed: {_traceback(e)}")
            self._error(500, ErrorCode.INTERNAL, f"{what} failed: {type(e).__name__}: {e}")
            return
        finally:
            _set_current(None)
        self._answer(what, bound.output, result)

    def _answer(self, what: str, kind: Kind | None, result: Any) -> None:
        if kind is Kind.NONE:
            self._send(200, b"{}", JSON_TYPE)
            return
        if kind is None:
            kind = Kind.BYTES if isinstance(result, (bytes, bytearray, memoryview)) else Kind.JSON
        if kind is Kind.BYTES:
            if isinstance(result, (bytes, bytearray, memoryview)):
                self._send(200, result, BYTES_TYPE)
            elif isinstance(result, str):
                self._send(200, result.encode("utf-8"), BYTES_TYPE)
            else:
                self._error(500, ErrorCode.INTERNAL,
                            f"{what} returned {type(result).__name__}; it must return bytes (or str)")
            return
        try:
            body = _dumps(result)
        except (TypeError, ValueError) as e:
            self._error(500, ErrorCode.INTERNAL, f"{what} returned a value that is not JSON: {e}")
            return
        self._send(200, body, JSON_TYPE)


class PluginServerMixin(socketserver.ThreadingMixIn):
    """What both servers share: daemon threads, a backlog of 128, tracking of
    open connections, an accept loop that stops at once, and :meth:`stop`."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    service: Service

    def _prepare(self, service: Service) -> None:
        self.service = service
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._stop_r, self._stop_w = socket.socketpair()
        self._thread: threading.Thread | None = None

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

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
            try:
                request, client_address = self.get_request()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
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
