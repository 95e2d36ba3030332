#!/usr/bin/env python3
"""The CLI as a user types it (docs/cli.md): against a real daemon
(`plugvisor serve` in a temporary directory, driven through `plugvisor
status`, `restart`, `logs -f`, `reload` and the others), and the commands
that need none (`list`, `inspect`).

    daemon_cli_test.py --plugvisor build/bin/plugvisor --plugin-dir build/plugins \
        --fixture build/tests/bin/misbehaving-plugin [TestCase.test_name ...]

Each test starts its own daemon (config: pluginDirs = the plugin directory,
admin.socket in a fresh temp directory) and stops it with SIGTERM, requiring
exit code 0. Standard library only.
"""

import argparse
import http.client
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

PLUGVISOR = None
PLUGIN_DIR = None
FIXTURE = None
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


# A listener that answers every request 200 and counts what it was sent
# (run as another user); it stops 3 s after its last connection.
SQUATTER = r"""
import socket, sys
server = socket.socket(socket.AF_UNIX)
server.bind(sys.argv[1])
server.listen(64)
server.settimeout(3)
print("ready", flush=True)
total = 0
while True:
    try:
        conn, _ = server.accept()
    except socket.timeout:
        break
    conn.settimeout(1)
    try:
        data = conn.recv(65536)
        total += len(data)
        if data:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
    except socket.timeout:
        pass
    conn.close()
print("received %d bytes" % total, flush=True)
"""


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
            line = reader.wait_for(lambda l: True, 5)
            if line is None:  # logs -f was slower to start than the start's lines: make more
                self.ok(d.cli("restart", PLUGIN))
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
            # The running configuration is untouched: same plugins, same settings.
            self.table_row(self.ok(d.cli("status")), PLUGIN)
            self.assertEqual(self.plugin_json(d)["settings"]["idleTimeout"], "1m")
            doc = json.loads(self.ok(d.cli("status", "--json")))
            self.assertTrue(doc["daemon"]["lastReloadError"].startswith(d.config + ":1:"), doc["daemon"])
            self.assertIn("invalid JSON", doc["daemon"]["lastReloadError"])

    def test_sighup_reloads_and_a_broken_file_keeps_the_running_one(self):
        with Daemon() as d:
            self.assertEqual(self.plugin_json(d)["settings"]["idleTimeout"], "5m")
            d.write_config(plugins={PLUGIN: {"idleTimeout": "7m"}})
            d.process.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 30  # liveness bound
            while self.plugin_json(d)["settings"]["idleTimeout"] != "7m":
                self.assertLess(time.monotonic(), deadline, "SIGHUP did not reload the file within 30 s")
                time.sleep(0.05)
            self.assertEqual(json.loads(self.ok(d.cli("status", "--json")))["daemon"]["reloads"], 1)

            d.write_config(text='{"pluginDirs": ["/no/such/dir"]}')
            d.process.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 30
            while not json.loads(self.ok(d.cli("status", "--json")))["daemon"]["lastReloadError"]:
                self.assertLess(time.monotonic(), deadline, "the broken reload was not reported within 30 s")
                time.sleep(0.05)
            daemon = json.loads(self.ok(d.cli("status", "--json")))["daemon"]
            self.assertIn("/no/such/dir", daemon["lastReloadError"])
            self.assertEqual(daemon["reloads"], 1)
            self.assertEqual(self.plugin_json(d)["settings"]["idleTimeout"], "7m")
            self.assertEqual(self.ok(d.cli("call", "dataProcessor", "uppercase", "processData", "--data", "still")),
                             "STILL")
            self.assertIsNone(d.process.poll(), "the daemon exited on a broken reload")


