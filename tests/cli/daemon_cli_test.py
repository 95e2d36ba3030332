#!/usr/bin/env python3
"""The CLI against a real daemon: `plugvisor serve` in a temporary directory,
driven through `plugvisor status`, `restart`, `logs -f`, `reload` and the
others exactly as a user types them (docs/cli.md).

    daemon_cli_test.py --plugvisor build/bin/plugvisor --plugin-dir build/plugins [TestCase.test_name ...]

Each test starts its own daemon (config: pluginDirs = the plugin directory,
admin.socket in a fresh temp directory) and stops it with SIGTERM, requiring
exit code 0. Standard library only.
"""

import argparse
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

PLUGVISOR = None
PLUGIN_DIR = None
PLUGIN = "plugin-text-tools"
TOKEN = "test-token-0123456789"


def clean_env(**extra):
    """The environment without PLUGVISOR_* variables (they would override the test's file)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLUGVISOR_")}
    env.update(extra)
    return env


def run(*args, env=None, timeout=120):
    """Runs plugvisor ARGS; the CompletedProcess (text)."""
    return subprocess.run([PLUGVISOR, *args], capture_output=True, text=True, timeout=timeout,
                          env=env if env is not None else clean_env())


class LineReader:
    """Reads a pipe in a thread, line by line, into a queue (and a list of all lines)."""

    def __init__(self, pipe):
        self.lines = []
        self._queue = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe):
        for line in pipe:
            line = line.rstrip("\n")
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, predicate, timeout):
        """The first new line for which predicate is true; None at EOF or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                self._queue.put(None)
                return None
            if predicate(line):
                return line


class Daemon:
    """`plugvisor serve --config FILE` in a temp directory, as a context manager."""

    def __init__(self, tcp=False):
        self.tcp = tcp
        self.dir = tempfile.mkdtemp(prefix="pv-cli-", dir="/tmp")
        self.socket = os.path.join(self.dir, "admin.sock")
        self.config = os.path.join(self.dir, "plugvisor.jsonc")
        self.url = None
        self.write_config()

    def write_config(self, plugins=None, text=None):
        if text is None:
            admin = {"socket": self.socket}
            if self.tcp:
                admin.update({"tcp": "127.0.0.1:0", "token": TOKEN})
            doc = {"pluginDirs": [PLUGIN_DIR], "admin": admin}
            if plugins:
                doc["plugins"] = plugins
            text = "// written by daemon_cli_test.py\n" + json.dumps(doc, indent=2) + "\n"
        with open(self.config, "w") as f:
            f.write(text)

    def __enter__(self):
        self.stderr = open(os.path.join(self.dir, "serve.stderr"), "w+")
        self.process = subprocess.Popen([PLUGVISOR, "serve", "--config", self.config], stdout=subprocess.PIPE,
                                        stderr=self.stderr, text=True, env=clean_env())
        self.out = LineReader(self.process.stdout)
        ready = self.out.wait_for(lambda l: l.startswith("admin socket:"), 30)
        if ready is None:
            self._fail_start("no `admin socket: PATH` line within 30 s")
        if ready.split(":", 1)[1].strip() != self.socket:
            self._fail_start("serve printed " + ready + ", not the configured socket " + self.socket)
        if self.tcp:
            seen = [l for l in self.out.lines if l.startswith("dashboard:")]
            line = seen[0] if seen else self.out.wait_for(lambda l: l.startswith("dashboard:"), 10)
            match = re.match(r"dashboard:\s+(http://[^/\s]+)/?\s*$", line or "")
            if not match:
                self._fail_start("no `dashboard:    http://HOST:PORT/` line")
            self.url = match.group(1)
        return self

    def _fail_start(self, why):
        self.process.kill()
        self.process.wait()
        self.stderr.seek(0)
        raise AssertionError("plugvisor serve did not start: " + why + "\nstdout:\n" + "\n".join(self.out.lines) +
                             "\nstderr:\n" + self.stderr.read())

    def __exit__(self, *exc):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                code = self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError("plugvisor serve did not exit within 60 s of SIGTERM")
        else:
            code = self.process.returncode
        self.stderr.close()
        if exc[0] is None:
            if code != 0:
                raise AssertionError("plugvisor serve exited with %s; stderr in %s" % (code, self.dir))
            if os.path.exists(self.socket):
                raise AssertionError("plugvisor serve left its socket " + self.socket)
            shutil.rmtree(self.dir, ignore_errors=True)
        return False

    def cli(self, *args, **kwargs):
        """Runs plugvisor ARGS --admin SOCKET."""
        return run(*args, "--admin", self.socket, **kwargs)


