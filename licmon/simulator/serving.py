"""What the simulators' HTTPS servers share: the TLS handshake in the connection's own
thread (a stalled client blocks nobody else), open connections tracked so a test can cut
them (a restart, seen from a client), and a group of servers started in threads and stopped
together."""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger("licmon.simulator")
# A client that connects and never completes its handshake is dropped after this long.
HANDSHAKE_TIMEOUT = 10.0


class TlsServer(ThreadingHTTPServer):
    """An HTTPS server named `what` in its log lines ("site prod", "tenant acme")."""

    daemon_threads = True
    block_on_close = False  # open keep-alive connections are shut down by close() instead

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        context: ssl.SSLContext,
        what: str,
    ) -> None:
        self.context = context
        self.what = what
        self._open: set[ssl.SSLSocket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def handshake_refused(self, tls: ssl.SSLSocket, exc: BaseException) -> None:
        """A handshake failed (a subclass may count it, or let the client read the alert)."""
        log.info("%s: TLS handshake refused: %s", self.what, exc)

    def handshake_done(self) -> None:
        """A handshake succeeded (a subclass may count it)."""

    def finish_request(self, request: Any, client_address: Any) -> None:
        tls = self.context.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
        try:
            tls.settimeout(HANDSHAKE_TIMEOUT)
            try:
                tls.do_handshake()
            except (ssl.SSLError, OSError) as exc:
                self.handshake_refused(tls, exc)
                return
            self.handshake_done()
            with self._open_lock:
                self._open.add(tls)
            try:
                self.RequestHandlerClass(tls, client_address, self)
            except (ssl.SSLError, OSError) as exc:
                # TLS 1.3 checks a client certificate after the client's side of the
                # handshake is done, so a refused certificate surfaces here.
                log.info("%s: connection ended: %s", self.what, exc)
        finally:
            with self._open_lock:
                self._open.discard(tls)
            with contextlib.suppress(OSError):
                tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("%s: unexpected error", self.what)

    def drop_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class Servers:
    """Servers serving in threads of their own, cut and stopped together."""

    def __init__(self) -> None:
        self._servers: list[TlsServer] = []
        self._threads: list[threading.Thread] = []

    def start(self, server: TlsServer, name: str, poll_interval: float = 0.05) -> None:
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": poll_interval},
            name=name,
            daemon=True,
        )
        self._servers.append(server)
        self._threads.append(thread)
        thread.start()

    def drop_connections(self) -> None:
        for server in self._servers:
            server.drop_connections()

    def close(self) -> None:
        # shutdown() waits up to a poll interval; stopping every server at once keeps
        # closing many as fast as closing one.
        stoppers = [threading.Thread(target=server.shutdown) for server in self._servers]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        for server in self._servers:
            server.drop_connections()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()
