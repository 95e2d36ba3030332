#!/usr/bin/env python3
"""A small upstream for the proxy demo (standard library only).

    upstream.py PORT

GET /api/user      a JSON user with a password and an SSN (for the redactor)
POST /api/*        echoes the JSON body back
GET /static/*      a small script file (for Cache-Control, ETag, 304)
anything else      "upstream saw METHOD PATH"
Every answer carries "Server: demo-upstream/1.0" (for the header filter to strip).
"""

import http.server
import json
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "demo-upstream/1.0"
    sys_version = ""

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Seen-Request-Id", self.headers.get("X-Request-Id", "-"))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/api/user":
            user = {"name": "ada", "password": "hunter2", "profile": {"ssn": "078-05-1120", "city": "London"}}
            self._send(200, json.dumps(user).encode(), "application/json")
        elif self.path.startswith("/static/"):
            self._send(200, b"console.log('hello from the upstream');\n", "text/javascript")
        else:
            self._send(200, f"upstream saw GET {self.path}\n".encode(), "text/plain")

    def do_POST(self) -> None:
        length = self.headers.get("Content-Length", "0")
        body = self.rfile.read(int(length) if length.isdigit() and len(length) < 10 else 0)
        self._send(200, body, self.headers.get("Content-Type", "application/octet-stream"))

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