class CliTest(unittest.TestCase):
    def ok(self, result):
        self.assertEqual(result.returncode, 0, "exit %d\nstdout:\n%s\nstderr:\n%s" %
                         (result.returncode, result.stdout, result.stderr))
        return result.stdout

    def table_row(self, text, plugin):
        for line in text.splitlines():
            cells = line.split()
            if cells and cells[0] == plugin:
                return cells
        self.fail("no row for %s in:\n%s" % (plugin, text))

    def plugin_json(self, daemon, plugin=PLUGIN):
        return json.loads(self.ok(daemon.cli("status", plugin, "--json")))


class StatusTest(CliTest):
    def test_status_prints_a_table_with_the_daemon_and_every_plugin(self):
        with Daemon() as d:
            out = self.ok(d.cli("status"))
            lines = out.splitlines()
            self.assertTrue(lines[0].startswith("daemon: plugvisor "), out)
            self.assertIn("pid %d" % d.process.pid, lines[0])
            self.assertIn("config " + d.config, lines[0])
            header = next(l for l in lines if l.startswith("PLUGIN"))
            self.assertEqual(header.split(), ["PLUGIN", "STATE", "PID", "UPTIME", "RESTARTS", "CALLS", "ERRORS",
                                              "P50", "P99", "LAST", "EXIT"])
            row = self.table_row(out, PLUGIN)
            self.assertEqual(row[1:4], ["registered", "-", "-"], out)  # lazy: not launched yet

    def test_status_json_is_the_plugin_list_with_the_daemon(self):
        with Daemon() as d:
            doc = json.loads(self.ok(d.cli("status", "--json")))
            self.assertEqual(doc["daemon"]["pid"], d.process.pid)
            self.assertEqual(doc["daemon"]["adminSocket"], d.socket)
            ids = [p["id"] for p in doc["plugins"]]
            self.assertIn(PLUGIN, ids)
            self.assertIsInstance(doc["rejected"], list)
            p = doc["plugins"][ids.index(PLUGIN)]
            self.assertEqual(p["state"], "registered")
            self.assertIn("uppercase", [t["type"] for t in p["types"]])

    def test_status_of_one_plugin_shows_its_types_and_settings(self):
        with Daemon() as d:
            out = self.ok(d.cli("status", PLUGIN))
            self.assertRegex(out, r"(?m)^plugin: +plugin-text-tools$")
            self.assertRegex(out, r"(?m)^state: +registered$")
            self.assertRegex(out, r"(?m)^config types: +text-tools\.prefix$")
            self.assertRegex(out, r"(?m)^last error: +-$")
            self.assertRegex(out, r"(?m)^dataProcessor +prefix +0 +0 +- +- +yes ")
            self.assertRegex(out, r"(?m)^dataProcessor +uppercase +0 +0 +- +- +- ")
            doc = self.plugin_json(d)
            prefix = next(t for t in doc["types"] if t["type"] == "prefix")
            self.assertEqual(prefix["jsonSchema"]["properties"]["prefix"]["type"], "string")

    def test_status_finds_the_daemon_through_its_config_file(self):
        with Daemon() as d:
            out = self.ok(run("status", "--config", d.config))
            self.table_row(out, PLUGIN)
            out = self.ok(run("status", env=clean_env(PLUGVISOR_ADMIN=d.socket)))
            self.table_row(out, PLUGIN)


