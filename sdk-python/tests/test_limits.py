"""What a client without the token can hold (docs/protocol.md 10.5 and 12.1;
issue 14 item 9): bounded memory per unfinished head, a thread per served
connection up to the cap and no more, a deadline for the whole head, and
numbers bounded in digits before int(). The table of malformed requests that
both SDKs must answer alike is tests/integration/sdk_parity_test.cpp."""

from __future__ import annotations

import socket
import time
import unittest

from support import TOKEN, PluginProcess, plugin_env, raw_exchange


def status_of(pid: int, field: str) -> int:
    """A number from /proc/PID/status (VmRSS in kB, Threads)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def open_tcp(plugin: PluginProcess) -> socket.socket:
    host, port = plugin.handshake["address"].rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=10)


class LimitsTest(unittest.TestCase):
    def test_fifty_unfinished_heads_of_64_kib_lines_do_not_grow_the_plugin(self) -> None:
        # Before: 50 heads of 99 x 64 KiB header lines, never finished, took
        # the plugin from 19 MiB to 596 MiB and were held with no timeout.
        plugin = PluginProcess(self, transport="tcp")
        pid = plugin.proc.pid
        before = status_of(pid, "VmRSS")
        line = b"X-Filler: " + b"a" * (64 * 1024 - 12) + b"\r\n"
        socks = []
        for _ in range(50):
            sock = open_tcp(plugin)
            sock.sendall(b"POST /v1/dataProcessor/echo/processData HTTP/1.1\r\n")
            try:
                for _ in range(99):
                    sock.sendall(line)
            except OSError:
                pass  # the plugin answered 431 and closed: the rest is refused
            socks.append(sock)
        answers = []
        deadline = time.monotonic() + 15  # all of them; a liveness bound
        for sock in socks:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                answers.append(sock.recv(4096).split(b" ", 2)[1])
            except TimeoutError:
                answers.append(b"none")
            except (OSError, IndexError):
                answers.append(b"reset")
            sock.close()
        self.assertTrue(all(a in (b"431", b"reset") for a in answers), answers)
        self.assertIn(b"431", answers)
        grown_mib = (status_of(pid, "VmRSS") - before) / 1024
        self.assertLess(grown_mib, 64, f"the plugin grew by {grown_mib:.0f} MiB")
        self.assertEqual(plugin.healthz().status, 200)

    def test_idle_connections_beyond_the_cap_start_no_thread(self) -> None:
        # Before: 3,000 idle connections made 3,002 threads.
        plugin = PluginProcess(self, transport="tcp", env=plugin_env(FIXTURE_MAX_CONNECTIONS="32"))
        pid = plugin.proc.pid
        socks = [open_tcp(plugin) for _ in range(300)]
        time.sleep(0.5)  # let the accept loop take what it will
        threads = status_of(pid, "Threads")
        self.assertLessEqual(threads, 32 + 8, f"{threads} threads for 300 idle connections")
        # A health check still gets in: an idle unproven connection gives way.
        self.assertEqual(plugin.healthz().status, 200)
        for sock in socks:
            sock.close()

    def test_an_idle_connection_is_closed_quietly_at_the_head_deadline(self) -> None:
        plugin = PluginProcess(self, transport="tcp")
        sock = open_tcp(plugin)
        sock.settimeout(15)  # the deadline is 5 s; 15 s is a liveness bound
        self.assertEqual(sock.recv(4096), b"")  # closed, nothing sent
        sock.close()

    def test_numbers_of_thousands_of_digits_get_400_and_no_traceback(self) -> None:
        plugin = PluginProcess(self)
        for header in ("Content-Length", "X-Plugvisor-Deadline-Ms"):
            with self.subTest(header=header):
                extra = "" if header == "Content-Length" else "Content-Length: 1\r\n"
                request = (f"POST /v1/dataProcessor/echo/processData HTTP/1.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                           f"{header}: {'7' * 5000}\r\n{extra}\r\n").encode() + (b"x" if extra else b"")
                reply = raw_exchange(plugin.raw_socket(), request)
                self.assertEqual((reply.status, reply.error_code), (400, "invalid_input"))
        self.assertNotIn("Traceback", plugin.stderr())
        self.assertNotIn("ValueError", plugin.stderr())


if __name__ == "__main__":
    unittest.main()
