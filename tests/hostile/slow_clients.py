"""Hostile HTTP clients for the exporter, on real loopback sockets: connections parked with
unfinished headers, oversized headers, and a burst of parallel scrapes.

Used by tests/hostile/test_exporter_server.py and by bench/exporter_hostile.py (which also
runs the server of before the bounds, for the figures in docs/reliability.md).
"""

from __future__ import annotations

import os
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REQUEST = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"


@dataclass(frozen=True)
class Usage:
    rss_mb: float
    threads: int


def usage(pid: int) -> Usage:
    fields = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            fields[name] = value.split()
    return Usage(rss_mb=int(fields["VmRSS"][0]) / 1024, threads=int(fields["Threads"][0]))


@contextmanager
def exporter(
    config: Path, env: dict[str, str], port: int, log: Path, old_server: bool = False
) -> Iterator[subprocess.Popen[bytes]]:
    """`licmon exporter` in a process of its own, serving when this yields. `old_server`:
    the same collector on the threading server of before the bounds (bench only)."""
    if old_server:
        command = [sys.executable, "-c", _OLD_SERVER, str(config), str(port)]
    else:
        command = [sys.executable, "-m", "licmon.cli.main", "exporter", "--config", str(config),
                   "--port", str(port)]  # fmt: skip
    base = {key: value for key, value in os.environ.items() if not key.startswith("LICMON_")}
    with log.open("wb") as err:
        process = subprocess.Popen(
            command, cwd=REPO, env=base | env, stdout=subprocess.DEVNULL, stderr=err
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise AssertionError(log.read_text()) from None
                time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_OLD_SERVER = """
import sys
from wsgiref.simple_server import WSGIRequestHandler, make_server
import redis
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer
from licmon.exporter.collector import FleetCollector
from licmon.plugins import load_config
config = load_config(sys.argv[1])
client = redis.Redis.from_url(config.broker.url.get_secret_value())
registry = CollectorRegistry(auto_describe=False)
registry.register(FleetCollector(client, config))
class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass
make_server("127.0.0.1", int(sys.argv[2]), make_wsgi_app(registry), ThreadingWSGIServer,
            handler_class=Quiet).serve_forever()
"""


def park(port: int, count: int, header_bytes: int, line_bytes: int = 1000) -> list[socket.socket]:
    """`count` connections, each with `header_bytes` of headers (lines of `line_bytes`)
    sent and never finished. http.client takes 100 header lines of up to 64 kB: lines of
    60 kB make ~6 MB a connection, as in the issue."""
    pad = b"X-Pad: " + b"a" * line_bytes + b"\r\n"
    parked = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.setblocking(False)
        data = REQUEST + pad * max(header_bytes // len(pad), 1)
        sent = 0
        deadline = time.monotonic() + 5
        while sent < len(data) and time.monotonic() < deadline:
            try:
                sent += sock.send(data[sent:])
            except BlockingIOError:
                time.sleep(0.001)  # the server reads no more: it is full or has refused
            except OSError:
                break  # cut by the server (its header cap)
        parked.append(sock)
    return parked


def let_go(sock: socket.socket) -> bool:
    """Whether the server answered (431, 503) or closed the connection."""
    try:
        sock.recv(1, socket.MSG_PEEK)  # data: an answer; b"": closed
        return True
    except BlockingIOError:
        return False  # still held, unanswered
    except OSError:
        return True  # reset


def scrape_burst(port: int, count: int, seconds: float) -> dict[str, int]:
    """`count` scrapes opened at once; how they ended (status code, or refused/timeout)."""
    selector = selectors.DefaultSelector()
    outcomes: dict[str, int] = {}
    answers: dict[socket.socket, bytearray] = {}
    for _ in range(count):
        sock = socket.socket()
        sock.setblocking(False)
        with suppress(BlockingIOError):
            sock.connect(("127.0.0.1", port))
        selector.register(sock, selectors.EVENT_WRITE)
        answers[sock] = bytearray()
    deadline = time.monotonic() + seconds
    while answers and time.monotonic() < deadline:
        for key, events in selector.select(timeout=0.2):
            sock = key.fileobj  # type: ignore[assignment]
            assert isinstance(sock, socket.socket)
            if events & selectors.EVENT_WRITE:
                try:
                    sock.send(REQUEST + b"Connection: close\r\n\r\n")
                    selector.modify(sock, selectors.EVENT_READ)
                except OSError:
                    _end(selector, answers, outcomes, sock, "refused")
                continue
            try:
                chunk = sock.recv(65536)
            except OSError:
                _end(selector, answers, outcomes, sock, "reset")
                continue
            if chunk:
                answers[sock] += chunk
            else:
                status = bytes(answers[sock][9:12]).decode() or "empty"
                _end(selector, answers, outcomes, sock, status)
    for sock in list(answers):
        _end(selector, answers, outcomes, sock, "timeout")
    return outcomes


def _end(
    selector: selectors.BaseSelector,
    answers: dict[socket.socket, bytearray],
    outcomes: dict[str, int],
    sock: socket.socket,
    outcome: str,
) -> None:
    selector.unregister(sock)
    sock.close()
    del answers[sock]
    outcomes[outcome] = outcomes.get(outcome, 0) + 1
