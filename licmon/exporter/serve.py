"""The HTTP side of `licmon exporter`: prometheus_client's WSGI app on a bounded threading
server that the caller runs and stops (`serve_forever`, `shutdown`), without an access log
line per scrape.

Bounded, because anyone who can reach the port can otherwise hold it (issue 22: 150
connections parked with unfinished headers took 0.5 GB; 1,000 slow ones were all held for
over a minute, one thread each; a backlog of 5 dropped most of 1,000 parallel scrapes):

- a connection has `HEADER_SECONDS` to send its request line and headers, and
  `REQUEST_SECONDS` in all; a reaper thread shuts down the ones past their deadline (a
  per-read socket timeout alone would let a client drip a byte every few seconds);
- request line and headers together are at most `MAX_HEADER_BYTES` (431 beyond);
- at most `MAX_CONNECTIONS` are served at once (a thread each); up to `MAX_WAITING` more
  wait in line, holding a socket and no thread; beyond that a connection waits up to
  `SLOT_WAIT_SECONDS` in the kernel's backlog, then gets 503 and is closed;
- the listen backlog is `BACKLOG` (the kernel caps it at net.core.somaxconn), so a burst
  of scrapes waits in the kernel instead of being refused;
- a scrape that fails, or a client that goes away, is one log line, never a traceback.

The standard library's WSGI server and prometheus_client's app do the HTTP; only the
bounds are added here.
"""

from __future__ import annotations

import collections
import contextlib
import http.client
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

log = logging.getLogger("licmon.exporter")

HEADER_SECONDS = 10.0
REQUEST_SECONDS = 30.0
MAX_HEADER_BYTES = 16 * 1024
MAX_CONNECTIONS = 64
MAX_WAITING = 1024
SLOT_WAIT_SECONDS = 2.0
BACKLOG = 1024


