"""Helpers for the SDK tests: run a plugin as a real process, talk HTTP to it.

:class:`PluginProcess` launches a plugin script the way the manager does
(``--config -`` and one JSON line on stdin, stdin kept open), reads the
handshake, and cleans up (kill, temporary directory) when the test ends.
:class:`UnixHTTPConnection` is ``http.client`` over a Unix socket;
:func:`raw_exchange` sends bytes as they are, for requests ``http.client``
will not make (no Content-Length, chunked, Expect).
"""

from __future__ import annotations

import http.client
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
from typing import Any, Callable

HERE = os.path.dirname(os.path.abspath(__file__))
SDK_SRC = os.path.normpath(os.path.join(HERE, "..", "src"))
FIXTURE = os.path.join(HERE, "fixture_plugin.py")
EXAMPLE = os.path.normpath(os.path.join(HERE, "..", "..", "examples", "plugin-py-stats", "plugin_py_stats.py"))
TOKEN = "0123456789abcdef" * 4


def private_dir(test: unittest.TestCase) -> str:
    """A fresh 0700 directory removed when the test ends."""
    path = tempfile.mkdtemp(prefix="pv-py-")
    os.chmod(path, 0o700)
    test.addCleanup(shutil.rmtree, path, True)
    return path


def plugin_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SDK_SRC
    env["PLUGVISOR_PROTOCOL"] = "1"
    env.update(extra)
    return env


class UnixHTTPConnection(http.client.HTTPConnection):
    """``http.client.HTTPConnection`` over a Unix stream socket."""

    def __init__(self, path: str, timeout: float = 10.0) -> None:
        super().__init__("plugin", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(self.unix_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class Reply:
    """A response: status, headers (lower-case names) and body."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_code(self) -> str:
        return self.json()["error"]["code"]

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.body[:200]!r})"


def exchange(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None,
             headers: dict[str, str] | None = None) -> Reply:
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)


class PluginProcess:
    """One plugin process, launched as the manager would launch it."""

    def __init__(
        self,
        test: unittest.TestCase,
        script: str = FIXTURE,
        *,
        transport: str = "unix",
        address: str | None = None,
        idle: str | None = "0",
        max_body: int | None = None,
        config_types: list[dict[str, Any]] | None = None,
        inline: bool = False,
        env: dict[str, str] | None = None,
        expect_handshake: bool = True,
    ) -> None:
        self.test = test
        self.dir = private_dir(test)
        if address is None:
            address = os.path.join(self.dir, "p.sock") if transport == "unix" else "127.0.0.1:0"
        config: dict[str, Any] = {"protocolVersion": 1, "id": "fixture", "type": transport,
                                  "address": address, "token": TOKEN}
        if idle is not None:
            config["idleTimeout"] = idle
        if max_body is not None:
            config["maxBodyBytes"] = max_body
        if config_types is not None:
            config["configTypes"] = config_types
        self.config = config
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        self._stderr = open(self.stderr_path, "wb")
        test.addCleanup(self._stderr.close)
        line = json.dumps(config)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, script, "--config", line if inline else "-"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            env=env or plugin_env(), start_new_session=True,
        )
        test.addCleanup(self.kill)
        if not inline:
            self.proc.stdin.write(line.encode() + b"\n")
            self.proc.stdin.flush()
        self.handshake: dict[str, Any] = {}
        if expect_handshake:
            text = self.read_stdout_line(10.0)
            if not text:
                raise AssertionError(f"no handshake; exit {self.proc.poll()}; stderr: {self.stderr()}")
            self.handshake = json.loads(text)
            self.ready = time.monotonic()

    @property
    def socket_path(self) -> str:
        return self.config["address"]

    @property
    def lock_path(self) -> str:
        return self.config["address"] + ".lock"

    def read_stdout_line(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return self.proc.stdout.readline() if ready else b""

    def connect(self, timeout: float = 10.0) -> http.client.HTTPConnection:
        """A new kept-alive connection to the plugin (closed when the test ends)."""
        if self.handshake["type"] == "unix":
            conn: http.client.HTTPConnection = UnixHTTPConnection(self.handshake["address"], timeout)
        else:
            host, _, port = self.handshake["address"].rpartition(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        self.test.addCleanup(conn.close)
        return conn

    def raw_socket(self) -> socket.socket:
        if self.handshake["type"] == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(self.handshake["address"])
        else:
            host, _, port = self.handshake["address"].rpartition(":")
            sock = socket.create_connection((host, int(port)))
        sock.settimeout(10)
        self.test.addCleanup(sock.close)
        return sock

    def call(self, contract: str, type_name: str, method: str, body: bytes = b"{}",
             content_type: str = "application/octet-stream", token: str | None = TOKEN,
             headers: dict[str, str] | None = None,
             conn: http.client.HTTPConnection | None = None) -> Reply:
        """POST /v1/{contract}/{type}/{method}, on ``conn`` or a new connection."""
        all_headers = {"Content-Type": content_type}
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        all_headers.update(headers or {})
        return exchange(conn or self.connect(), "POST", f"/v1/{contract}/{type_name}/{method}", body, all_headers)

    def process(self, type_name: str, body: bytes, **kwargs: Any) -> Reply:
        return self.call("dataProcessor", type_name, "processData", body, **kwargs)

    def shutdown(self, conn: http.client.HTTPConnection | None = None, token: str | None = TOKEN) -> Reply:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return exchange(conn or self.connect(), "POST", "/shutdown", b"", headers)

    def healthz(self) -> Reply:
        conn = self.connect(timeout=2.0)
        try:
            return exchange(conn, "GET", "/healthz")
        finally:
            conn.close()

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def close_stdin(self) -> None:
        self.proc.stdin.close()

    def wait(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr(self) -> str:
        self._stderr.flush()
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait(5)
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


def run_plugin(args: list[str], *, script: str = FIXTURE, stdin: bytes | None = b"",
               env: dict[str, str] | None = None, timeout: float = 10.0) -> subprocess.CompletedProcess:
    """Runs the plugin to completion with ``args``; stdin gets ``stdin`` then end of file."""
    return subprocess.run([sys.executable, script, *args], input=stdin, capture_output=True,
                          env=env or plugin_env(), timeout=timeout)


def raw_exchange(sock: socket.socket, request: bytes, *, read_body: bool = True) -> Reply:
    """Sends ``request`` as is and reads one response (Content-Length framed)."""
    if request:
        sock.sendall(request)
    return read_response(sock.makefile("rb"), read_body)


def read_response(stream: Any, read_body: bool = True) -> Reply:
    status_line = stream.readline()
    if not status_line:
        raise ConnectionError("closed without a response")
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while True:
        line = stream.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = stream.read(int(headers.get("content-length", "0"))) if read_body else b""
    return Reply(status, headers, body)


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, step: float = 0.01) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


class ClassScope:
    """Lets a PluginProcess live for a whole TestCase class (``setUpClass``):
    its cleanups run when the class is done."""

    def __init__(self, cls: type[unittest.TestCase]) -> None:
        self.addCleanup = cls.addClassCleanup
