"""Loopback TCP (sections 6, 12, 15)."""

from __future__ import annotations

import os
import socket
import time
import unittest
from types import SimpleNamespace

from plugvisor_sdk.server import TcpServer
from support import PluginProcess


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TcpTest(unittest.TestCase):
    def test_port_0_binds_a_free_port_and_reports_it(self) -> None:
        plugin = PluginProcess(self, transport="tcp")
        host, _, port = plugin.handshake["address"].rpartition(":")
        self.assertEqual(host, "127.0.0.1")
        self.assertTrue(1 <= int(port) <= 65535)
        self.assertEqual(plugin.handshake["type"], "tcp")
        self.assertEqual(plugin.healthz().status, 200)
        self.assertEqual(plugin.process("upper", b"tcp").body, b"TCP")
        self.assertEqual(plugin.process("echo", b"x", token="nope").status, 401)
        self.assertEqual(os.listdir(plugin.dir), ["stderr.log"])  # no lock file over TCP

    def test_a_given_port_is_bound(self) -> None:
        port = free_port()
        plugin = PluginProcess(self, transport="tcp", address=f"127.0.0.1:{port}")
        self.assertEqual(plugin.handshake["address"], f"127.0.0.1:{port}")
        self.assertEqual(plugin.process("echo", b"here").body, b"here")

    def test_calls_on_a_kept_alive_connection_are_all_answered_on_it(self) -> None:
        plugin = PluginProcess(self, transport="tcp")
        conn = plugin.connect()
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock, local = conn.sock, conn.sock.getsockname()
        began = time.monotonic()
        for i in range(50):
            body = (b"%02d" % i) * 10000  # 20 KB, different for every call
            reply = plugin.process("echo", body, conn=conn)
            self.assertEqual(reply.status, 200, reply)
            self.assertEqual(reply.headers["content-type"], "application/octet-stream")
            self.assertEqual(reply.body, body)
            self.assertNotEqual(reply.headers.get("connection", "").lower(), "close")
            # http.client reconnects silently when a connection is closed: the
            # same socket, still open, proves that every call went on it.
            self.assertIs(conn.sock, sock)
            self.assertEqual(conn.sock.getsockname(), local)
        # Liveness only (Nagle and delayed ACKs would cost ~40 ms a call, 2 s
        # in all): the time of a loaded machine proves nothing either way.
        self.assertLess(time.monotonic() - began, 60.0)

    def test_accepted_connections_get_tcp_nodelay(self) -> None:
        # Without TCP_NODELAY, Nagle and delayed ACKs cost ~40 ms a small call.
        with socket.create_server(("127.0.0.1", 0)) as listener, \
                socket.create_connection(listener.getsockname()[:2]):
            accepted, _ = TcpServer.get_request(SimpleNamespace(socket=listener))  # type: ignore[arg-type]
            with accepted:
                self.assertNotEqual(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), 0)

    def test_a_port_in_use_exits_3(self) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            plugin = PluginProcess(self, transport="tcp", address=f"127.0.0.1:{port}", expect_handshake=False)
            self.assertEqual(plugin.wait(10), 3)
            self.assertEqual(plugin.proc.stdout.read(), b"")

    def test_shutdown_over_tcp_exits_0(self) -> None:
        plugin = PluginProcess(self, transport="tcp")
        self.assertEqual(plugin.shutdown().status, 202)
        self.assertEqual(plugin.wait(5), 0)


if __name__ == "__main__":
    unittest.main()
