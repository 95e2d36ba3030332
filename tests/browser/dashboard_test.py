#!/usr/bin/env python3
"""The dashboard in a real browser: `plugvisor serve` + Debian's Chromium, driven by ChromeDriver.

    dashboard_test.py PLUGVISOR PLUGIN_DIR SCREENSHOT.png

Starts the daemon on a temporary configuration (TCP on a free loopback port,
a random token), opens http://127.0.0.1:PORT/#token=TOKEN in headless
Chromium and checks, through the W3C WebDriver HTTP API spoken with urllib
(standard library only), that the page lists the example plugins, follows
their calls, restarts, disables and enables one with its buttons, shows its
log, drops the token from the address bar, shows untrusted text as text,
and says so when the token is missing. Saves a screenshot.

Needs /usr/bin/chromium and /usr/bin/chromedriver (Debian: apt-get install
chromium chromium-driver). Exit 0: passed; 1: a check failed; 2: bad usage.
Time bounds are for liveness only (a dead daemon or browser), generous for
a loaded 2-core machine.
"""

import base64
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

CHROMIUM = os.environ.get("PLUGVISOR_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("PLUGVISOR_CHROMEDRIVER", "/usr/bin/chromedriver")
WAIT = 30.0              # liveness bound of each wait on the page or the daemon
START_WAIT = 60.0        # liveness bound of the daemon's and the browser's start
WINDOW = (1400, 1000)
PLUGINS = ("plugin-text-tools", "plugin-py-stats", "plugin-node-text")
STATES = {"registered", "starting", "ready", "idle", "stopping", "stopped", "crashed", "failed", "disabled"}
# A file name that is HTML: the daemon rejects it (not a valid plugin name) and
# lists its path; the page must show it as text, not run it.
HOSTILE_NAME = '<img src=x onerror="window.__pwned=1">'


class Fail(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def ok(msg):
    log("ok: " + msg)


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def wait_for(what, fn, timeout=WAIT, interval=0.15):
    """Calls fn until it returns something truthy; fails naming `what` and the last value or error."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = fn()
            if value:
                return value
            last = value
        except Fail:
            raise
        except Exception as e:  # noqa: BLE001: kept to report it
            last = "%s: %s" % (type(e).__name__, e)
        if time.monotonic() > deadline:
            raise Fail("timed out after %gs waiting for %s (last seen: %r)" % (timeout, what, last))
        time.sleep(interval)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path, lines=40):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e)


def stop_process(proc, name, grace=10.0, group=False):
    """SIGTERM (to its process group when it leads one), then SIGKILL; returns the exit code."""
    if proc is None:
        return None
    if proc.poll() is None:
        try:
            if group:
                os.killpg(proc.pid, signal.SIGTERM)
            else:
                proc.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            log("warning: %s did not end %gs after SIGTERM: SIGKILL" % (name, grace))
            try:
                if group:
                    os.killpg(proc.pid, signal.SIGKILL)
                else:
                    proc.kill()
            except ProcessLookupError:
                pass
            proc.wait(10)
    if group:  # whatever it left behind in its group (chromium's helpers)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return proc.returncode


# --------------------------------------------------------------------------- the daemon

class Daemon:
    def __init__(self, binary, config, workdir):
        self.stderr_path = os.path.join(workdir, "serve.stderr")
        self.stdout_lines = []
        self._ready = threading.Event()
        self.url = None
        self.socket_path = None
        self._stderr = open(self.stderr_path, "wb")
        log("starting: %s serve --config %s" % (binary, config))
        self.proc = subprocess.Popen([binary, "serve", "--config", config], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self._stderr)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        deadline = time.monotonic() + START_WAIT
        while not self._ready.wait(0.1):
            if self.proc.poll() is not None:
                raise Fail("plugvisor serve exited with %s before printing its dashboard: line\nstdout:\n%s\nstderr:\n%s"
                           % (self.proc.returncode, "".join(self.stdout_lines), tail(self.stderr_path)))
            if time.monotonic() > deadline:
                raise Fail("plugvisor serve printed no dashboard: line within %gs\nstdout:\n%s\nstderr:\n%s"
                           % (START_WAIT, "".join(self.stdout_lines), tail(self.stderr_path)))
        check(self.url.startswith("http://127.0.0.1:") and self.url.endswith("/"),
              "the dashboard: line should give http://127.0.0.1:PORT/, got %r" % self.url)
        hostport = self.url[len("http://"):-1]
        self.host, port = hostport.rsplit(":", 1)
        self.port = int(port)
        check(self.port > 0, "the dashboard URL should carry the real port, got %r" % self.url)

    def _read_stdout(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace")
            self.stdout_lines.append(line)
            if line.startswith("admin socket:"):
                self.socket_path = line.split(":", 1)[1].strip()
            if line.startswith("dashboard:") and self.url is None:
                self.url = line.split(":", 1)[1].strip()
                self._ready.set()

    def request(self, method, path, body=None, token=None, content_type="application/json"):
        """One request on the TCP endpoint: (status, headers, body bytes)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=WAIT)
        try:
            headers = {}
            if token:
                headers["Authorization"] = "Bearer " + token
            if body is not None:
                headers["Content-Type"] = content_type
                if isinstance(body, str):
                    body = body.encode()
            conn.request(method, path, body=body, headers=headers)
            res = conn.getresponse()
            return res.status, dict(res.getheaders()), res.read()
        finally:
            conn.close()

    def json(self, method, path, token, body=None):
        status, _, data = self.request(method, path, body, token)
        check(200 <= status < 300, "%s %s: HTTP %d %s" % (method, path, status, data[:300]))
        return json.loads(data)

    def stop(self):
        code = stop_process(self.proc, "plugvisor serve", grace=15.0)
        self._stderr.close()
        return code


# --------------------------------------------------------------------------- WebDriver

class WebDriverError(Exception):
    pass


class ChromeDriver:
    def __init__(self, workdir):
        self.port = free_port()
        self.log_path = os.path.join(workdir, "chromedriver.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([CHROMEDRIVER, "--port=%d" % self.port, "--allowed-ips=127.0.0.1"],
                                     stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)  # its own group: chromium is killed with it
        self.base = "http://127.0.0.1:%d" % self.port

        def ready():
            if self.proc.poll() is not None:
                raise Fail("chromedriver exited with %s:\n%s" % (self.proc.returncode, tail(self.log_path)))
            return self.call("GET", "/status").get("ready")
        wait_for("chromedriver to be ready on port %d" % self.port, ready, timeout=START_WAIT)

    def call(self, method, path, payload=None, timeout=START_WAIT):
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json; charset=utf-8"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as res:
                body = res.read()
        except urllib.error.HTTPError as e:
            body = e.read()
            try:
                value = json.loads(body).get("value", {})
                raise WebDriverError("%s %s: %s: %s" % (method, path, value.get("error"),
                                                         str(value.get("message", "")).splitlines()[0:1]))
            except (ValueError, AttributeError):
                raise WebDriverError("%s %s: HTTP %d %r" % (method, path, e.code, body[:300]))
        return json.loads(body).get("value") if body else None

    def stop(self):
        stop_process(self.proc, "chromedriver", grace=10.0, group=True)
        self._log.close()


class Browser:
    """One WebDriver session of headless Chromium."""
    ELEMENT = "element-6066-11e4-a52e-4f735466cecf"

    def __init__(self, driver, profile_dir):
        self.driver = driver
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--user-data-dir=" + profile_dir,
                "--window-size=%d,%d" % WINDOW]
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}}
        value = driver.call("POST", "/session", caps, timeout=START_WAIT * 2)
        self.sid = value["sessionId"]
        self.version = value.get("capabilities", {}).get("browserVersion", "?")

    def _s(self, path):
        return "/session/%s%s" % (self.sid, path)

    def go(self, url):
        self.driver.call("POST", self._s("/url"), {"url": url})

    def url(self):
        return self.driver.call("GET", self._s("/url"))

    def js(self, script, *args):
        return self.driver.call("POST", self._s("/execute/sync"), {"script": script, "args": list(args)})

    def find(self, css):
        """The element's reference, or None."""
        try:
            value = self.driver.call("POST", self._s("/element"), {"using": "css selector", "value": css})
        except WebDriverError as e:
            if "no such element" in str(e):
                return None
            raise
        return value[self.ELEMENT]

    def click(self, css):
        """A real click (WebDriver element click: scrolled into view, hit-tested) on a fresh lookup."""
        ref = self.find(css)
        check(ref is not None, "no element matches %s" % css)
        self.driver.call("POST", self._s("/element/%s/click" % ref), {})

    def text(self, css):
        """textContent of the first match, stripped, or None: read in the page, not as rendered."""
        return self.js("const e = document.querySelector(arguments[0]); return e ? e.textContent.trim() : null;", css)

    def screenshot(self):
        return base64.b64decode(self.driver.call("GET", self._s("/screenshot")))

    def quit(self):
        try:
            self.driver.call("DELETE", self._s(""), timeout=30)
        except Exception as e:  # noqa: BLE001: cleanup goes on
            log("warning: closing the browser session: %s" % e)


