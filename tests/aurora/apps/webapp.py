"""A tiny web server for Aurora tests: `webapp.py HOST PORT VERSION HEALTH` answers `/health`
with HEALTH (`ok` passes Aurora's check) and `/` with VERSION."""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = (sys.argv[4] if self.path == "/health" else sys.argv[3]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
