"""A bare TLS endpoint: completes handshakes with a given certificate and serves nothing.

What the certificate check reads from a site's HTTPS proxy (port 443): only the handshake
matters, so nothing is served after it. Each connection is handled in a thread of its own,
so a client that stalls its handshake never blocks another.
"""

from __future__ import annotations

import contextlib
import socketserver
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

from licmon.simulator.certs import CertPair

_HANDSHAKE_TIMEOUT = 10.0


class TlsEndpoint(socketserver.ThreadingTCPServer):
    """Listening once constructed; ``host``/``port`` say where. Stop with ``close()``."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, context: ssl.SSLContext, host: str = "127.0.0.1", port: int = 0) -> None:
        self.context = context
        self._lock = threading.Lock()
        self._handshakes = 0
        self._failures = 0
        self._thread: threading.Thread | None = None
        super().__init__((host, port), _Handshake)
        self.host = host
        self.port = int(self.server_address[1])

    @property
    def handshakes(self) -> int:
        """Handshakes completed."""
        with self._lock:
            return self._handshakes

    @property
    def handshake_failures(self) -> int:
        with self._lock:
            return self._failures

    def _count(self, *, ok: bool) -> None:
        with self._lock:
            if ok:
                self._handshakes += 1
            else:
                self._failures += 1

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"tls-endpoint-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server_close()


class _Handshake(socketserver.BaseRequestHandler):
    server: TlsEndpoint

    def handle(self) -> None:
        tls = self.server.context.wrap_socket(
            self.request, server_side=True, do_handshake_on_connect=False
        )
        with tls:
            tls.settimeout(_HANDSHAKE_TIMEOUT)
            try:
                tls.do_handshake()
            except (ssl.SSLError, OSError):
                self.server._count(ok=False)
                return
            self.server._count(ok=True)
            # A clean close_notify, so a client that reads on sees an orderly end.
            with contextlib.suppress(ssl.SSLError, OSError):
                tls.unwrap()


def endpoint_context(server: CertPair, *, client_ca: Path | None = None) -> ssl.SSLContext:
    """The server's chain file and key; with `client_ca`, a client certificate is required."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(server.cert, server.key)
    if client_ca is not None:
        context.load_verify_locations(cafile=client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


@contextlib.contextmanager
def run_tls_endpoint(
    server: CertPair,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    client_ca: Path | None = None,
    context: ssl.SSLContext | None = None,
) -> Iterator[TlsEndpoint]:
    """A running endpoint presenting `server` (``port=0``: a free port), closed on exit.

    `context` replaces the one built from `server` and `client_ca` (to pin a TLS version).
    """
    endpoint = TlsEndpoint(context or endpoint_context(server, client_ca=client_ca), host, port)
    try:
        endpoint.start()
        yield endpoint
    finally:
        endpoint.close()
