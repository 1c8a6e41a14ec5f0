"""A stand-in for an InfluxDB 2.x/3.x write endpoint, backed by the real InfluxDB 1.6.

No 2.x server can be installed here, so this real HTTP server speaks the 2.x write API
(`POST /api/v2/write?org=&bucket=&precision=`, `Authorization: Token …`, 2.x JSON errors),
checks the token, and forwards the line protocol to `/write?db=<bucket>` of the 1.6 server so
the test can read the point back with InfluxQL.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import requests

# 2.x precision names → 1.x ones.
_PRECISION = {"ns": "n", "us": "u", "ms": "ms", "s": "s"}


@dataclass
class V2Bridge:
    server: ThreadingHTTPServer
    influx_url: str
    token: str
    writes: list[dict[str, str]] = field(default_factory=list)
    # Answer every write with this status (and a 2.x error body) instead of forwarding.
    force_status: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def _handler_for(bridge: V2Bridge) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int, code: str = "", message: str = "") -> None:
            body = json.dumps({"code": code, "message": message}).encode() if code else b""
            self.send_response(status)
            if body:
                self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            if parts.path != "/api/v2/write":
                self._answer(404, "not found", "path not found")
                return
            if self.headers.get("Authorization") != f"Token {bridge.token}":
                self._answer(401, "unauthorized", "unauthorized access")
                return
            bridge.writes.append({**query, "body": body.decode()})
            if bridge.force_status is not None:
                self._answer(bridge.force_status, "internal error", "forced by the test")
                return
            bucket = query.get("bucket", "")
            if not bucket:
                self._answer(400, "invalid", "bucket not specified")
                return
            precision = _PRECISION.get(query.get("precision", "ns"))
            if precision is None:
                self._answer(400, "invalid", "invalid precision")
                return
            upstream = requests.post(
                f"{bridge.influx_url}/write",
                params={"db": bucket, "precision": precision},
                data=body,
                timeout=5,
            )
            if upstream.status_code == 204:
                self._answer(204)
                return
            error = upstream.json().get("error", upstream.text)
            if upstream.status_code == 404:
                self._answer(404, "not found", f'bucket "{bucket}" not found')
            else:
                self._answer(upstream.status_code, "invalid", error)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def run_bridge(influx_url: str, token: str) -> Iterator[V2Bridge]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    bridge = V2Bridge(server=server, influx_url=influx_url, token=token)
    server.RequestHandlerClass = _handler_for(bridge)
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="influx-v2-bridge", daemon=True
    )
    thread.start()
    try:
        yield bridge
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
