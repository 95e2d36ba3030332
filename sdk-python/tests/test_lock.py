"""The socket's lock file: live owners refuse, stale ones are cleared (section 15)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import unittest

from support import TOKEN, PluginProcess, private_dir, run_plugin


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def stale_socket(path: str) -> None:
    """Leaves a socket file at ``path`` that nothing listens on, as a crashed plugin does."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(path)


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
                stale_socket(os.path.join(directory, "p.sock"))
                plugin = PluginProcess(self, address=os.path.join(directory, "p.sock"))
                self.assertEqual(plugin.process("echo", b"ok").body, b"ok")
                with open(plugin.lock_path) as f:
                    self.assertEqual(f.read(), f"{plugin.proc.pid}\n")
                plugin.close_stdin()
                self.assertEqual(plugin.wait(5), 0)
                self.assertEqual(os.listdir(directory), [])

    def test_a_file_that_is_not_a_socket_is_never_removed_and_the_launch_exits_3(self) -> None:
        # Issue 14 item 5: "address": "DIR/notes.txt" deleted the user's notes.
        for kind in ["regular file", "regular file with a stale lock", "directory", "symbolic link"]:
            with self.subTest(kind=kind):
                directory = private_dir(self)
                path = os.path.join(directory, "p.sock")
                notes = os.path.join(directory, "notes.txt")
                with open(notes, "w") as f:
                    f.write("my notes")
                if kind.startswith("regular file"):
                    os.rename(notes, path)
                elif kind == "directory":
                    os.mkdir(path)
                else:
                    os.symlink(notes, path)
                if kind.endswith("stale lock"):
                    with open(path + ".lock", "w") as f:
                        f.write(f"{dead_pid()}\n")
                result = run_plugin(["--config", self.config(directory)])
                self.assertEqual(result.returncode, 3, result.stderr)
                self.assertEqual(result.stdout, b"")
                self.assertIn(b"not a socket", result.stderr)
                self.assertIn(b"move it away or choose another address", result.stderr)
                self.assertNotIn(b"Traceback", result.stderr)
                listing = sorted(os.listdir(directory))
                self.assertNotIn("p.sock.lock", listing)  # the lock it took is given back
                if kind.startswith("regular file"):
                    with open(path) as f:
                        self.assertEqual(f.read(), "my notes")
                elif kind == "directory":
                    self.assertTrue(os.path.isdir(path))
                else:
                    self.assertTrue(os.path.islink(path))
                    with open(notes) as f:
                        self.assertEqual(f.read(), "my notes")

    def test_a_crashed_plugin_leaves_files_that_the_next_launch_clears(self) -> None:
        first = PluginProcess(self)
        first.kill()
        self.assertTrue(os.path.exists(first.lock_path))
        second = PluginProcess(self, address=first.socket_path)
        self.assertEqual(second.process("echo", b"again").body, b"again")


if __name__ == "__main__":
    unittest.main()
