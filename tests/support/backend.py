"""A small HTTP backend for load-balancer tests: `python backend.py HOST PORT` serves the current
directory like `python -m http.server`, but with a listen backlog fit for a request loop
(http.server's is 5, which a single backend under load overflows)."""

from __future__ import annotations

import functools
import http.server
import os
import sys


class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    handler = functools.partial(QuietHandler, directory=os.getcwd())
    Server((sys.argv[1], int(sys.argv[2])), handler).serve_forever()
