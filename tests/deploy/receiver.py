"""The deploy tests' webhook receiver, run in a container of the stack (the licmon image's
Python, stdlib only): answers 200 to every request and prints one JSON line per request on
stdout (`docker logs`), with licmon's check id and site headers."""

from __future__ import annotations

import json
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        record = {
            "at": time.time(),
            "method": self.command,
            "path": self.path,
            "checkId": self.headers.get("X-Licmon-Check-Id"),
            "site": self.headers.get("X-Licmon-Site"),
            "body": body,
        }
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        print("RECORD " + json.dumps(record), flush=True)

    do_PUT = do_POST

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
