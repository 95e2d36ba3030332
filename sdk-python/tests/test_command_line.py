"""The command line of a plugin: capabilities, help, usage and configuration errors (sections 4, 5, 15, 16)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unittest

from support import FIXTURE, TOKEN, PluginProcess, plugin_env, private_dir, run_plugin


class CapabilitiesTest(unittest.TestCase):
    def test_capabilities_print_one_json_object_with_a_minimal_environment_and_no_stdin(self) -> None:
        result = subprocess.run([sys.executable, FIXTURE, "capabilities"], stdin=subprocess.DEVNULL,
                                capture_output=True, timeout=10, cwd="/",
                                env={"PATH": "/usr/local/bin:/usr/bin:/bin", "PLUGVISOR_PROTOCOL": "1"})
        self.assertEqual(result.returncode, 0, result.stderr)
        doc = json.loads(result.stdout)
        self.assertEqual(doc["protocolVersion"], 1)
        self.assertEqual(doc["name"], "fixture")
        self.assertEqual(doc["version"], "0.0.1")
        self.assertEqual(doc["configTypes"], ["fixture.settings"])
        types = [entry["type"] for entry in doc["types"]["dataProcessor"]]
        self.assertIn("echo", types)
        self.assertEqual(doc["types"]["dataProcessor"][0],
                         {"type": "echo", "description": "answers its input", "jsonSchema": {"type": "object"}})
        self.assertEqual(doc["types"]["calculator"], [{"type": "basic", "description": "adds numbers"}])
        self.assertEqual(result.stdout.count(b"\n"), 1)


class UsageTest(unittest.TestCase):
    def test_no_arguments_without_the_protocol_variable_print_help_and_exit_2_without_reading_stdin(self) -> None:
        env = plugin_env()
        env.pop("PLUGVISOR_PROTOCOL")
        # stdin is a pipe that never ends: reading it would hang until the timeout.
        proc = subprocess.Popen([sys.executable, FIXTURE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env)
        self.addCleanup(proc.stdin.close)
        with proc.stdout, proc.stderr:
            out, err = proc.stdout.read(), proc.stderr.read()  # end of file: the plugin has exited
        self.assertEqual(proc.wait(10), 2)
        self.assertEqual(out, b"")
        self.assertIn(b"plugvisor plugin", err)
        self.assertIn(b"--config", err)

    def test_help_exits_0(self) -> None:
        result = run_plugin(["--help"])
        self.assertEqual(result.returncode, 0)
        self.assertIn(b"capabilities", result.stderr)
        self.assertEqual(result.stdout, b"")

    def test_unexpected_arguments_exit_2(self) -> None:
        for args in [["serve"], ["--config"], ["--config", "-", "extra"], ["capabilities", "x"], []]:
            with self.subTest(args=args):
                result = run_plugin(args)
                self.assertEqual(result.returncode, 2)
                self.assertEqual(result.stdout, b"")
                self.assertNotEqual(result.stderr, b"")


def good(**changes: object) -> str:
    """A valid configuration (its socket directory does not exist), with ``changes``."""
    doc = {"protocolVersion": 1, "id": "p", "type": "unix", "address": "/nonexistent/p.sock", "token": TOKEN}
    doc.update(changes)
    return json.dumps(doc)


class ConfigurationErrorTest(unittest.TestCase):

    def test_invalid_configurations_exit_2_with_nothing_on_stdout(self) -> None:
        for text in ["not json", good(protocolVersion=2), good(idleTimeout="10"), good(token="")]:
            with self.subTest(config=text):
                for args, stdin in [(["--config", text], b""), (["--config", "-"], text.encode() + b"\n")]:
                    result = run_plugin(args, stdin=stdin)
                    self.assertEqual(result.returncode, 2, result.stderr)
                    self.assertEqual(result.stdout, b"")
                    message = json.loads(result.stderr.splitlines()[-1])
                    self.assertEqual(message["level"], "error")
                    self.assertIn("invalid --config", message["msg"])

    def test_end_of_input_before_the_configuration_exits_2(self) -> None:
        result = run_plugin(["--config", "-"], stdin=b"")
        self.assertEqual(result.returncode, 2)
        self.assertEqual(result.stdout, b"")
        self.assertIn(b"expected one JSON line", result.stderr)

    def test_a_socket_path_over_107_bytes_exits_2_before_creating_any_file(self) -> None:
        directory = private_dir(self)
        path = os.path.join(directory, "s" * (108 - len(directory) - 1) + ".sock")
        self.assertGreater(len(path), 107)
        result = run_plugin(["--config", good(address=path)])
        self.assertEqual(result.returncode, 2)
        self.assertIn(b"107-byte limit", result.stderr)
        self.assertEqual(os.listdir(directory), [])

    def test_a_tcp_address_off_loopback_exits_2(self) -> None:
        for address in ["0.0.0.0:0", "10.1.2.3:8080", "127.0.0.1", "127.0.0.1:x", "127.0.0.1:70000"]:
            with self.subTest(address=address):
                result = run_plugin(["--config", good(type="tcp", address=address)])
                self.assertEqual(result.returncode, 2)
                self.assertEqual(result.stdout, b"")

    def test_a_missing_socket_directory_exits_3(self) -> None:
        result = run_plugin(["--config", good()])
        self.assertEqual(result.returncode, 3)
        self.assertEqual(result.stdout, b"")
        self.assertIn(b"/nonexistent", result.stderr)

    def test_a_plugin_that_cannot_set_itself_up_exits_2(self) -> None:
        result = run_plugin(["--config", good()], env=plugin_env(FIXTURE_FAIL_SETUP="1"))
        self.assertEqual(result.returncode, 2)
        self.assertIn(b"settings are missing on purpose", result.stderr)


class LaunchTest(unittest.TestCase):
    def test_the_configuration_line_starts_the_plugin_without_waiting_for_end_of_file(self) -> None:
        plugin = PluginProcess(self)  # stdin stays open: the handshake must come anyway
        self.assertEqual(plugin.handshake, {"protocolVersion": 1, "type": "unix",
                                            "address": plugin.socket_path, "pid": plugin.proc.pid})
        self.assertEqual(plugin.healthz().status, 200)

    def test_an_inline_configuration_works_the_same(self) -> None:
        plugin = PluginProcess(self, inline=True)
        self.assertEqual(plugin.handshake["address"], plugin.socket_path)
        self.assertEqual(plugin.process("echo", b"hi").body, b"hi")

    def test_a_carriage_return_before_the_newline_is_tolerated(self) -> None:
        directory = private_dir(self)
        line = good(address=os.path.join(directory, "p.sock"), idleTimeout="0").encode() + b"\r\n"
        result = run_plugin(["--config", "-"], stdin=line)  # stdin ends right after: starts, then stops
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(json.loads(result.stdout.splitlines()[0])["type"], "unix")


if __name__ == "__main__":
    unittest.main()
