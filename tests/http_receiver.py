"""A real HTTP(S) receiver for the webhook sender tests, and the test PKI it (and the private
Mosquitto) serve with.

Every request is recorded (method, path, query, headers, body). Per-path behaviour: answer with
a status after an optional delay, or never answer (to exercise client timeouts).
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from licmon.simulator import ensure_misfit_certs, ensure_qlik_certs

# --- test PKI ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    """A CA, a loopback server certificate it issued, and an unrelated CA that must be refused."""

    ca_file: Path
    server_cert: Path
    server_key: Path
    other_ca_file: Path


def make_test_pki(
    directory: Path, server_names: tuple[str, ...] = ("localhost", "127.0.0.1")
) -> Pki:
    """The simulator's own certificate tooling: its root, its server pair, its rogue CA."""
    certs = ensure_qlik_certs(directory, server_names)
    return Pki(
        ca_file=certs.root_ca,
        server_cert=certs.server.cert,
        server_key=certs.server.key,
        other_ca_file=ensure_misfit_certs(certs).rogue_root_ca,
    )


# --- receiver ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    # When it arrived (time.monotonic()): fault tests measure recovery times with it.
    at: float = field(default_factory=time.monotonic)
    # The status it was answered with (0: never answered); a refused call is no delivery.
    status: int = 0
    # The caller's TCP port: the fault tests find the process that sent it.
    client_port: int = 0

    @property
    def params(self) -> list[tuple[str, str]]:
        return parse_qsl(self.query, keep_blank_values=True)

    def json(self) -> object:
        return json.loads(self.body)


@dataclass
class Behaviour:
    status: int = 200
    delay: float = 0.0
    hang: bool = False  # accept, read the request, never answer


@dataclass
class HttpReceiver:
    server: ThreadingHTTPServer
    scheme: str
    requests: list[Recorded] = field(default_factory=list)
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def on(self, path: str, **behaviour: object) -> None:
        self.behaviours[path] = Behaviour(**behaviour)  # type: ignore[arg-type]

    def received(self, path: str | None = None) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if path is None or r.path == path]


def _handler_for(receiver: HttpReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # One write per answer. Unbuffered, the status line and headers would leave in one
        # send() and the body in a second; with Nagle on, the second waits for the ACK of the
        # first, which a kept-alive client delays (~40 ms on Linux): every webhook call to this
        # receiver took 40 ms more. Buffered, the answer leaves whole at the flush below; and
        # TCP_NODELAY (StreamRequestHandler.setup) sends it without waiting for any ACK.
        wbufsize = 1 << 16
        disable_nagle_algorithm = True

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            arrived = time.monotonic()
            parts = urlsplit(self.path)
            behaviour = receiver.behaviours.get(parts.path, Behaviour())
            with receiver.lock:
                receiver.requests.append(
                    Recorded(
                        method=self.command,
                        path=parts.path,
                        query=parts.query,
                        headers={k.lower(): v for k, v in self.headers.items()},
                        body=body,
                        at=arrived,
                        status=0 if behaviour.hang else behaviour.status,
                        client_port=int(self.client_address[1]),
                    )
                )
            if behaviour.hang:
                receiver.stopping.wait()
                return
            if behaviour.delay:
                receiver.stopping.wait(behaviour.delay)
            payload = b'{"ok": true}'
            self.send_response(behaviour.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()  # the whole answer in one send

        do_GET = do_POST = do_PUT = do_DELETE = _handle

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # Refused TLS handshakes are what some tests provoke; no traceback on stderr.
        pass


def run_receiver(pki: Pki | None = None) -> Iterator[HttpReceiver]:
    """Yield a running receiver on a free loopback port (HTTPS when `pki` is given)."""
    server = _QuietServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    receiver = HttpReceiver(server=server, scheme="https" if pki else "http")
    server.RequestHandlerClass = _handler_for(receiver)
    if pki is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pki.server_cert, pki.server_key)
        # The handshake happens in the handler thread, so a client that refuses our certificate
        # cannot stall the accept loop.
        server.socket = context.wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False
        )
    thread = threading.Thread(
        target=server.serve_forever, args=(0.05,), name="http-receiver", daemon=True
    )
    thread.start()
    try:
        yield receiver
    finally:
        receiver.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