# --------------------------------------------------------------------------- the test

def cell(plugin, field):
    return 'tr[data-plugin="%s"] [data-field="%s"]' % (plugin, field)


def button(plugin, action):
    return 'tr[data-plugin="%s"] button[data-action="%s"]' % (plugin, action)


def png_size(data):
    check(data[:8] == b"\x89PNG\r\n\x1a\n", "the screenshot is not a PNG (starts with %r)" % data[:8])
    check(data[12:16] == b"IHDR", "the screenshot PNG has no IHDR chunk first")
    return struct.unpack(">II", data[16:24])


def run(plugvisor, plugin_dir, screenshot_path, work):
    token = secrets.token_hex(16)
    extra_dir = os.path.join(work, "more-plugins")
    os.mkdir(extra_dir, 0o755)
    with open(os.path.join(extra_dir, HOSTILE_NAME), "w") as f:
        f.write("not a plugin\n")
    config = os.path.join(work, "plugvisor.jsonc")
    with open(config, "w") as f:
        f.write("{\n  // written by tests/browser/dashboard_test.py\n")
        f.write('  "pluginDirs": %s,\n' % json.dumps([os.path.abspath(plugin_dir), extra_dir]))
        f.write('  "plugins": {"plugin-text-tools": {"start": "eager"}},\n')
        f.write('  "admin": %s\n}\n' % json.dumps(
            {"socket": os.path.join(work, "admin.sock"), "tcp": "127.0.0.1:0", "token": token}))

    daemon = driver = browser = None
    try:
        daemon = Daemon(plugvisor, config, work)
        ok("plugvisor serve is up: dashboard %s, admin socket %s" % (daemon.url, daemon.socket_path))

        # The API as the page will see it.
        status, _, body = daemon.request("GET", "/v1/plugins")
        check(status == 401, "GET /v1/plugins without a token should be 401, got %d %r" % (status, body[:200]))
        status, headers, body = daemon.request("GET", "/")
        check(status == 200 and b"<html" in body.lower(), "GET / should serve the page without a token: %d" % status)
        check("text/html" in headers.get("Content-Type", ""), "GET / Content-Type: %r" % headers.get("Content-Type"))
        listing = daemon.json("GET", "/v1/plugins", token)
        ids = [p["id"] for p in listing["plugins"]]
        for p in PLUGINS:
            check(p in ids, "the daemon should register %s (found %s; rejected %s)" % (p, ids, listing["rejected"]))
        ok("API: GET / needs no token, /v1/plugins is 401 without it and lists %s" % ", ".join(ids))

        driver = ChromeDriver(work)
        browser = Browser(driver, os.path.join(work, "chromium-profile"))
        ok("headless Chromium %s started through chromedriver" % browser.version)

        # 1. The page with the token: every plugin gets a row with a real state.
        browser.go(daemon.url + "#token=" + token)
        for p in PLUGINS:
            wait_for("the row of %s" % p, lambda p=p: browser.find('tr[data-plugin="%s"]' % p))
        states = {p: wait_for("a state in the row of %s" % p, lambda p=p: browser.text(cell(p, "state")))
                  for p in PLUGINS}
        for p, s in states.items():
            check(s in STATES, "the state cell of %s should show a state, shows %r" % (p, s))
        ok("rows for %s, states %s" % (", ".join(PLUGINS), states))
        check(browser.text("#banner") in ("", None) or not browser.js("return !document.querySelector('#banner').hidden"),
              "no error banner with the right token, but it says %r" % browser.text("#banner"))

        address = browser.url()
        check("token" not in address and token not in address,
              "the token should be gone from the address bar, it shows %s" % address)
        stored = browser.js("return sessionStorage.getItem('plugvisor.token');")
        check(stored == token, "the token should be kept in sessionStorage, found %r" % stored)
        ok("token removed from the address bar (%s) and kept in sessionStorage" % address)

        daemon_pid = daemon.json("GET", "/v1/daemon", token)["pid"]
        wait_for("the daemon's pid in the header", lambda: str(daemon_pid) in (browser.text("#daemon") or ""))
        header = browser.js("return document.querySelector('#daemon').innerText.replace(/\\s*\\n\\s*/g, ' ');")
        ok("header shows the daemon (pid %d): %s" % (daemon_pid, header))

        # 2. A call through the broker shows up in the calls column.
        status, headers, body = daemon.request("POST", "/v1/call/dataProcessor/uppercase/processData", b"hello",
                                               token, "application/octet-stream")
        check(status == 200 and body == b"HELLO", "the call broker should answer HELLO, got %d %r" % (status, body[:300]))
        provider = headers.get("X-Plugvisor-Provider")
        check(provider in PLUGINS, "X-Plugvisor-Provider should name the plugin, got %r" % provider)
        calls = wait_for("calls >= 1 for %s in the page" % provider,
                         lambda: (browser.text(cell(provider, "calls")) or "0").isdigit()
                         and int(browser.text(cell(provider, "calls"))) >= 1 and browser.text(cell(provider, "calls")))
        p50 = wait_for("a p50 latency for %s" % provider,
                       lambda: (browser.text(cell(provider, "p50")) or "–") != "–" and browser.text(cell(provider, "p50")))
        ok("call broker: uppercase(hello) = HELLO by %s; the page shows calls %s, p50 %s ms" % (provider, calls, p50))

        # 3. restart: a new process, seen in the page and through the API.
        tt = "plugin-text-tools"
        before = wait_for("%s to run (it is eager)" % tt,
                          lambda: (lambda p: p if p["pid"] > 0 and p["state"] == "ready" else None)(
                              daemon.json("GET", "/v1/plugins/" + tt, token)))
        wait_for("the page to show pid %d for %s" % (before["pid"], tt),
                 lambda: browser.text(cell(tt, "pid")) == str(before["pid"]))
        browser.click(button(tt, "restart"))
        after = wait_for("%s to run again under a new pid after restart" % tt,
                         lambda: (lambda p: p if p["pid"] not in (0, before["pid"]) and p["state"] == "ready" else None)(
                             daemon.json("GET", "/v1/plugins/" + tt, token)))
        check(after["starts"] > before["starts"], "starts should grow with the restart: %d -> %d"
              % (before["starts"], after["starts"]))
        wait_for("the page to show the new pid %d and state ready" % after["pid"],
                 lambda: browser.text(cell(tt, "pid")) == str(after["pid"]) and browser.text(cell(tt, "state")) == "ready")
        ok("restart button: %s pid %d -> %d (starts %d -> %d), page shows the new pid and ready"
           % (tt, before["pid"], after["pid"], before["starts"], after["starts"]))

        # 4. disable, then enable.
        browser.click(button(tt, "disable"))
        wait_for("state disabled in the page", lambda: browser.text(cell(tt, "state")) == "disabled")
        p = daemon.json("GET", "/v1/plugins/" + tt, token)
        check(p["state"] == "disabled" and p["enabled"] is False and p["pid"] == 0,
              "the API should say disabled, enabled false, pid 0: %s %s %s" % (p["state"], p["enabled"], p["pid"]))
        status, _, body = daemon.request("POST", "/v1/call/dataProcessor/uppercase/processData", b"x",
                                         token, "application/octet-stream")
        if provider == tt:
            check(status == 503, "a call to the disabled provider should be 503, got %d %r" % (status, body[:200]))
        wait_for("the toggle to offer enable", lambda: browser.find(button(tt, "enable")))
        ok("disable button: page and API say disabled (pid 0); a call is now %d" % status)
        browser.click(button(tt, "enable"))
        wait_for("%s enabled and ready again in the page" % tt,
                 lambda: browser.text(cell(tt, "state")) == "ready" and browser.find(button(tt, "disable")))
        p = daemon.json("GET", "/v1/plugins/" + tt, token)
        check(p["enabled"] is True and p["pid"] > 0, "the API should say enabled with a process: %s" % p)
        ok("enable button: %s enabled, ready again (eager) with pid %d" % (tt, p["pid"]))

        # 5. The log of the selected plugin.
        browser.click(cell(tt, "id"))
        wait_for("the row to be selected", lambda: browser.js(
            "return document.querySelector(arguments[0]).classList.contains('selected')", 'tr[data-plugin="%s"]' % tt))
        lines = wait_for("log lines in #log", lambda: browser.js(
            "return [...document.querySelectorAll('#log .line')].map(l => [l.dataset.stream, "
            "l.querySelector('[data-field=stream]').textContent, l.querySelector('.text').textContent]);"))
        streams = {s for s, _, _ in lines}
        check(all(s == shown for s, shown, _ in lines), "each line should show its stream")
        check("event" in streams, "the log should include the supervisor's events (streams seen: %s)" % streams)
        api_lines = daemon.json("GET", "/v1/plugins/%s/logs?after=0" % tt, token)
        check(len(lines) >= min(len(api_lines["lines"]), 1), "page log %d lines, API %d" % (len(lines), len(api_lines["lines"])))
        details = wait_for("the selected plugin's details", lambda: browser.js(
            "return Object.fromEntries([...document.querySelectorAll('#details div')]"
            ".map(d => [d.querySelector('dt').textContent, d.querySelector('dd').textContent]));"))
        want = "%s (serves %s)" % (p["transport"], ", ".join(p["transports"]))
        check(details.get("transport") == want, "details should show transport %r, show %r" % (want, details))
        ok("details show the transport: %s" % details["transport"])
        n = len(lines)
        browser.click(button(tt, "restart"))  # new lines are appended, the old ones stay
        more = wait_for("new log lines appended after another restart", lambda: (lambda k: k if k > n else None)(
            browser.js("return document.querySelectorAll('#log .line').length;")))
        seqs = browser.js("return [...document.querySelectorAll('#log .line')].map(l => Number(l.dataset.seq));")
        check(seqs == sorted(set(seqs)), "log lines should be appended once each, in order: %s" % seqs)
        ok("log panel: %d lines (streams %s), %d after a restart, in order without repeats; e.g. %r"
           % (n, ", ".join(sorted(streams)), more, lines[-1][2][:80]))

        # 6. Untrusted text stays text: the hostile file name is listed, nothing ran.
        rejected = listing.get("rejected", [])
        check(any(HOSTILE_NAME in r.get("path", "") for r in rejected),
              "the daemon should list %r as rejected (not a valid plugin id); it lists %s" % (HOSTILE_NAME, rejected))
        wait_for("the rejected file in the page", lambda: HOSTILE_NAME in (browser.text("#rejected") or ""))
        check(browser.js("return document.querySelector('#rejected img') === null && !window.__pwned;"),
              "a rejected file's name was inserted as HTML")
        ok("rejected files listed, the one named %s shown as text" % HOSTILE_NAME)

        # 7. Screenshot of the working page.
        wait_for("a calm page before the screenshot", lambda: browser.js(
            "return document.querySelector('#banner').hidden && !document.querySelector('tr[aria-busy=true]');"))
        png = browser.screenshot()
        os.makedirs(os.path.dirname(os.path.abspath(screenshot_path)), exist_ok=True)
        with open(screenshot_path, "wb") as f:
            f.write(png)
        width, height = png_size(png)
        check(width >= 800 and height >= 600, "the screenshot is only %dx%d" % (width, height))
        check(len(png) > 20000, "the screenshot is only %d bytes: a blank page?" % len(png))
        ok("screenshot %s: %dx%d PNG, %d bytes" % (screenshot_path, width, height, len(png)))

        # 8. Without the token: the 401 banner, never a silent empty table.
        browser.js("sessionStorage.clear();")
        browser.go("about:blank")
        browser.go(daemon.url)
        wait_for("the 401 banner", lambda: browser.js(
            "const b = document.querySelector('#banner'); return b && !b.hidden && b.textContent;"))
        text = browser.text("#banner")
        check("token missing or wrong" in text and "#token=TOKEN" in text and daemon.url.rstrip("/") in text,
              "the banner should explain the token, says %r" % text)
        visible = browser.js("const r = document.querySelector('#banner').getBoundingClientRect();"
                             "return r.width > 0 && r.height > 0;")
        check(visible, "the banner should be visible")
        ok("without the token the page shows: %r" % text)

        browser.go(daemon.url + "#token=" + token)  # same document: taken from the hashchange
        wait_for("the banner to go once the token is given", lambda: browser.js(
            "return document.querySelector('#banner').hidden && !!document.querySelector('tr[data-plugin]');"))
        browser.go("about:blank")
        browser.go(daemon.url + "#token=wrong" + token)
        wait_for("the 401 banner with a wrong token", lambda: "token missing or wrong" in (browser.text("#banner") or ""))
        ok("giving the token in the fragment later clears the banner; a wrong token brings it back")
    finally:
        if browser is not None:
            browser.quit()
        if driver is not None:
            driver.stop()
        if daemon is not None:
            code = daemon.stop()
            log("plugvisor serve ended with %s after SIGTERM" % code)
            if code not in (0, None):
                log("daemon stderr (tail):\n" + tail(daemon.stderr_path))


