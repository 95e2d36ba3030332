"""How a plugin ends: /shutdown, signals, stdin, the idle timeout, the drain (sections 13, 14)."""

from __future__ import annotations

import os
import signal
import threading
import time
import unittest
from typing import Any

from support import PluginProcess, Reply, plugin_env, private_dir, wait_until


def with_marks(test: unittest.TestCase, **env: str) -> tuple[PluginProcess, Any]:
    """A plugin whose ``slow`` calls mark their start; and a function that
    waits (up to 10 s) until one is in flight."""
    marks = private_dir(test)
    plugin = PluginProcess(test, env=plugin_env(FIXTURE_MARKS=marks, **env))
    return plugin, lambda: wait_until(lambda: os.path.exists(os.path.join(marks, "slow-started")), timeout=10)


def in_background(fn: Any) -> tuple[threading.Thread, list[Any]]:
    """Runs ``fn`` on a thread; the list receives its result (or exception)."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(fn())
        except Exception as e:  # reported by the test
            out.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


class ShutdownTest(unittest.TestCase):
    def assert_clean_exit(self, plugin: PluginProcess, code: int = 0) -> None:
        self.assertEqual(plugin.wait(10), code, plugin.stderr())
        self.assertFalse(os.path.exists(plugin.socket_path))
        self.assertFalse(os.path.exists(plugin.lock_path))
        self.assertEqual(os.listdir(plugin.dir), ["stderr.log"])

    def test_post_shutdown_answers_202_and_the_plugin_exits_0_leaving_no_files(self) -> None:
        plugin = PluginProcess(self)
        reply = plugin.shutdown()
        self.assertEqual((reply.status, reply.json()), (202, {"status": "shutting down"}))
        self.assert_clean_exit(plugin)
        self.assertIn('"msg":"shutting down: asked through /shutdown"', plugin.stderr())

    def test_shutdown_without_the_token_is_401_and_changes_nothing(self) -> None:
        plugin = PluginProcess(self)
        self.assertEqual(plugin.shutdown(token=None).status, 401)
        self.assertEqual(plugin.shutdown(token="wrong").status, 401)
        time.sleep(0.2)
        self.assertTrue(plugin.alive())
        self.assertEqual(plugin.process("echo", b"up").body, b"up")

    def test_sigterm_and_sigint_shut_down_gracefully(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            with self.subTest(signal=signum.name):
                plugin = PluginProcess(self)
                plugin.signal(signum)
                self.assert_clean_exit(plugin)
                self.assertIn(f"received {signum.name}", plugin.stderr())

    def test_end_of_stdin_shuts_down_for_both_config_forms(self) -> None:
        for inline in (False, True):
            with self.subTest(inline=inline):
                plugin = PluginProcess(self, inline=inline)
                plugin.close_stdin()
                self.assert_clean_exit(plugin)
                self.assertIn("stdin closed", plugin.stderr())

    def test_a_call_in_flight_at_sigterm_completes_and_the_socket_goes_first(self) -> None:
        plugin, in_flight = with_marks(self)
        conn = plugin.connect()
        thread, result = in_background(lambda: plugin.process("slow", b"3", conn=conn))
        self.assertTrue(in_flight())
        plugin.signal(signal.SIGTERM)
        # The socket file goes at once, while the call is still running...
        self.assertTrue(wait_until(lambda: not os.path.exists(plugin.socket_path), timeout=2))
        self.assertTrue(plugin.alive())
        self.assertTrue(os.path.exists(plugin.lock_path))
        # ...and the call is answered before the exit.
        thread.join(10)
        self.assertEqual(result[0].status, 200)
        self.assertEqual(result[0].body, b"slept 3")
        self.assert_clean_exit(plugin)

    def test_calls_after_the_shutdown_began_get_503_with_connection_close_and_are_not_run(self) -> None:
        plugin, in_flight = with_marks(self)
        early = plugin.connect()  # opened before the shutdown: the socket file will be gone
        self.assertEqual(plugin.process("echo", b"1", conn=early).status, 200)
        thread, result = in_background(lambda: plugin.process("slow", b"2"))
        self.assertTrue(in_flight())
        self.assertEqual(plugin.shutdown().status, 202)
        self.assertEqual(plugin.shutdown(conn=early).status, 202)  # a second trigger is harmless
        refused = plugin.process("pid", b"", conn=early)
        self.assertEqual((refused.status, refused.error_code), (503, "unavailable"))
        self.assertEqual(refused.headers["connection"], "close")
        self.assertIn("not run", refused.json()["error"]["message"])
        thread.join(5)
        self.assertEqual(result[0].status, 200)
        self.assert_clean_exit(plugin)

    def test_calls_still_running_after_the_grace_are_abandoned_with_exit_1(self) -> None:
        plugin, in_flight = with_marks(self, FIXTURE_DRAIN_GRACE="0.5")
        thread, result = in_background(lambda: plugin.process("slow", b"5"))
        self.assertTrue(in_flight())
        began = time.monotonic()
        plugin.signal(signal.SIGTERM)
        self.assertEqual(plugin.wait(5), 1)
        self.assertLess(time.monotonic() - began, 2.0)
        self.assertIn("still running after the 0.5s grace", plugin.stderr())
        thread.join(5)
        self.assertIsInstance(result[0], Exception)  # the connection was closed without an answer
        self.assertFalse(os.path.exists(plugin.lock_path))


class IdleTest(unittest.TestCase):
    def test_an_idle_plugin_exits_0_on_time_and_health_checks_do_not_delay_it(self) -> None:
        plugin = PluginProcess(self, idle="400ms")
        while plugin.alive() and time.monotonic() - plugin.ready < 3:
            try:
                self.assertEqual(plugin.healthz().status, 200)
            except OSError:
                pass  # it is going
            time.sleep(0.03)
        self.assertEqual(plugin.wait(5), 0)
        took = time.monotonic() - plugin.ready
        # plugin.ready is when this test read the handshake, after the plugin's
        # idle clock started: a slow read shortens `took`.
        self.assertGreaterEqual(took, 0.2)
        self.assertLess(took, 2.0)  # polled until 3 s: health checks did not keep it up
        self.assertIn("shutting down: idle for 400ms", plugin.stderr())
        self.assertFalse(os.path.exists(plugin.socket_path))
        self.assertFalse(os.path.exists(plugin.lock_path))

    def test_calls_count_as_activity_at_their_start_and_end(self) -> None:
        # The call must be admitted within the idle timeout of the handshake.
        plugin = PluginProcess(self, idle="1s")
        time.sleep(0.3)
        began = time.monotonic()
        self.assertEqual(plugin.process("slow", b"2").status, 200)  # longer than the timeout itself
        ended = time.monotonic()
        self.assertTrue(plugin.alive())  # not while the call was in flight
        self.assertEqual(plugin.wait(5), 0)
        gone = time.monotonic()
        self.assertGreaterEqual(gone - ended, 0.8)
        self.assertGreaterEqual(gone - began, 2.8)

    def test_refused_requests_are_not_activity(self) -> None:
        plugin = PluginProcess(self, idle="400ms")
        while plugin.alive() and time.monotonic() - plugin.ready < 3:
            try:
                plugin.process("echo", b"x", token="wrong")
            except OSError:
                pass
            time.sleep(0.03)
        self.assertEqual(plugin.wait(5), 0)
        self.assertLess(time.monotonic() - plugin.ready, 2.0)

    def test_an_idle_timeout_of_zero_never_idles_out(self) -> None:
        plugin = PluginProcess(self, idle="0")
        other = PluginProcess(self, idle=None)  # absent: the same
        time.sleep(0.6)
        self.assertTrue(plugin.alive())
        self.assertTrue(other.alive())


if __name__ == "__main__":
    unittest.main()
