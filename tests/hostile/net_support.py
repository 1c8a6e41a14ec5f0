"""Measuring hostile cases, and the raw servers that play the hostile peers.

Every hostile test states a bound and measures against it: wall time with a monotonic
clock, memory as the peak of Python allocations (`tracemalloc`) for work done in the test's
own process, or as the peak resident size of a child process (`os.wait4`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from licmon.simulator import QlikCerts

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Cost:
    seconds: float = 0.0
    peak_mb: float = 0.0  # peak of Python allocations during the block


@contextlib.contextmanager
def measured() -> Iterator[Cost]:
    """Time and peak allocation of the block (tracemalloc: what the code itself allocated)."""
    cost = Cost()
    tracemalloc.start()
    began = time.monotonic()
    try:
        yield cost
    finally:
        cost.seconds = time.monotonic() - began
        cost.peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    max_rss_mb: float  # peak resident size of the child, from its own rusage


def run_licmon(
    args: list[str], *, timeout: float = 120.0, env: dict[str, str] | None = None
) -> Run:
    """`python -m licmon.cli.main ARGS` in a child process; killed at `timeout`."""
    command = [sys.executable, "-m", "licmon.cli.main", *args]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.monotonic()
        process = subprocess.Popen(command, stdout=out, stderr=err, cwd=REPO, env=env)
        killer = threading.Timer(timeout, process.kill)
        killer.start()
        try:
            # wait4, not wait: the rusage of this child alone, with its peak RSS.
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - began
        out.seek(0)
        err.seek(0)
        return Run(
            returncode=process.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
            seconds=seconds,
            max_rss_mb=usage.ru_maxrss / 1024,  # kilobytes on Linux
        )


# --- raw peers ----------------------------------------------------------------------------------


class RawServer:
    """A TCP (optionally TLS) listener whose every connection is handed to `serve(conn)`.

    Used where an HTTP server library would be too polite: dripping a byte at a time,
    never finishing headers, endless bodies.
    """

    def __init__(
        self, serve: Callable[[socket.socket], None], context: ssl.SSLContext | None = None
    ) -> None:
        self._serve = serve
        self._context = context
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.stopping = threading.Event()
        self.connections = 0
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._handle, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _handle(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            if self._context is not None:
                conn = self._context.wrap_socket(conn, server_side=True)
            self._serve(conn)
        with contextlib.suppress(OSError):
            conn.close()

    def close(self) -> None:
        self.stopping.set()
        self._accepter.join(timeout=5)
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)


@contextlib.contextmanager
def raw_server(
    serve: Callable[[RawServer, socket.socket], None], context: ssl.SSLContext | None = None
) -> Iterator[RawServer]:
    holder: list[RawServer] = []
    server = RawServer(lambda conn: serve(holder[0], conn), context)
    holder.append(server)
    try:
        yield server
    finally:
        server.close()


def read_request(conn: socket.socket) -> bytes:
    """The request head and as much body as its Content-Length says."""
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(4096)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def drip(server: RawServer, conn: socket.socket, data: bytes, interval: float) -> None:
    """Send `data` one byte every `interval` seconds, until done or the server stops."""
    for index in range(len(data)):
        if server.stopping.wait(interval):
            return
        conn.sendall(data[index : index + 1])


# --- licmon check against simulated sites ---------------------------------------------------

# A credential in a static QRS header: it must never appear in any output.
HEADER_SECRET = "hdr-s3cret-7f3a91"


def check_config(
    directory: Path,
    certs: QlikCerts,
    sites: dict[str, int],
    *,
    connect: float = 1.0,
    read: float = 1.0,
    threshold_days: int = 60,
) -> Path:
    """A config for `licmon check` of loopback sites (name: port), each with a secret header."""
    document = {
        "Butler": {
            "qlikSenseLicense": {
                "serverLicenseMonitor": {"alert": {"thresholdDays": threshold_days}}
            }
        },
        "licmon": {
            "sites": [
                {
                    "name": name,
                    "host": "127.0.0.1",
                    "port": port,
                    "verifyHostname": False,
                    "cert": {
                        "clientCert": str(certs.client_cert),
                        "clientCertKey": str(certs.client_key),
                        "clientCertCA": str(certs.root_ca),
                    },
                    "headers": [{"name": "X-Api-Key", "value": HEADER_SECRET}],
                }
                for name, port in sites.items()
            ],
            "timeouts": {"qrsConnect": connect, "qrsRead": read},
        },
    }
    path = directory / "licmon.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def assert_clean_output(*texts: str) -> None:
    """No secret, no terminal control character, no traceback in anything printed."""
    for text in texts:
        assert HEADER_SECRET not in text
        assert "Traceback" not in text
        bad = [char for char in text if char not in "\n\t" and unicodedata.category(char) == "Cc"]
        assert bad == [], f"control characters {bad!r} in {text!r}"


# --- hostile HTTP peers for the senders -------------------------------------------------------


@dataclass
class Peer:
    """What a hostile HTTP peer does with each request, and what it saw."""

    head: bytes = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n"
    body: bytes = b"{}"
    drip: float | None = None  # seconds between bytes of head + body
    endless: int = 0  # after `body`, this many bytes more, 64 KB at a time (0: none)
    requests: list[bytes] = field(default_factory=list)
    sent: int = 0  # bytes of the answer that went out before the client hung up
    hung_up: threading.Event = field(default_factory=threading.Event)

    def serve(self, server: RawServer, conn: socket.socket) -> None:
        self.requests.append(read_request(conn))
        try:
            if self.drip is not None:
                drip(server, conn, self.head + self.body, self.drip)
                return
            conn.sendall(self.head + self.body)
            self.sent += len(self.head + self.body)
            chunk = b"x" * 65536
            for _ in range(self.endless // len(chunk)):
                if server.stopping.is_set():
                    return
                conn.sendall(chunk)
                self.sent += len(chunk)
        except OSError:
            self.hung_up.set()
            return
        with contextlib.suppress(OSError):
            conn.shutdown(socket.SHUT_WR)
            conn.settimeout(2)
            while conn.recv(4096):
                pass


@contextlib.contextmanager
def peer(behaviour: Peer) -> Iterator[RawServer]:
    with raw_server(behaviour.serve) as server:
        yield server


def in_thread(call: Callable[[], object], limit: float) -> tuple[BaseException | None, float]:
    """Run `call` in a thread, give it `limit` seconds: (what it raised, seconds it took).

    A thread, so that a call that is never cut off fails the test instead of hanging it.
    """
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    began = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    seconds = time.monotonic() - began
    assert outcome, f"still running after {limit} s"
    return outcome[0], seconds


def dripping_relay(
    upstream_port: int, interval: float
) -> Callable[[RawServer, socket.socket], None]:
    """A TCP relay to a loopback port that passes what the client sends at once and what the
    upstream answers one byte every `interval`: a TLS handshake dripped, certificates and all.
    """

    def serve(server: RawServer, conn: socket.socket) -> None:
        with socket.create_connection(("127.0.0.1", upstream_port), timeout=5) as upstream:

            def forward() -> None:
                with contextlib.suppress(OSError):
                    while data := conn.recv(65536):
                        upstream.sendall(data)

            threading.Thread(target=forward, daemon=True).start()
            upstream.settimeout(None)
            while not server.stopping.is_set():
                data = upstream.recv(65536)
                if not data:
                    return
                drip(server, conn, data, interval)

    return serve