def main(argv):
    if len(argv) != 4:
        sys.stderr.write("usage: %s PLUGVISOR PLUGIN_DIR SCREENSHOT.png\n" % argv[0])
        return 2
    plugvisor, plugin_dir, screenshot = argv[1:]
    for path, what in ((plugvisor, "the plugvisor binary"), (CHROMIUM, "Chromium"), (CHROMEDRIVER, "ChromeDriver")):
        if not os.access(path, os.X_OK):
            sys.stderr.write("FAIL: %s %s is missing (Chromium: apt-get install chromium chromium-driver)\n" % (what, path))
            return 1
    if not os.path.isdir(plugin_dir):
        sys.stderr.write("FAIL: plugin directory %s does not exist\n" % plugin_dir)
        return 1

    def on_signal(signum, _frame):
        raise SystemExit("interrupted by signal %d" % signum)
    signal.signal(signal.SIGTERM, on_signal)

    work = tempfile.mkdtemp(prefix="pv-dash-")
    started = time.monotonic()
    try:
        run(plugvisor, plugin_dir, screenshot, work)
    except Fail as e:
        sys.stderr.write("FAIL: %s\n" % e)
        sys.stderr.write("(logs kept in %s)\n" % work)
        return 1
    except Exception:  # noqa: BLE001: a crash of the test is a failure with its trace
        traceback.print_exc()
        sys.stderr.write("FAIL: the test itself failed (logs kept in %s)\n" % work)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    log("PASS: dashboard in Chromium (%.1fs)" % (time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
