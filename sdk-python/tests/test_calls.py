"""Calls to a running plugin: health, auth, dispatch, bodies, errors, framing (sections 8-12)."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
import time
import unittest

from support import TOKEN, ClassScope, PluginProcess, exchange, raw_exchange, read_response


class CallsTest(unittest.TestCase):
    """One plugin process serves every test of this class."""

    plugin: PluginProcess

    @classmethod
    def setUpClass(cls) -> None:
        cls.plugin = PluginProcess(ClassScope(cls), max_body=1024,  # type: ignore[arg-type]
                                   config_types=[{"type": "fixture.settings", "data": {"prefix": "n="}},
                                                 {"type": "other.settings", "data": 1}])

    def tearDown(self) -> None:
        self.assertTrue(self.plugin.alive(), f"the plugin died: {self.plugin.stderr()}")

    # -- health and authentication ---------------------------------------------

    def test_healthz_answers_without_a_token(self) -> None:
        reply = self.plugin.healthz()
        self.assertEqual(reply.status, 200)
        self.assertEqual(reply.json(), {"status": "ok"})
        self.assertEqual(reply.headers["content-type"], "application/json")

    def test_a_missing_or_wrong_token_gets_401_and_runs_nothing(self) -> None:
        for token in [None, "wrong", TOKEN + "x", TOKEN[:-1], ""]:
            with self.subTest(token=token):
                reply = self.plugin.process("slow", b"5", token=token)  # would sleep 5 s if run
                self.assertEqual(reply.status, 401)
                self.assertEqual(reply.error_code, "unauthorized")
        reply = self.plugin.process("echo", b"x", headers={"Authorization": f"bearer {TOKEN}"})
        self.assertEqual(reply.status, 401)  # the scheme is matched exactly

    def test_the_socket_file_is_private(self) -> None:
        self.assertEqual(stat.S_IMODE(os.stat(self.plugin.socket_path).st_mode), 0o600)
        self.assertTrue(stat.S_ISSOCK(os.stat(self.plugin.socket_path).st_mode))

    def test_the_lock_file_holds_the_pid(self) -> None:
        with open(self.plugin.lock_path) as f:
            self.assertEqual(f.read(), f"{self.plugin.proc.pid}\n")
        self.assertEqual(stat.S_IMODE(os.stat(self.plugin.lock_path).st_mode), 0o600)

    # -- dispatch -------------------------------------------------------------

    def test_bytes_travel_raw_both_ways(self) -> None:
        data = bytes(range(256)) * 3
        reply = self.plugin.process("echo", data)
        self.assertEqual(reply.status, 200)
        self.assertEqual(reply.body, data)
        self.assertEqual(reply.headers["content-type"], "application/octet-stream")
        self.assertEqual(self.plugin.process("echo", b"").body, b"")

    def test_the_content_type_does_not_change_how_a_v1_method_decodes(self) -> None:
        for content_type in ["application/json", "text/plain", ""]:
            with self.subTest(content_type=content_type):
                self.assertEqual(self.plugin.process("upper", b"abc", content_type=content_type).body, b"ABC")

    def test_methods_without_input_ignore_the_body(self) -> None:
        for body in [b"{}", b"", b"not json at all"]:
            with self.subTest(body=body):
                ping = self.plugin.call("dataProcessor", "echo", "ping", body, content_type="application/json")
                self.assertEqual((ping.status, ping.body), (200, b"{}"))
                self.assertEqual(ping.headers["content-type"], "application/json")
        formats = self.plugin.call("dataProcessor", "upper", "supportedFormats")
        self.assertEqual(formats.json(), ["text/plain"])
        self.assertEqual(formats.headers["content-type"], "application/json")

    def test_a_class_based_type_reads_its_config_type(self) -> None:
        self.assertEqual(self.plugin.process("counted", b"abcd").body, b"n=4")
        self.assertEqual(self.plugin.call("dataProcessor", "counted", "supportedFormats").json(), ["text/plain"])

    def test_handlers_see_the_config_types_they_declared(self) -> None:
        seen = self.plugin.process("config", b"").json()
        # other.settings was not declared, but it was sent: the SDK passes on what it gets.
        self.assertEqual(seen, {"id": "fixture", "settings": {"prefix": "n="}, "other": 1})

    def test_a_declared_json_contract_takes_and_answers_json(self) -> None:
        reply = self.plugin.call("calculator", "basic", "add", b"[1, 2, 3.5]", content_type="application/json")
        self.assertEqual((reply.status, reply.json()), (200, 6.5))
        reply = self.plugin.call("calculator", "basic", "reset", b"")
        self.assertEqual((reply.status, reply.body), (200, b"{}"))
        reply = self.plugin.call("calculator", "basic", "ping", b"")
        self.assertEqual((reply.status, reply.body), (200, b"{}"))
        reply = self.plugin.call("calculator", "basic", "add", b'"x"', content_type="application/json")
        self.assertEqual((reply.status, reply.error_code), (400, "invalid_input"))

    def test_an_undeclared_contract_follows_the_content_type(self) -> None:
        reply = self.plugin.call("mirror", "any", "reflect", b'{"a": [1]}', content_type="application/json")
        self.assertEqual((reply.json(), reply.headers["content-type"]), ({"a": [1]}, "application/json"))
        reply = self.plugin.call("mirror", "any", "reflect", b"\x00\xff", content_type="application/octet-stream")
        self.assertEqual((reply.body, reply.headers["content-type"]), (b"\x00\xff", "application/octet-stream"))

    # -- errors ---------------------------------------------------------------

    def test_unknown_types_methods_and_endpoints_are_404(self) -> None:
        cases = [("POST", "/v1/dataProcessor/nope/processData", "no dataProcessor type 'nope'"),
                 ("POST", "/v1/otherContract/echo/processData", "no otherContract type 'echo'"),
                 ("POST", "/v1/dataProcessor/echo/nope", "no method 'nope'"),
                 ("POST", "/v1/dataProcessor/echo", "no endpoint"),
                 ("POST", "/v1/dataProcessor/echo/processData/extra", "no endpoint"),
                 ("GET", "/v1/dataProcessor/echo/processData", "no endpoint"),
                 ("POST", "/healthz", "no endpoint"),
                 ("GET", "/shutdown", "no endpoint"),
                 ("DELETE", "/", "no endpoint"),
                 ("GET", "/metrics", "no endpoint")]
        conn = self.plugin.connect()
        for method, path, fragment in cases:
            with self.subTest(method=method, path=path):
                reply = exchange(conn, method, path, b"{}", {"Authorization": f"Bearer {TOKEN}"})
                self.assertEqual((reply.status, reply.error_code), (404, "not_found"))
                self.assertIn(fragment, reply.json()["error"]["message"])

    def test_a_query_string_is_ignored(self) -> None:
        reply = exchange(self.plugin.connect(), "POST", "/v1/dataProcessor/echo/processData?x=1", b"q",
                         {"Authorization": f"Bearer {TOKEN}"})
        self.assertEqual(reply.body, b"q")

    def test_a_handler_that_raises_answers_500_and_the_plugin_keeps_serving(self) -> None:
        conn = self.plugin.connect()
        for _ in range(3):
            reply = self.plugin.process("fail", b"x", conn=conn)
            self.assertEqual((reply.status, reply.error_code), (500, "internal"))
            self.assertIn("the fixture failed on purpose", reply.json()["error"]["message"])
            self.assertEqual(self.plugin.process("echo", b"still", conn=conn).body, b"still")
        self.assertIn("RuntimeError", self.plugin.stderr())

    def test_a_handler_error_answers_its_code_but_only_the_handler_codes(self) -> None:
        expected = {"invalid_input": (400, "invalid_input"), "not_found": (404, "not_found"),
                    "too_large": (413, "too_large"), "internal": (500, "internal"),
                    "unavailable": (500, "internal"), "unauthorized": (500, "internal"),
                    "timeout": (500, "internal"), "crashed": (500, "internal")}
        for code, (status, answered) in expected.items():
            with self.subTest(code=code):
                reply = self.plugin.process("raise-code", code.encode())
                self.assertEqual((reply.status, reply.error_code), (status, answered))
                self.assertIn(f"raised {code} on purpose", reply.json()["error"]["message"])
                if answered != code:
                    self.assertIn(f"({code})", reply.json()["error"]["message"])

    def test_a_result_of_the_wrong_kind_is_500(self) -> None:
        reply = self.plugin.process("bad-return", b"")
        self.assertEqual((reply.status, reply.error_code), (500, "internal"))
        self.assertIn("must return bytes", reply.json()["error"]["message"])

    def test_input_that_is_not_json_is_400(self) -> None:
        for body in [b"{", b"", b"\xff\xfe\x00"]:
            with self.subTest(body=body):
                reply = self.plugin.call("calculator", "basic", "add", body, content_type="application/json")
                self.assertEqual((reply.status, reply.error_code), (400, "invalid_input"))
                self.assertIn("not JSON", reply.json()["error"]["message"])

    def test_input_nested_deeper_than_the_limit_is_400_and_the_limit_is_named(self) -> None:
        deep = b"[" * 129 + b"1" + b"]" * 129  # one deeper than the limit: refused
        reply = self.plugin.call("calculator", "basic", "add", deep, content_type="application/json")
        self.assertEqual((reply.status, reply.error_code), (400, "invalid_input"))
        self.assertIn("nested deeper than 128 levels", reply.json()["error"]["message"])
        at_limit = b"[" * 127 + b"[1]" + b"]" * 127  # 128 deep: parsed (then refused by the handler)
        reply = self.plugin.call("calculator", "basic", "add", at_limit, content_type="application/json")
        self.assertNotIn(b"nested deeper", reply.body)

    # -- deadline -------------------------------------------------------------

    def test_handlers_see_the_deadline(self) -> None:
        self.assertEqual(self.plugin.process("deadline", b"").body, b"none")
        left = int(self.plugin.process("deadline", b"", headers={"X-Plugvisor-Deadline-Ms": "5000"}).body)
        self.assertTrue(4000 < left <= 5000, left)

    def test_a_deadline_too_large_for_the_clock_is_never(self) -> None:
        left = int(self.plugin.process("deadline", b"", headers={"X-Plugvisor-Deadline-Ms": "9223372036854775807"}).body)
        self.assertGreater(left, 200 * 365 * 24 * 3600 * 1000)

    def test_a_deadline_of_5000_digits_is_400_not_a_traceback(self) -> None:
        # CPython refuses int() of over 4300 digits: the length is checked first.
        for value in ["9" * 5000, "9" * 20]:
            with self.subTest(digits=len(value)):
                reply = self.plugin.process("echo", b"x", headers={"X-Plugvisor-Deadline-Ms": value})
                self.assertEqual((reply.status, reply.error_code), (400, "invalid_input"))
        self.assertEqual(self.plugin.process("echo", b"y").body, b"y")  # and it keeps serving

    def test_a_deadline_that_is_not_a_whole_number_is_400(self) -> None:
        for value in ["soon", "-5", "1.5", ""]:
            with self.subTest(value=value):
                reply = self.plugin.process("echo", b"x", headers={"X-Plugvisor-Deadline-Ms": value})
                self.assertEqual((reply.status, reply.error_code), (400, "invalid_input"))

    # -- framing and size -----------------------------------------------------

    def test_a_body_over_the_limit_is_413_without_running_and_the_connection_stays_usable(self) -> None:
        conn = self.plugin.connect()
        reply = self.plugin.process("slow", b"1" * 1025, conn=conn)
        self.assertEqual((reply.status, reply.error_code), (413, "too_large"))
        self.assertIn("1024", reply.json()["error"]["message"])
        self.assertEqual(self.plugin.process("echo", b"y" * 1024, conn=conn).body, b"y" * 1024)

    def test_a_large_body_over_the_limit_gets_413_even_if_not_read(self) -> None:
        sock = self.plugin.raw_socket()
        head = (f"POST /v1/dataProcessor/echo/processData HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                f"Content-Length: {8 << 20}\r\n\r\n").encode()
        reply = raw_exchange(sock, head)  # the body is never sent
        self.assertEqual((reply.status, reply.error_code), (413, "too_large"))
        self.assertEqual(reply.headers.get("connection"), "close")

    def test_a_content_length_of_5000_digits_gets_400_not_a_traceback(self) -> None:
        # CPython refuses int() of over 4300 digits: the length (at most 18
        # digits, the codec's rule) is checked first.
        for digits in (19, 5000):
            with self.subTest(digits=digits):
                sock = self.plugin.raw_socket()
                head = (f"POST /v1/dataProcessor/echo/processData HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                        f"Content-Length: {'9' * digits}\r\n\r\n").encode()
                reply = raw_exchange(sock, head)
                self.assertEqual((reply.status, reply.error_code), (400, "invalid_input"))
        self.assertNotIn("Traceback", self.plugin.stderr())

    def test_a_post_without_content_length_or_chunked_has_an_empty_body_and_the_connection_stays(self) -> None:
        # RFC 9112 §6.3: neither header means a zero-length body (curl -X POST sends that).
        sock = self.plugin.raw_socket()
        request = (f"POST /v1/dataProcessor/echo/processData HTTP/1.1\r\nHost: localhost\r\n"
                   f"Authorization: Bearer {TOKEN}\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
        stream = sock.makefile("rb")
        sock.sendall(request)
        reply = read_response(stream)
        self.assertEqual((reply.status, reply.body), (200, b""))
        self.assertNotEqual(reply.headers.get("connection"), "close")
        sock.sendall(request)  # and the connection goes on
        self.assertEqual(read_response(stream).status, 200)

    def test_a_chunked_body_is_accepted(self) -> None:
        sock = self.plugin.raw_socket()
        request = (f"POST /v1/dataProcessor/echo/processData HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n").encode()
        stream = sock.makefile("rb")
        sock.sendall(request)
        reply = read_response(stream)
        self.assertEqual((reply.status, reply.body), (200, b"hello world"))
        sock.sendall(request)  # and the connection goes on
        self.assertEqual(read_response(stream).body, b"hello world")

    def test_expect_100_continue_is_answered_before_the_body_is_sent(self) -> None:
        sock = self.plugin.raw_socket()
        stream = sock.makefile("rb")
        sock.sendall((f"POST /v1/dataProcessor/echo/processData HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                      "Content-Length: 4\r\nExpect: 100-continue\r\n\r\n").encode())
        interim = read_response(stream, read_body=False)
        self.assertEqual(interim.status, 100)
        sock.sendall(b"body")
        self.assertEqual(read_response(stream).body, b"body")

    def test_a_malformed_request_gets_400_json_and_the_plugin_lives_on(self) -> None:
        for request, status in [(b"NONSENSE\r\n\r\n", 400), (b"GET / HTTP/2.0\r\n\r\n", 505),
                                (b"GET /healthz HTTP/1.1\r\nbad header\r\n\r\n", 400),
                                (b"POST /v1/a/b/c HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400)]:
            with self.subTest(request=request):
                reply = raw_exchange(self.plugin.raw_socket(), request)
                self.assertEqual((reply.status, reply.error_code), (status, "invalid_input"))
        self.assertEqual(self.plugin.healthz().status, 200)

    # -- connections ----------------------------------------------------------

    def test_one_connection_serves_many_calls(self) -> None:
        conn = self.plugin.connect()
        conn.connect()
        first_socket = conn.sock
        for i in range(200):
            self.assertEqual(self.plugin.process("echo", str(i).encode(), conn=conn).body, str(i).encode())
        self.assertIs(conn.sock, first_socket)  # never reconnected

    def test_an_idle_connection_is_kept_open(self) -> None:
        conn = self.plugin.connect()
        self.plugin.process("echo", b"a", conn=conn)
        first_socket = conn.sock
        time.sleep(0.6)
        self.assertEqual(self.plugin.process("echo", b"b", conn=conn).body, b"b")
        self.assertIs(conn.sock, first_socket)

    def test_connections_are_served_concurrently(self) -> None:
        # Four calls of 2 s each, at once: about 2 s in all, not 8 s.
        results: list[bytes] = []
        began = time.monotonic()
        threads = [threading.Thread(target=lambda: results.append(self.plugin.process("slow", b"2").body))
                   for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual(results, [b"slept 2"] * 4)
        self.assertLess(time.monotonic() - began, 6.0)  # one after another: 8 s

    def test_a_burst_of_connects_is_accepted(self) -> None:
        sockets = []
        for _ in range(100):  # connect all before any request: the backlog holds them
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(10)
            sock.connect(self.plugin.socket_path)
            self.addCleanup(sock.close)
            sockets.append(sock)
        for sock in sockets:
            reply = raw_exchange(sock, b"GET /healthz HTTP/1.1\r\n\r\n")
            self.assertEqual(reply.status, 200)

    def test_a_client_that_leaves_mid_call_does_not_hurt_the_plugin(self) -> None:
        sock = self.plugin.raw_socket()
        sock.sendall((f"POST /v1/dataProcessor/slow/processData HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                      "Content-Length: 3\r\n\r\n0.3").encode())
        sock.close()
        sock2 = self.plugin.raw_socket()  # and one that leaves mid-body
        sock2.sendall((f"POST /v1/dataProcessor/echo/processData HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                       "Content-Length: 100\r\n\r\nonly part").encode())
        sock2.close()
        time.sleep(0.5)
        self.assertEqual(self.plugin.process("echo", b"fine").body, b"fine")


if __name__ == "__main__":
    unittest.main()
