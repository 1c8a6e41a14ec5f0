"""HTTP calls with an overall deadline and a capped answer, on top of requests.

requests' timeouts bound each socket operation, not the call: a peer that sends one byte per
second restarts the read timeout with every byte and is never cut off (a QRS check was still
waiting after 90 s with a 30 s read timeout), and `response.content` reads an answer of any
size (a 1 GiB webhook answer cost 2 GB). Here every call

- ends by a deadline on the monotonic clock, connect plus read timeout: a watchdog shuts the
  connection's socket down when it passes, wherever the call is (TCP or TLS handshake, the
  status line, headers, body), and the call raises `DeadlineExceeded`;
- reads at most `limit` bytes of the body and closes the connection when there is more,
  raising `AnswerTooLarge` or keeping the first `limit` bytes, as the caller chooses.

The watchdog needs the socket a connection is using, which urllib3 does not expose while it
connects, so sessions get `BoundedAdapter`, whose connection classes register their socket
with the call running in the same context. The socket is shut down through a duplicate
descriptor owned by the call: `shutdown` acts on the connection, not the descriptor, so it
wakes a blocked read, and a descriptor number reused after urllib3 closed its own can never
be hit. Connections made outside `bounded_request` behave as urllib3's own.
"""

from __future__ import annotations

import contextlib
import contextvars
import heapq
import itertools
import json
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.poolmanager import PoolManager

from licmon.resources import current

_CHUNK = 64 * 1024