class ActionTest(CliTest):
    def test_start_restart_stop_change_the_state_and_the_pid(self):
        with Daemon() as d:
            out = self.ok(d.cli("start", PLUGIN))
            match = re.fullmatch(r"plugin-text-tools: ready \(pid (\d+)\)\n", out)
            self.assertTrue(match, out)
            first_pid = int(match.group(1))
            row = self.table_row(self.ok(d.cli("status")), PLUGIN)
            self.assertEqual(row[1:3], ["ready", str(first_pid)])

            doc = json.loads(self.ok(d.cli("restart", PLUGIN, "--json")))
            self.assertEqual(doc["id"], PLUGIN)
            self.assertEqual(doc["state"], "ready")
            self.assertNotEqual(doc["pid"], first_pid)
            self.assertGreaterEqual(doc["starts"], 2)
            row = self.table_row(self.ok(d.cli("status")), PLUGIN)
            self.assertEqual(row[1:3], ["ready", str(doc["pid"])])

            self.assertEqual(self.ok(d.cli("stop", PLUGIN)), "plugin-text-tools: stopped\n")
            row = self.table_row(self.ok(d.cli("status")), PLUGIN)
            self.assertEqual(row[1:3], ["stopped", "-"])
            self.assertEqual(self.plugin_json(d)["lastExit"].split(" ")[0], "asked")

    def test_disable_and_enable_show_in_status(self):
        with Daemon() as d:
            self.ok(d.cli("start", PLUGIN))
            self.assertEqual(self.ok(d.cli("disable", PLUGIN)), "plugin-text-tools: disabled\n")
            row = self.table_row(self.ok(d.cli("status")), PLUGIN)
            self.assertEqual(row[1:3], ["disabled", "-"])
            self.assertFalse(self.plugin_json(d)["enabled"])
            self.assertIn("disabled: enable it", self.ok(d.cli("status", PLUGIN)))

            out = self.ok(d.cli("enable", PLUGIN))
            self.assertRegex(out, r"^plugin-text-tools: (stopped|registered)\n$")  # lazy: not started
            row = self.table_row(self.ok(d.cli("status")), PLUGIN)
            self.assertNotEqual(row[1], "disabled")
            self.assertTrue(self.plugin_json(d)["enabled"])
            self.assertRegex(self.ok(d.cli("start", PLUGIN)), r"^plugin-text-tools: ready \(pid \d+\)\n$")


