"""The socket's lock file: live owners refuse, stale ones are cleared (section 15)."""

from __future__ import annotations

import json
import os
import subprocess
import unittest

from support import TOKEN, PluginProcess, private_dir, run_plugin


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


class LockTest(unittest.TestCase):
    def config(self, directory: str) -> str:
        return json.dumps({"protocolVersion": 1, "id": "p", "type": "unix",
                           "address": os.path.join(directory, "p.sock"), "token": TOKEN, "idleTimeout": "0"})

    def test_a_lock_held_by_a_live_process_exits_3_and_touches_neither_file(self) -> None:
        directory = private_dir(self)
        lock = os.path.join(directory, "p.sock.lock")
        sock = os.path.join(directory, "p.sock")
        with open(lock, "w") as f:
            f.write(f"{os.getpid()}\n")  # this test process: alive
        with open(sock, "w") as f:
            f.write("not really a socket")
        result = run_plugin(["--config", self.config(directory)])
        self.assertEqual(result.returncode, 3, result.stderr)
        self.assertEqual(result.stdout, b"")
        self.assertIn(f"in use by live process {os.getpid()}".encode(), result.stderr)
        with open(lock) as f:
            self.assertEqual(f.read(), f"{os.getpid()}\n")
        with open(sock) as f:
            self.assertEqual(f.read(), "not really a socket")
        self.assertEqual(sorted(os.listdir(directory)), ["p.sock", "p.sock.lock"])  # no temporary file left

    def test_a_second_plugin_on_the_same_socket_exits_3_and_the_first_keeps_serving(self) -> None:
        first = PluginProcess(self)
        result = run_plugin(["--config", json.dumps(first.config)])
        self.assertEqual(result.returncode, 3)
        self.assertEqual(first.process("echo", b"mine").body, b"mine")
        with open(first.lock_path) as f:
            self.assertEqual(f.read(), f"{first.proc.pid}\n")

    def test_stale_files_are_removed_and_the_plugin_starts(self) -> None:
        for content in [f"{dead_pid()}\n", "", "garbage", "-5\n"]:
            with self.subTest(lock=content):
                directory = private_dir(self)
                with open(os.path.join(directory, "p.sock.lock"), "w") as f:
                    f.write(content)
                with open(os.path.join(directory, "p.sock"), "w") as f:
                    f.write("stale")
                plugin = PluginProcess(self, address=os.path.join(directory, "p.sock"))
                self.assertEqual(plugin.process("echo", b"ok").body, b"ok")
                with open(plugin.lock_path) as f:
                    self.assertEqual(f.read(), f"{plugin.proc.pid}\n")
                plugin.close_stdin()
                self.assertEqual(plugin.wait(5), 0)
                self.assertEqual(os.listdir(directory), [])

    def test_a_crashed_plugin_leaves_files_that_the_next_launch_clears(self) -> None:
        first = PluginProcess(self)
        first.kill()
        self.assertTrue(os.path.exists(first.lock_path))
        second = PluginProcess(self, address=first.socket_path)
        self.assertEqual(second.process("echo", b"again").body, b"again")


if __name__ == "__main__":
    unittest.main()