class ErrorTest(CliTest):
    def test_an_unknown_plugin_fails_with_exit_1_naming_it(self):
        with Daemon() as d:
            for args in (["status", "no-such-plugin"], ["restart", "no-such-plugin"], ["logs", "no-such-plugin"]):
                result = d.cli(*args)
                self.assertEqual(result.returncode, 1, (args, result))
                self.assertIn("not_found", result.stderr)
                self.assertIn("no-such-plugin", result.stderr)
                self.assertEqual(result.stdout, "")

    def test_a_socket_of_another_user_is_sent_nothing(self):
        # Another user listening first at the path (e.g. the old default
        # /tmp/plugvisor-UID.sock): the CLI must not send it a call's data.
        if os.geteuid() != 0 or shutil.which("setpriv") is None:
            self.skipTest("needs root and setpriv to act as another user")
        import pwd
        nobody = pwd.getpwnam("nobody")
        workdir = tempfile.mkdtemp(prefix="pv-squat-", dir="/tmp")
        try:
            os.chown(workdir, nobody.pw_uid, nobody.pw_gid)
            path = os.path.join(workdir, "admin.sock")
            squatter = subprocess.Popen(
                ["setpriv", "--reuid", str(nobody.pw_uid), "--regid", str(nobody.pw_gid), "--clear-groups",
                 sys.executable, "-c", SQUATTER, path], stdout=subprocess.PIPE, text=True)
            try:
                self.assertEqual(squatter.stdout.readline().strip(), "ready")
                status = run("status", "--admin", path)
                call = run("call", "dataProcessor", "uppercase", "processData", "--data", "SECRET", "--admin", path)
            finally:
                received = squatter.communicate(timeout=30)[0].strip()
            for result in (status, call):
                self.assertEqual(result.returncode, 1, result)
                self.assertIn("plugvisor: untrusted_daemon: the process listening on " + path + " runs as nobody",
                              result.stderr)
                self.assertIn("nothing was sent to it", result.stderr)
                self.assertEqual(result.stdout, "")
            self.assertEqual(received, "received 0 bytes")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

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


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a Unix socket."""

    def __init__(self, path, timeout=30):
        super().__init__("plugvisor", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(r"^(%s)(?:\{((?:%s)(?:,%s)*)?\})? (\S+)(?: (-?\d+))?$" % (METRIC_NAME, LABEL, LABEL))
VALUE = re.compile(r"^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)$")


def parse_prometheus(text):
    """Parses the Prometheus text exposition format (version 0.0.4) strictly.

    Returns {family: {"type": T, "help": H, "samples": [(name, {label: value}, float)]}};
    raises AssertionError naming the line on anything the format does not allow."""
    families = {}
    current = None
    if not text.endswith("\n"):
        raise AssertionError("the text does not end with a line feed")
    for number, line in enumerate(text.split("\n")[:-1], 1):
        where = "line %d: %r" % (number, line)
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            if len(parts) < 4 or not re.fullmatch(METRIC_NAME, parts[2]):
                raise AssertionError("bad comment, " + where)
            family = families.setdefault(parts[2], {"type": None, "help": None, "samples": []})
            key = "help" if parts[1] == "HELP" else "type"
            if family[key] is not None:
                raise AssertionError("second %s for %s, %s" % (parts[1], parts[2], where))
            if key == "type":
                if parts[3] not in ("counter", "gauge", "histogram", "summary", "untyped"):
                    raise AssertionError("unknown type, " + where)
                if family["samples"]:
                    raise AssertionError("TYPE after samples, " + where)
            family[key] = parts[3]
            current = parts[2]
            continue
        if line.startswith("#") or not line:
            raise AssertionError("stray line, " + where)
        match = SAMPLE.match(line)
        if not match or not VALUE.match(match.group(3)):
            raise AssertionError("not a sample, " + where)
        name = match.group(1)
        family = current if current and (name == current or (
            families[current]["type"] == "histogram" and name in
            (current + "_bucket", current + "_sum", current + "_count"))) else None
        if family is None:
            raise AssertionError("sample outside its family's block, " + where)
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        families[family]["samples"].append((name, labels, float(match.group(3))))
    for name, family in families.items():
        if family["type"] is None:
            raise AssertionError("family %s has no TYPE" % name)
    return families


class MetricsTest(CliTest):
    def get(self, daemon, path):
        conn = UnixHTTPConnection(daemon.socket)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.getheader("Content-Type"), response.read().decode()
        finally:
            conn.close()

    def test_metrics_parse_as_prometheus_text_and_count_what_happened(self):
        with Daemon() as d:
            for word in ("a", "b", "c"):
                self.assertEqual(self.ok(d.cli("call", "dataProcessor", "uppercase", "processData", "--data", word)),
                                 word.upper())
            failed = d.cli("call", "dataProcessor", "json-pretty", "processData", "--data", "{not json")
            self.assertEqual(failed.returncode, 1, failed)
            self.ok(d.cli("restart", PLUGIN))

            status, content_type, text = self.get(d, "/metrics")
            self.assertEqual(status, 200)
            self.assertTrue(content_type.startswith("text/plain; version=0.0.4"), content_type)
            families = parse_prometheus(text)

            def value(family, name=None, **labels):
                found = [v for n, l, v in families[family]["samples"]
                         if (name is None or n == name) and all(l.get(k) == x for k, x in labels.items())]
                self.assertEqual(len(found), 1, (family, labels, found))
                return found[0]

            self.assertEqual(value("plugvisor_plugin_state", plugin=PLUGIN, state="ready"), 1)
            self.assertEqual(sum(v for _, l, v in families["plugvisor_plugin_state"]["samples"]
                                 if l["plugin"] == PLUGIN), 1, "one state at a time")
            self.assertEqual(value("plugvisor_plugin_starts_total", plugin=PLUGIN), 2)
            self.assertEqual(value("plugvisor_calls_total", plugin=PLUGIN, type="uppercase"), 3)
            self.assertEqual(value("plugvisor_call_errors_total", plugin=PLUGIN, type="json-pretty",
                                   code="invalid_input"), 1)
            # The histogram: buckets cumulative, +Inf equal to _count.
            buckets = [(l["le"], v) for n, l, v in families["plugvisor_call_duration_seconds"]["samples"]
                       if n.endswith("_bucket") and l["type"] == "uppercase"]
            self.assertEqual(buckets[-1][0], "+Inf")
            counts = [v for _, v in buckets]
            self.assertEqual(counts, sorted(counts), "buckets are cumulative")
            bounds = [float(le) for le, _ in buckets[:-1]]
            self.assertEqual(bounds, sorted(bounds))
            self.assertEqual(counts[-1], value("plugvisor_call_duration_seconds",
                                               "plugvisor_call_duration_seconds_count", type="uppercase"))
            self.assertGreater(value("plugvisor_call_duration_seconds", "plugvisor_call_duration_seconds_sum",
                                     type="uppercase"), 0)

    def test_the_parser_rejects_what_prometheus_would(self):
        good = "# HELP x_total X.\n# TYPE x_total counter\nx_total{a=\"1\"} 3\n"
        self.assertIn("x_total", parse_prometheus(good))
        for bad in ("x_total 3\n",                                   # no TYPE
                    "# TYPE x_total counter\nx_total{a=1} 3\n",        # unquoted label value
                    "# TYPE x_total counter\nx_total three\n",         # not a number
                    "# TYPE x_total counter\nx_total 3",              # no final line feed
                    "# TYPE x_total counter\ny_total 3\n",            # outside its family
                    "# TYPE x_total countr\nx_total 3\n"):            # unknown type
            with self.assertRaises(AssertionError, msg=bad):
                parse_prometheus(bad)


class ListTest(CliTest):
    """list needs no daemon: every plugin found, or the exact reason a file was turned down."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="pv-list-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.addCleanup(shutil.rmtree, self.dir, True)

    def script(self, name, body, mode=0o755):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + body + "\n")
        os.chmod(path, mode)
        return path

    def test_list_json_names_every_plugin_and_every_rejection_with_its_reason(self):
        os.symlink(os.path.join(PLUGIN_DIR, PLUGIN), os.path.join(self.dir, PLUGIN))
        self.script("good", 'exec "%s" --mode good "$@"' % FIXTURE)
        self.script("caps-exit", 'exec "%s" --mode caps-exit "$@"' % FIXTURE)
        self.script("caps-garbage", 'exec "%s" --mode caps-garbage "$@"' % FIXTURE)
        self.script("caps-version", 'exec "%s" --mode caps-version "$@"' % FIXTURE)
        self.script("open-to-all", 'exec "%s" --mode good "$@"' % FIXTURE, mode=0o777)
        with open(os.path.join(self.dir, "notes.txt"), "w") as f:
            f.write("not a plugin\n")
        missing = os.path.join(self.dir, "no-such-dir")

        doc = json.loads(self.ok(run("list", "-d", self.dir, "-d", missing, "--json")))
        self.assertEqual([p["id"] for p in doc["plugins"]], ["good", PLUGIN])
        text_tools = doc["plugins"][1]
        self.assertEqual(text_tools["version"], "1.0.0")
        self.assertEqual(text_tools["types"]["dataProcessor"][:2], ["uppercase", "prefix"])
        self.assertEqual(text_tools["configTypes"], ["text-tools.prefix"])
        reasons = {os.path.basename(r["path"]): r["reason"] for r in doc["rejected"]}
        self.assertEqual(set(reasons), {"caps-exit", "caps-garbage", "caps-version", "open-to-all", "notes.txt",
                                        "no-such-dir"}, doc["rejected"])
        self.assertIn("capabilities exited with code 1", reasons["caps-exit"])
        self.assertIn("JSON", reasons["caps-garbage"])
        self.assertIn("protocol", reasons["caps-version"])
        self.assertIn("writable", reasons["open-to-all"])
        self.assertIn("not executable", reasons["notes.txt"])
        self.assertIn("does not exist", reasons["no-such-dir"])

        # The table says the same, with the reasons under REJECTED.
        out = self.ok(run("list", "-d", self.dir, "-d", missing))
        self.assertEqual(self.table_row(out, PLUGIN)[1], "1.0.0")
        rejected = out.split("\nREJECTED\n", 1)[1]
        for name, reason in reasons.items():
            self.assertIn("%s: %s" % (os.path.join(self.dir, name) if name != "no-such-dir" else missing, reason),
                          rejected)

    def test_list_of_a_bad_flag_is_a_usage_error(self):
        result = run("list", "-d", self.dir, "--no-such-flag")
        self.assertEqual(result.returncode, 2, result)
        self.assertIn("--no-such-flag", result.stderr)


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
    global PLUGVISOR, PLUGIN_DIR, FIXTURE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugvisor", required=True)
    parser.add_argument("--plugin-dir", required=True)
    parser.add_argument("--fixture", required=True, help="tests/fixtures/misbehaving_plugin.cpp, built")
    args, rest = parser.parse_known_args()
    PLUGVISOR = os.path.abspath(args.plugvisor)
    PLUGIN_DIR = os.path.abspath(args.plugin_dir)
    FIXTURE = os.path.abspath(args.fixture)
    unittest.main(argv=[sys.argv[0], "-v", *rest])


if __name__ == "__main__":
    main()