class LogsTest(CliTest):
    def test_logs_prints_the_kept_lines(self):
        with Daemon() as d:
            self.ok(d.cli("restart", PLUGIN))
            out = self.ok(d.cli("logs", PLUGIN))
            lines = out.splitlines()
            self.assertGreater(len(lines), 1, out)
            for line in lines:
                self.assertRegex(line, r"^\d{4}-\d\d-\d\dT\S+ (stdout|stderr|event) ")
            self.assertTrue(any(" event " in l for l in lines), out)
            self.assertEqual(len(self.ok(d.cli("logs", PLUGIN, "-n", "1")).splitlines()), 1)

            records = [json.loads(l) for l in self.ok(d.cli("logs", PLUGIN, "--json")).splitlines()]
            self.assertEqual(len(records), len(lines))
            seqs = [r["seq"] for r in records]
            self.assertEqual(seqs, sorted(seqs))
            self.assertTrue(all(set(r) >= {"seq", "time", "stream", "text"} for r in records), records)

    def last_seq(self, daemon):
        out = self.ok(daemon.cli("logs", PLUGIN, "--json", "-n", "1"))
        return json.loads(out)["seq"] if out.strip() else 0

    def test_logs_follow_keeps_going_across_a_restart(self):
        with Daemon() as d:
            self.ok(d.cli("start", PLUGIN))
            follow = subprocess.Popen([PLUGVISOR, "logs", PLUGIN, "-f", "--json", "--admin", d.socket],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
            try:
                reader = LineReader(follow.stdout)
                self.assertIsNotNone(reader.wait_for(lambda l: True, 10), "logs -f printed no kept line")
                before_restart = self.last_seq(d)
                first_pid = self.plugin_json(d)["pid"]
                self.ok(d.cli("restart", PLUGIN))
                self.assertNotEqual(self.plugin_json(d)["pid"], first_pid)
                after_restart = self.last_seq(d)
                self.assertGreater(after_restart, before_restart)
                # Lines the restart made, then lines from after it (the stop below) arrive on the same stream.
                seen = reader.wait_for(lambda l: json.loads(l)["seq"] > before_restart, 15)
                self.assertIsNotNone(seen, "no line of the restart came: %s" % reader.lines)
                self.ok(d.cli("stop", PLUGIN))
                seen = reader.wait_for(lambda l: json.loads(l)["seq"] > after_restart, 15)
                self.assertIsNotNone(seen, "no line from after the restart came: %s" % reader.lines)
                if follow.poll() is not None:  # (stderr is read only then: read() waits for its end)
                    self.fail("logs -f ended: " + follow.stderr.read())
                for line in reader.lines:
                    self.assertNotEqual(json.loads(line).get("stream"), "heartbeat")
            finally:
                follow.send_signal(signal.SIGINT)
                follow.wait(timeout=10)

    def test_logs_follow_prints_time_stream_text_and_ends_with_the_daemon(self):
        with Daemon() as d:
            follow = subprocess.Popen([PLUGVISOR, "logs", PLUGIN, "-f", "-n", "0", "--admin", d.socket],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
            reader = LineReader(follow.stdout)
            time.sleep(0.5)  # let the stream open before the lines are made
            self.ok(d.cli("start", PLUGIN))
            line = reader.wait_for(lambda l: True, 15)
            self.assertIsNotNone(line, "logs -f printed nothing after a start")
            self.assertRegex(line, r"^\d{4}-\d\d-\d\dT\S+ (stdout|stderr|event) ")
        # The daemon stopped: the stream ends, and logs -f with it.
        follow.wait(timeout=30)
        self.assertEqual(follow.returncode, 0, follow.stderr.read())


class ReloadTest(CliTest):
    def test_reload_reports_what_changed(self):
        with Daemon() as d:
            out = self.ok(d.cli("reload"))
            self.assertRegex(out, r"(?m)^added: +-$")
            self.assertRegex(out, r"(?m)^removed: +-$")
            self.assertRegex(out, r"(?m)^changed: +-$")
            self.assertRegex(out, r"(?m)^unchanged: .*plugin-text-tools")

            d.write_config(plugins={PLUGIN: {"idleTimeout": "1m"}})
            doc = json.loads(self.ok(d.cli("reload", "--json")))
            self.assertEqual(doc["changed"], [PLUGIN])
            self.assertNotIn(PLUGIN, doc["unchanged"])
            self.assertEqual(doc["added"], [])
            self.assertEqual(doc["removed"], [])
            self.assertEqual(self.plugin_json(d)["settings"]["idleTimeout"], "1m")

            d.write_config(text='{"pluginDirs": [')
            result = d.cli("reload")
            self.assertEqual(result.returncode, 1, result)
            self.assertIn("plugvisor: config: " + d.config + ":", result.stderr)
            self.table_row(self.ok(d.cli("status")), PLUGIN)  # still serving, unchanged


class ErrorTest(CliTest):
    def test_an_unknown_plugin_fails_with_exit_1_naming_it(self):
        with Daemon() as d:
            for args in (["status", "no-such-plugin"], ["restart", "no-such-plugin"], ["logs", "no-such-plugin"]):
                result = d.cli(*args)
                self.assertEqual(result.returncode, 1, (args, result))
                self.assertIn("not_found", result.stderr)
                self.assertIn("no-such-plugin", result.stderr)
                self.assertEqual(result.stdout, "")

    def test_no_daemon_exits_3_with_a_hint(self):
        workdir = tempfile.mkdtemp(prefix="pv-cli-", dir="/tmp")
        try:
            socket = os.path.join(workdir, "none.sock")
            for args in (["status", "--admin", socket], ["restart", PLUGIN, "--admin", socket],
                         ["logs", PLUGIN, "-f", "--admin", socket], ["reload", "--admin", socket]):
                result = run(*args)
                self.assertEqual(result.returncode, 3, (args, result))
                self.assertIn("no daemon answers on " + socket, result.stderr)
                self.assertIn("start one with `plugvisor serve`, or point to it with --admin", result.stderr)
            # Nothing given: the default socket under XDG_RUNTIME_DIR.
            result = run("status", env=clean_env(XDG_RUNTIME_DIR=workdir))
            self.assertEqual(result.returncode, 3, result)
            self.assertIn("no daemon answers on " + os.path.join(workdir, "plugvisor.sock"), result.stderr)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def test_tcp_wants_the_token(self):
        with Daemon(tcp=True) as d:
            result = run("status", "--admin", d.url)
            self.assertEqual(result.returncode, 1, result)
            self.assertIn("wants a token: pass --token or set PLUGVISOR_ADMIN_TOKEN", result.stderr)
            result = run("status", "--admin", d.url, "--token", "wrong")
            self.assertEqual(result.returncode, 1, result)
            self.assertIn("refused the token", result.stderr)
            self.table_row(self.ok(run("status", "--admin", d.url, "--token", TOKEN)), PLUGIN)
            self.table_row(self.ok(run("status", env=clean_env(PLUGVISOR_ADMIN=d.url, PLUGVISOR_ADMIN_TOKEN=TOKEN))),
                           PLUGIN)
            doc = json.loads(self.ok(run("status", "--json", "--admin", d.url, "--token", TOKEN)))
            self.assertEqual("http://" + doc["daemon"]["tcp"], d.url)


class InspectTest(CliTest):
    """inspect needs no daemon."""

    def test_inspect_shows_types_and_schemas(self):
        out = self.ok(run("inspect", PLUGIN, "-d", PLUGIN_DIR))
        self.assertRegex(out, r"(?m)^name: +text-tools$")
        self.assertRegex(out, r"(?m)^version: +1\.0\.0$")
        self.assertRegex(out, r"(?m)^protocol: +1$")
        self.assertRegex(out, r"(?m)^config types: +text-tools\.prefix$")
        for type_name in ("uppercase", "prefix", "word-count", "json-pretty"):
            self.assertRegex(out, r"(?m)^dataProcessor/%s$" % type_name)
        self.assertIn("processData (bytes -> bytes)", out)
        self.assertRegex(out, r'(?m)^ +"prefix": \{$')
        doc = json.loads(self.ok(run("inspect", os.path.join(PLUGIN_DIR, PLUGIN), "--json")))
        self.assertEqual(doc["name"], "text-tools")
        prefix = next(t for t in doc["types"] if t["type"] == "prefix")
        self.assertEqual(prefix["jsonSchema"]["properties"]["prefix"]["type"], "string")
        self.assertIsNone(next(t for t in doc["types"] if t["type"] == "uppercase")["jsonSchema"])

    def test_inspect_of_an_unknown_plugin_fails_naming_it(self):
        result = run("inspect", "no-such-plugin", "-d", PLUGIN_DIR)
        self.assertEqual(result.returncode, 1, result)
        self.assertIn("no plugin no-such-plugin in " + PLUGIN_DIR, result.stderr)


def main():
    global PLUGVISOR, PLUGIN_DIR
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugvisor", required=True)
    parser.add_argument("--plugin-dir", required=True)
    args, rest = parser.parse_known_args()
    PLUGVISOR = os.path.abspath(args.plugvisor)
    PLUGIN_DIR = os.path.abspath(args.plugin_dir)
    unittest.main(argv=[sys.argv[0], "-v", *rest])


if __name__ == "__main__":
    main()