class DeadlineExceeded(requests.exceptions.Timeout):
    """The whole call (connect, request, status line, headers, body) took too long."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"no complete answer within {seconds:g} s")
        self.seconds = seconds


class AnswerTooLarge(requests.RequestException):
    """The answer's body is longer than the caller reads."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"answer larger than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class Answer:
    """What was read of an answer: status, headers and at most `limit` bytes of body."""

    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes
    # False when the body was longer than the limit and only its start was read.
    complete: bool = True

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; ValueError for anything else, a too deeply nested one included."""
        try:
            return json.loads(self.body)
        except RecursionError:
            raise ValueError("JSON nested too deeply to read") from None


# --- the watchdog ---------------------------------------------------------------------------


class Watchdog:
    """One thread per process that expires every call's deadline, in deadline order.

    A thread per call (threading.Timer) costs about 170 µs of CPU to start and stop, ten
    times per check; this one sleeps until the nearest deadline. Calls that end in time are
    dropped from the heap lazily, when their deadline comes up. The process's one is
    `licmon.resources.current().watchdog`: a forked child, which has none of its parent's
    threads, gets a new one with the rest of its process state.
    """

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._heap: list[tuple[float, int, _Watch]] = []
        self._count = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: float, watch: _Watch) -> None:
        with self._wake:
            heapq.heappush(self._heap, (deadline, next(self._count), watch))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="http-deadlines", daemon=True
                )
                self._thread.start()
            # Woken only when this deadline is now the nearest: the thread already sleeps
            # until an earlier one otherwise (one wake-up per call costs a thread switch,
            # and the GIL, on every HTTP call of a threads pool).
            if self._heap[0][2] is watch:
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap or (
                    not self._heap[0][2].done and self._heap[0][0] > time.monotonic()
                ):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._wake.wait(timeout)
                _, _, due = heapq.heappop(self._heap)
            due.expire()  # outside the lock: a shutdown() may take a moment


class _Watch:
    """Shuts down whatever socket the call is using once its deadline passes."""

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self.done = False
        self.expired = False
        current().watchdog.watch(time.monotonic() + max(seconds, 0.0), self)

    def expire(self) -> None:
        with self._lock:
            if self.done:
                return
            self.expired = True
            self._shutdown()

    def _shutdown(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)

    def attach(self, sock: socket.socket) -> None:
        """Watch `sock` from now on (a new connection, or a kept-alive one being reused)."""
        try:
            duplicate = socket.fromfd(sock.fileno(), sock.family, sock.type)
        except OSError:
            return  # already closed: nothing left to wake
        with self._lock:
            previous, self._socket = self._socket, duplicate
            if self.expired:
                self._shutdown()
        if previous is not None:
            previous.close()

    def close(self) -> None:
        with self._lock:
            self.done = True
            duplicate, self._socket = self._socket, None
        if duplicate is not None:
            duplicate.close()


_current: contextvars.ContextVar[_Watch | None] = contextvars.ContextVar(
    "licmon_http_watch", default=None
)


def _attach(sock: socket.socket | None) -> None:
    watch = _current.get()
    if watch is not None and sock is not None:
        watch.attach(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _attach(sock)  # before the TLS handshake, which can be dripped too
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        _attach(self.sock)  # a kept-alive connection: its socket exists already
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _attach(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        _attach(self.sock)
        super().request(*args, **kwargs)


class _WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOL_CLASSES = {"http": _WatchedHTTPConnectionPool, "https": _WatchedHTTPSConnectionPool}


def _watch_pools(manager: PoolManager) -> PoolManager:
    # An instance attribute of urllib3's PoolManager (and ProxyManager) for this purpose.
    manager.pool_classes_by_scheme = dict(_POOL_CLASSES)  # type: ignore[assignment]
    return manager


class BoundedAdapter(HTTPAdapter):
    """requests' adapter whose connections the call's watchdog can reach."""

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        _watch_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        return _watch_pools(super().proxy_manager_for(proxy, **proxy_kwargs))


def bounded_session(session: requests.Session) -> requests.Session:
    """Mount `BoundedAdapter` on `session` unless it has it (its pools are kept if so)."""
    for prefix in ("https://", "http://"):
        if not isinstance(session.adapters.get(prefix), BoundedAdapter):
            session.mount(prefix, BoundedAdapter(max_retries=0))
    return session


# --- the call -------------------------------------------------------------------------------


def bounded_request(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: tuple[float, float],
    limit: int,
    oversize: Literal["error", "truncate"] = "error",
    deadline: float | None = None,
    **kwargs: Any,
) -> Answer:
    """One HTTP call through `session` (which must have `BoundedAdapter` mounted).

    `timeout` is requests' (connect, read) pair; the whole call ends by their sum, or by
    `deadline` (a `time.monotonic()` value) when given, for calls that share one deadline.
    Raises what requests raises, `DeadlineExceeded` (a requests Timeout) instead of whatever
    the shut-down socket made requests raise, and `AnswerTooLarge` when `oversize` is
    "error". Redirects are never followed: a 3xx is an answer like any other.
    """
    seconds = sum(timeout)
    began = time.monotonic()
    end = began + seconds if deadline is None else deadline
    watch = _Watch(end - began)
    token = _current.set(watch)
    try:
        try:
            response = session.request(
                method, url, timeout=timeout, stream=True, allow_redirects=False, **kwargs
            )
        except requests.RequestException:
            if watch.expired:
                raise DeadlineExceeded(round(end - began, 3)) from None
            raise
        try:
            body, complete = _read_body(response, limit)
        except requests.RequestException:
            if watch.expired:
                raise DeadlineExceeded(round(end - began, 3)) from None
            raise
        finally:
            response.close()  # a connection with unread body left is closed, not reused
        if not complete and oversize == "error":
            raise AnswerTooLarge(limit)
        return Answer(
            status=response.status_code,
            reason=response.reason or "",
            headers=dict(response.headers),
            body=body,
            complete=complete,
        )
    finally:
        _current.reset(token)
        watch.close()


def _read_body(response: requests.Response, limit: int) -> tuple[bytes, bool]:
    """At most `limit` bytes of the body, and whether that was all of it."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        return b"", False  # not worth reading any of it
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(_CHUNK):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return b"".join(chunks)[:limit], False
    except requests.exceptions.ConnectionError as exc:
        # requests reports a read timeout in the body as a ConnectionError; say what it is.
        if exc.args and isinstance(exc.args[0], urllib3.exceptions.ReadTimeoutError):
            raise requests.exceptions.ReadTimeout(str(exc.args[0])) from None
        raise
    return b"".join(chunks), True
