"""A kept-alive connection that carried an authorised call (the manager's):
its usual calls are served by the fast paths (server._serve_manager_call for
the manager's own spelling, _serve_usual_call for any other) with two system
calls each, and every other request on it still gets the general path's
answer (docs/protocol.md 10.7), with the same checks in the same order."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import unittest

from plugvisor_sdk import server as S
from plugvisor_sdk.config import parse_launch_config
from plugvisor_sdk.lifecycle import Admission
from plugvisor_sdk.plugin import Plugin

from support import TOKEN, PluginProcess, raw_exchange


def call(path: str = "/v1/dataProcessor/echo/processData", body: bytes = b"hello", token: str = TOKEN,
         extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n"
            f"X-Plugvisor-Deadline-Ms: 30000\r\nContent-Type: application/octet-stream\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


class ProvenConnectionTest(unittest.TestCase):
    def setUp(self) -> None:
        self.plugin = PluginProcess(self)
        self.sock = self.plugin.raw_socket()
        first = raw_exchange(self.sock, call())  # proves the connection
        self.assertEqual((first.status, first.body), (200, b"hello"))

    def exchange(self, request: bytes) -> tuple[int, str]:
        reply = raw_exchange(self.sock, request)
        return reply.status, reply.error_code if reply.status >= 400 else reply.body.decode()

    def test_usual_calls_and_every_departure_from_them_are_answered_as_by_the_general_path(self) -> None:
        cases = [
            (call(body=b"x" * 70000), (200, "x" * 70000)),  # the body comes after the first read
            (call(body=b""), (200, "")),
            (call(token="0" * 64), (401, "unauthorized")),
            (call(path="/v1/dataProcessor/nope/processData"), (404, "not_found")),
            (call(path="/v1/dataProcessor/echo/nope"), (404, "not_found")),
            (call(path="/v1/dataProcessor/echo/processData?x=1"), (200, "hello")),
            (call(extra="X-Plugvisor-Deadline-Ms: 5\r\n"), (400, "invalid_input")),  # repeated: "30000, 5"
            (call(extra="Content-Length: 5\r\n"), (200, "hello")),  # repeated identical values
            (call(extra="Connection: keep-alive\r\n"), (200, "hello")),
            (call().replace(b"HTTP/1.1", b"HTTP/1.2", 1), (200, "hello")),  # served as 1.1
            (b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", (200, '{"status":"ok"}')),
            (call(), (200, "hello")),
            (call().replace(b"Content-Type: application/octet-stream", b"Content-Type: application/octet-stream "),
             (200, "hello")),  # a blank after a value
            (call().replace(b"Authorization: ", b"authorization: "), (200, "hello")),
            (call().replace(b"Ms: 30000", b"Ms: " + b"9" * 20), (400, "invalid_input")),  # over 19 digits
            (call().replace(b"Ms: 30000", b"Ms: " + b"9" * 19), (200, "hello")),  # a deadline centuries away
            (call(extra="x-filler :1\r\n"), (400, "invalid_input")),  # a blank before the colon: closes
        ]
        for request, expected in cases:
            with self.subTest(request=request[:120]):
                self.assertEqual(self.exchange(request), expected)

    def test_a_body_over_the_limit_is_refused_from_the_head(self) -> None:
        status, code = self.exchange(call(body=b"x" * 100).replace(b"Content-Length: 100", b"Content-Length: " +
                                                                   str(1 << 40).encode()))
        self.assertEqual((status, code), (413, "too_large"))

    def test_a_body_shorter_than_what_came_leaves_the_rest_for_the_next_head(self) -> None:
        self.assertEqual(self.exchange(call().replace(b"Content-Length: 5", b"Content-Length: 4")), (200, "hell"))
        # "o" came with it: the next head is "oPOST ...", an unknown endpoint.
        self.assertEqual(self.exchange(call()), (404, "not_found"))

    def test_requests_sent_together_are_answered_in_order(self) -> None:
        self.sock.sendall(call(body=b"one") + call(body=b"two"))
        self.sock.settimeout(10)
        replies = b""
        while replies.count(b"HTTP/1.1 200") < 2 or not replies.endswith(b"two"):
            data = self.sock.recv(65536)
            self.assertTrue(data, replies)
            replies += data
        self.assertEqual(replies.count(b"HTTP/1.1 200 OK"), 2)
        self.assertLess(replies.index(b"one"), replies.index(b"two"))

    def test_a_head_split_across_reads_is_read_whole(self) -> None:
        request = call()
        self.sock.sendall(request[:40])
        reply = raw_exchange(self.sock, request[40:])
        self.assertEqual((reply.status, reply.body), (200, b"hello"))


class InProcessConnection:
    """A RequestHandler on one end of a socketpair, in a thread of this
    process, serving the echo plugin; ``paths`` counts the general paths'
    methods it entered."""

    def __init__(self, test: unittest.TestCase) -> None:
        plugin = Plugin(name="in-process", version="1.0.0")
        plugin.data_processor("echo")(lambda data: data)
        launch = parse_launch_config(json.dumps({"protocolVersion": 1, "id": "k", "type": "unix",
                                                 "address": "/nonexistent/k.sock", "token": TOKEN}).encode())
        types = {f"{e.contract}/{e.type}": e.build(launch.config) for e in plugin._types.values()}
        service = S.Service(launch.config, launch.token, launch.max_body_bytes, types, Admission(lambda _: None))
        self.sock, theirs = socket.socketpair()
        test.addCleanup(self.sock.close)
        state = S._ConnectionState(threading.Lock())

        class Server:
            pass

        fake = Server()
        fake.service = service  # type: ignore[attr-defined]
        fake.connection_state = lambda _request: state  # type: ignore[attr-defined]
        self.served: list[S.RequestHandler] = []
        self.paths: dict[str, int] = {"_serve_usual_call": 0, "_head_lines": 0}
        outer = self

        class Handler(S.RequestHandler):
            def setup(self) -> None:
                super().setup()
                outer.served.append(self)

            def _serve_usual_call(self) -> bool:
                outer.paths["_serve_usual_call"] += 1
                return super()._serve_usual_call()

            def _head_lines(self, fresh: bool = True) -> list[bytes] | None:
                outer.paths["_head_lines"] += 1
                return super()._head_lines(fresh)

        self.thread = threading.Thread(target=Handler, args=(theirs, "", fake), daemon=True)
        self.thread.start()
        self.theirs = theirs
        self.sock.settimeout(10)

    def close(self, test: unittest.TestCase) -> None:
        self.sock.shutdown(socket.SHUT_WR)
        self.thread.join(10)
        test.assertFalse(self.thread.is_alive())
        self.theirs.close()


class ManagerSpellingTest(unittest.TestCase):
    def test_the_manager_s_call_is_answered_from_one_read_without_the_general_head_parser(self) -> None:
        connection = InProcessConnection(self)
        reply = raw_exchange(connection.sock, call())  # proves the connection, by the general path
        self.assertEqual((reply.status, reply.body), (200, b"hello"))
        before = dict(connection.paths)
        for _ in range(3):
            reply = raw_exchange(connection.sock, call())
            self.assertEqual((reply.status, reply.body), (200, b"hello"))
        self.assertEqual(connection.paths, before)
        # Spelled otherwise (a lower-case name), the same call takes the usual path.
        reply = raw_exchange(connection.sock, call().replace(b"Host: ", b"host: "))
        self.assertEqual((reply.status, reply.body), (200, b"hello"))
        self.assertEqual(connection.paths["_serve_usual_call"], before["_serve_usual_call"] + 1)
        connection.close(self)


class ManagerBodiesTest(unittest.TestCase):
    """The manager's call whose body does not come in the first read (64 KiB
    and more) is read by the fast path up to MANAGER_CALL_BUFFER bytes in
    all; beyond that, or cut short, it is the general path's."""

    def setUp(self) -> None:
        self.connection = InProcessConnection(self)
        reply = raw_exchange(self.connection.sock, call())  # proves the connection, by the general path
        self.assertEqual(reply.status, 200)
        self.before = dict(self.connection.paths)

    def test_a_64_kib_body_is_read_whole_by_the_fast_path(self) -> None:
        body = bytes(range(256)) * 256
        for _ in range(3):
            reply = raw_exchange(self.connection.sock, call(body=body))
            self.assertEqual((reply.status, reply.body), (200, body))
        self.assertEqual(self.connection.paths, self.before)
        self.connection.close(self)

    def test_a_body_that_trickles_in_is_read_whole_by_the_fast_path(self) -> None:
        request = call(body=b"y" * 100000)
        sock = self.connection.sock
        for start in range(0, len(request) - 20000, 20000):  # the head, then the body in pieces
            sock.sendall(request[start:start + 20000])
            time.sleep(0.02)
        reply = raw_exchange(sock, request[start + 20000:])
        self.assertEqual((reply.status, reply.body), (200, b"y" * 100000))
        self.assertEqual(self.connection.paths, self.before)
        self.connection.close(self)

    def test_a_body_larger_than_the_call_buffer_is_served_by_the_general_path(self) -> None:
        body = b"z" * (S.MANAGER_CALL_BUFFER + 1)
        reply = raw_exchange(self.connection.sock, call(body=body))
        self.assertEqual((reply.status, reply.body), (200, body))
        self.assertEqual(self.connection.paths["_serve_usual_call"], self.before["_serve_usual_call"] + 1)
        # and the connection's next usual call is the fast path's again
        reply = raw_exchange(self.connection.sock, call(body=b"x" * 70000))
        self.assertEqual((reply.status, reply.body), (200, b"x" * 70000))
        self.assertEqual(self.connection.paths["_serve_usual_call"], self.before["_serve_usual_call"] + 1)
        self.connection.close(self)

    def test_a_body_cut_short_closes_the_connection_without_an_answer(self) -> None:
        request = call(body=b"x" * 70000)
        self.connection.sock.sendall(request[:-10])
        self.connection.sock.shutdown(socket.SHUT_WR)
        self.connection.thread.join(10)  # the handler is done with the connection
        self.assertFalse(self.connection.thread.is_alive())
        self.connection.theirs.close()
        self.assertEqual(self.connection.sock.recv(100), b"")  # nothing was answered

    def test_the_remembered_head_is_not_reused_for_another_token_deadline_or_length(self) -> None:
        sock = self.connection.sock
        cases = [
            (call(), (200, "hello")),
            (call(), (200, "hello")),  # the same bytes: the remembered answer
            (call(body=b"hell"), (200, "hell")),  # another length
            (call().replace(b"Ms: 30000", b"Ms: 30001"), (200, "hello")),  # another deadline
            (call().replace(b"Ms: 30000", b"Ms: " + b"9" * 20), (400, "invalid_input")),  # over 19 digits
            (call(token="f" * 64), (401, "unauthorized")),  # the remembered prefix holds the right one
            (call(), (200, "hello")),
            (call(path="/v1/dataProcessor/echo/nope"), (404, "not_found")),
            (call(), (200, "hello")),
        ]
        for request, expected in cases:
            with self.subTest(request=request[:160]):
                reply = raw_exchange(sock, request)
                got = reply.error_code if reply.status >= 400 else reply.body.decode()
                self.assertEqual((reply.status, got), expected)
        # The remembered head's first bytes, then the rest: judged on what came,
        # not on what the buffer held from the previous request.
        for part in (40, len(call()) - 7):
            for request, expected in ((call(), 200), (call(token="f" * 64), 401), (call(), 200)):
                sock.sendall(request[:part])
                time.sleep(0.05)
                reply = raw_exchange(sock, request[part:])
                self.assertEqual(reply.status, expected, (part, request))
        self.connection.close(self)