class _Reaper:
    """Shuts down connections past their deadline, all from one thread (a timer per
    connection would be a thread per connection again)."""

    def __init__(self, period: float = 0.25) -> None:
        self._deadlines: dict[socket.socket, float] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._period = period
        self._thread = threading.Thread(target=self._run, name="exporter-reaper", daemon=True)
        self._thread.start()

    def watch(self, connection: socket.socket, deadline: float) -> None:
        with self._lock:
            self._deadlines[connection] = deadline

    def forget(self, connection: socket.socket) -> None:
        with self._lock:
            self._deadlines.pop(connection, None)

    def stop(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.wait(self._period):
            now = time.monotonic()
            with self._lock:
                late = [conn for conn, deadline in self._deadlines.items() if deadline <= now]
                for connection in late:
                    del self._deadlines[connection]
            for connection in late:
                # The handler's blocked read or write returns; its thread ends.
                with contextlib.suppress(OSError):  # already closed by its handler
                    connection.shutdown(socket.SHUT_RDWR)


class _HeaderBudget:
    """The connection's reader, refusing more than `budget` bytes of request line and
    headers: http.client would take 100 headers of 64 kB each."""

    def __init__(self, inner: Any, budget: int) -> None:
        self._inner = inner
        self._left = budget
        self.headers_done = False

    def readline(self, size: int | None = -1) -> bytes:
        if self.headers_done:
            return bytes(self._inner.readline(size))
        if self._left <= 0:
            # parse_request answers this one with 431 (wsgiref's request line: see handle).
            raise http.client.LineTooLong("request line and headers")
        wanted = self._left if size is None or size < 0 else min(size, self._left)
        line = bytes(self._inner.readline(wanted))
        self._left -= len(line)
        if self._left <= 0 and not line.endswith(b"\n"):
            raise http.client.LineTooLong("request line and headers")
        return line

    def read(self, size: int | None = -1) -> bytes:
        return bytes(self._inner.read(size))

    def close(self) -> None:
        self._inner.close()


class _BoundedHandler(WSGIRequestHandler):
    server: BoundedServer

    def setup(self) -> None:
        super().setup()
        self._started = time.monotonic()
        # Every read and write also has its own timeout: no single call waits longer.
        self.connection.settimeout(HEADER_SECONDS)
        self.server.reaper.watch(self.connection, self._started + HEADER_SECONDS)
        self.rfile = _HeaderBudget(self.rfile, MAX_HEADER_BYTES)  # type: ignore[assignment]

    def handle(self) -> None:
        try:
            super().handle()
        except http.client.LineTooLong:
            # The request line itself was past the budget (wsgiref reads it unguarded, so
            # nothing is parsed yet to answer with send_error).
            self.close_connection = True
            self.wfile.write(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                b"Content-Length: 0\r\nConnection: close\r\n\r\n"
            )

    def parse_request(self) -> bool:
        parsed = super().parse_request()
        if parsed:
            self.rfile.headers_done = True  # type: ignore[attr-defined]
            # Headers in: the rest of the request (the scrape, the answer) has its own bound.
            self.server.reaper.watch(self.connection, self._started + REQUEST_SECONDS)
        return parsed

    def finish(self) -> None:
        self.server.reaper.forget(self.connection)
        super().finish()

    def log_message(self, format: str, *args: object) -> None:  # one scrape every few seconds
        pass


class BoundedServer(ThreadingWSGIServer):
    request_queue_size = BACKLOG

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.reaper = _Reaper()
        self._lock = threading.Condition()
        self._active = 0  # serving threads
        # Accepted connections waiting for a serving thread: a socket each, no thread.
        self._waiting: collections.deque[tuple[Any, Any, float]] = collections.deque()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        # In the accepting thread. Every thread busy: the connection waits in line (a
        # socket, no thread); the line full: this thread waits a little (new connections
        # wait in the kernel's backlog meanwhile), then turns this one away with 503.
        deadline = time.monotonic() + SLOT_WAIT_SECONDS
        with self._lock:
            while self._active >= MAX_CONNECTIONS and len(self._waiting) >= MAX_WAITING:
                left = deadline - time.monotonic()
                if left <= 0:
                    _refuse(request)
                    self.shutdown_request(request)
                    return
                self._lock.wait(left)
            if self._active >= MAX_CONNECTIONS:
                self._waiting.append((request, client_address, time.monotonic()))
                return
            self._active += 1
        try:
            threading.Thread(
                target=self._serve, args=(request, client_address), daemon=True
            ).start()
        except BaseException:
            with self._lock:
                self._active -= 1
            raise

    def _serve(self, request: Any, client_address: Any) -> None:
        """Serves the connection, then those waiting in line, until there are none."""
        while True:
            # finish_request, handle_error on failure, shutdown_request in any case.
            self.process_request_thread(request, client_address)
            with self._lock:
                self._lock.notify()
                while self._waiting:
                    request, client_address, accepted = self._waiting.popleft()
                    if time.monotonic() - accepted < REQUEST_SECONDS:
                        break
                    self.shutdown_request(request)  # waited too long: nobody is listening
                else:
                    self._active -= 1
                    return

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away or was cut at its deadline: not worth a traceback.
        import sys

        exc = sys.exc_info()[1]
        log.debug("exporter connection ended: %s", type(exc).__name__)

    def server_close(self) -> None:
        self.reaper.stop()
        super().server_close()


def _refuse(request: socket.socket) -> None:
    try:
        request.setblocking(False)
        request.send(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
    except OSError:
        pass  # its buffer is full or it is gone: closed either way


def _guarded(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """The metrics app, answering 500 with one log line when a scrape fails (wsgiref would
    print a traceback to stderr at every scrape)."""
    reported: set[str] = set()

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            return app(environ, start_response)
        except Exception as exc:
            signature = type(exc).__name__
            if signature not in reported:
                reported.add(signature)
                log.warning("a scrape failed: %s (logged once per kind of error)", signature)
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [b"scrape failed; see the exporter's log\n"]

    return guarded


def serve(registry: CollectorRegistry, host: str, port: int) -> WSGIServer:
    """Bound and listening (OSError if the address cannot be served); not yet serving."""
    return make_server(
        host, port, _guarded(make_wsgi_app(registry)), BoundedServer, handler_class=_BoundedHandler
    )