class SendAllTest(unittest.TestCase):
    def test_a_partial_sendmsg_is_continued_from_where_it_stopped(self) -> None:
        class Trickle:
            def __init__(self) -> None:
                self.out = b""

            def sendmsg(self, buffers: list[memoryview]) -> int:
                data = b"".join(bytes(b) for b in buffers)[:7]  # at most 7 bytes a call
                self.out += data
                return len(data)

        sock = Trickle()
        head, body = b"HEAD:", bytes(range(40))
        sent = sock.sendmsg([memoryview(head), memoryview(body)])  # what the first sendmsg took
        S._send_all(sock, [head, body], sent)  # type: ignore[arg-type]
        self.assertEqual(sock.out, head + body)


class KernelTimeoutsTest(unittest.TestCase):
    def test_a_served_connection_stays_blocking_with_the_kernel_s_timeouts(self) -> None:
        # A Python-level timeout (settimeout) makes every recv and send poll()
        # first and switches the descriptor's mode each time it is set: four
        # system calls a request more than the two that move the bytes.
        connection = InProcessConnection(self)
        for _ in range(2):  # the first proves the connection; the second takes the fast path
            reply = raw_exchange(connection.sock, call())
            self.assertEqual((reply.status, reply.body), (200, b"hello"))
        handler = connection.served[0]
        self.assertIsNone(handler.request.gettimeout())
        for option in (socket.SO_RCVTIMEO, socket.SO_SNDTIMEO):
            seconds, micros = struct.unpack("@ll", handler.request.getsockopt(socket.SOL_SOCKET, option, 16))
            self.assertGreater(seconds + micros / 1e6, 4.0, option)
        connection.close(self)


if __name__ == "__main__":
    unittest.main()
