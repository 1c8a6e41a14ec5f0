"""A QRS look-alike over mutual TLS: ``GET /qrs/license``, ``GET /qrs/about`` and
``GET /qrs/license/accesstypeoverview``.

One HTTPS server per simulated site, each on its own port, each with its own license, access
types and fault. Tests change a site's license and fault while it runs and read its counters
(requests served, TLS connections accepted, handshakes refused).

The TLS handshake runs in the connection's worker thread, not in ``accept()``, so a client
that stalls or fails its handshake never blocks the other connections of the site.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import ssl
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from licmon.simulator.access import SimulatedAccess
from licmon.simulator.certs import DEFAULT_SERVER_NAMES, QlikCerts, ensure_qlik_certs
from licmon.simulator.license import SimulatedLicense
from licmon.simulator.serving import Servers, TlsServer

log = logging.getLogger("licmon.simulator")

FAULTS: tuple[str, ...] = (
    "none",
    "500",  # repository error
    "503",  # repository starting
    "401",
    "403",
    "404",  # no license installed (/qrs/license and /qrs/license/accesstypeoverview)
    "slow",  # answers correctly after slow_seconds
    "html",  # 200 text/html error page, as a proxy or login page would send
    "malformed",  # 200 application/json that is not JSON
    "hang",  # reads the request, never answers (until the simulator stops)
    # closes a kept-alive connection instead of answering its second request: an idle
    # timeout on the server racing the client's next request
    "drop-reused",
    # Hostile or broken peers (what tests/hostile checks the client against):
    "drip",  # the right answer, its body one byte every slow_seconds
    "drip-headers",  # the status line and headers one byte every slow_seconds
    "huge",  # 200 JSON of HUGE_BYTES, without Content-Length, ended by closing
    "nested-json",  # 200 JSON nested deeper than any parser recurses
    "escapes",  # 500 text/plain carrying terminal escape codes and BEL
    "redirect",  # 302 to a login page whose query carries a token
    "empty-object",  # 200 {}
    "error-object",  # 200 {"error": "Unauthorized"}, as some proxies answer
    "not-a-license",  # 200 {"id": ..., "serial": ...}: an object without license fields
    "non-object",  # 200 a JSON string
)
HUGE_BYTES = 64 * 2**20
NESTING = 100_000
# A 500 whose text would set a terminal's title, clear its screen and ring its bell.
ESCAPES_BODY = (
    b"\x1b]0;pwned by the repository\x07\x1b[2J\x1b[H\x1b[31mThe repository service is "
    b"not available.\x1b[0m\x07"
)
REDIRECT_LOCATION = "https://login.example.com/adfs/ls/?SAMLRequest=redirect-secret-token"

BUILD_VERSION = "34.21.1.0"  # Qlik Sense Enterprise on Windows, May 2024
_XRFKEY = re.compile(r"[A-Za-z0-9]{16}")
_IDLE_TIMEOUT = 60.0  # keep-alive: a client reuses its connection between checks


@dataclass
class SiteSpec:
    """How to start one simulated site. ``port=0`` picks a free port."""

    name: str
    port: int = 0
    license: SimulatedLicense = field(default_factory=SimulatedLicense)
    fault: str = "none"
    access: SimulatedAccess = field(default_factory=SimulatedAccess)
    slow_seconds: float = 2.0

    def __post_init__(self) -> None:
        _check_fault(self.fault)


@dataclass(frozen=True)
class RecordedRequest:
    """What a client sent, for assertions; kept in memory only, never logged."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    status: int


def _check_fault(fault: str) -> None:
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")


class Site:
    """Live state of one running site; safe to change from any thread."""

    def __init__(self, spec: SiteSpec, host: str) -> None:
        self.name = spec.name
        self.host = host
        self.port = spec.port  # the bound port once started
        self._lock = threading.Lock()
        self._license = spec.license
        self._access = spec.access
        self._fault = spec.fault
        self._slow_seconds = spec.slow_seconds
        self._requests: list[RecordedRequest] = []
        self._connections = 0
        self._handshake_failures = 0
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    @property
    def license(self) -> SimulatedLicense:
        with self._lock:
            return self._license

    @license.setter
    def license(self, value: SimulatedLicense) -> None:
        with self._lock:
            self._license = value

    @property
    def access(self) -> SimulatedAccess:
        with self._lock:
            return self._access

    @access.setter
    def access(self, value: SimulatedAccess) -> None:
        with self._lock:
            self._access = value

    @property
    def fault(self) -> str:
        with self._lock:
            return self._fault

    @fault.setter
    def fault(self, value: str) -> None:
        _check_fault(value)
        with self._lock:
            self._fault = value

    @property
    def slow_seconds(self) -> float:
        with self._lock:
            return self._slow_seconds

    @slow_seconds.setter
    def slow_seconds(self, value: float) -> None:
        with self._lock:
            self._slow_seconds = value

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        with self._lock:
            return len(self._requests)

    @property
    def connection_count(self) -> int:
        """TLS connections accepted (handshake completed)."""
        with self._lock:
            return self._connections

    @property
    def handshake_failures(self) -> int:
        with self._lock:
            return self._handshake_failures

    def reset_counters(self) -> None:
        with self._lock:
            self._requests.clear()
            self._connections = 0
            self._handshake_failures = 0

    def _snapshot(self) -> tuple[SimulatedLicense, str, float]:
        with self._lock:
            return self._license, self._fault, self._slow_seconds

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _count_connection(self, *, ok: bool) -> None:
        with self._lock:
            if ok:
                self._connections += 1
            else:
                self._handshake_failures += 1


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse is observable
    # Headers and body leave in two writes; with Nagle on, the second waits for the
    # client's delayed ACK: about 40 ms on every kept-alive answer.
    disable_nagle_algorithm = True
    server_version = "Microsoft-HTTPAPI/2.0"  # what QRS's http.sys answers with
    sys_version = ""
    timeout = _IDLE_TIMEOUT
    server: _SiteServer

    def setup(self) -> None:
        super().setup()
        self.answered_on_connection = 0

    def do_GET(self) -> None:
        site = self.server.site
        license_, fault, slow_seconds = site._snapshot()
        split = urlsplit(self.path)
        path = split.path.rstrip("/").lower()  # QRS paths are case-insensitive
        query = parse_qs(split.query)

        if fault == "slow" and site.stopping.wait(slow_seconds):
            self.close_connection = True
            return
        if fault == "drop-reused" and self.answered_on_connection > 0:
            self._record(split.path, query, 0)
            self.close_connection = True
            return
        if fault == "hang":
            self._record(split.path, query, 0)
            site.stopping.wait()
            self.close_connection = True
            return
        if fault == "huge":
            self._record(split.path, query, 200)
            self._send_huge()
            return

        status, content_type, body = self._answer(path, query, fault, license_)
        self._record(split.path, query, status)
        if fault in ("drip", "drip-headers"):
            self._drip(status, content_type, body, slow_seconds, headers_too=fault != "drip")
            return
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if fault == "redirect":
            self.send_header("Location", REDIRECT_LOCATION)
        self.end_headers()
        self.wfile.write(body)
        self.answered_on_connection += 1

    def _drip(
        self, status: int, content_type: str, body: bytes, interval: float, *, headers_too: bool
    ) -> None:
        """Send the answer a byte at a time: each read of the client gets something in time."""
        head = (
            f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.close_connection = True
        if not headers_too:
            self.wfile.write(head)
            self.wfile.flush()
        for byte in (head if headers_too else b"") + body:
            if self.server.site.stopping.wait(interval):
                return
            self.wfile.write(bytes((byte,)))
            self.wfile.flush()

    def _send_huge(self) -> None:
        """HUGE_BYTES of valid JSON, without Content-Length: only reading it tells its size."""
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Connection", "close")
        self.end_headers()
        chunk = b"x" * 65536
        self.wfile.write(b'{"id": "huge", "padding": "')
        for _ in range(HUGE_BYTES // len(chunk)):
            if self.server.site.stopping.is_set():
                return
            self.wfile.write(chunk)
        self.wfile.write(b'"}')

    def _answer(
        self, path: str, query: dict[str, list[str]], fault: str, license_: SimulatedLicense
    ) -> tuple[int, str, bytes]:
        # Repository down or something in front of it: answers before the xrfkey check.
        if fault in ("500", "503"):
            return int(fault), "text/plain", b"The repository service is not available."
        if fault == "401":
            return 401, "text/plain", b"Unauthorized"
        if fault == "403":
            return 403, "text/plain", b"Forbidden"
        if fault == "html":
            page = b"<!DOCTYPE html><html><head><title>Error</title></head><body>"
            page += b"<h1>Service Unavailable</h1></body></html>"
            return 200, "text/html; charset=utf-8", page
        if fault == "escapes":
            return 500, "text/plain", ESCAPES_BODY
        if fault == "redirect":
            return 302, "text/html; charset=utf-8", b"<a href='/adfs/ls/'>Object moved</a>"

        keys = query.get("xrfkey", [])
        header_key = self.headers.get("X-Qlik-Xrfkey")
        if len(keys) != 1 or keys[0] != header_key or not _XRFKEY.fullmatch(keys[0]):
            return 403, "text/plain", b"XSRF prevention check failed. Possible XSRF discovered."

        if path == "/qrs/license":
            if fault == "404":
                return 404, "text/plain", b"Not Found"
            document: dict[str, Any] = license_.to_json()
        elif path == "/qrs/license/accesstypeoverview":
            if fault == "404":
                return 404, "text/plain", b"Not Found"
            document = self.server.site.access.to_json()
        elif path == "/qrs/about":
            document = _about()
        else:
            return 404, "text/plain", b"Not Found"
        if fault == "malformed":
            return 200, "application/json; charset=utf-8", b'{"id": "4a1b9f0e", "keyDet'
        if fault == "nested-json":
            return 200, "application/json", b"[" * NESTING + b"]" * NESTING
        if fault in _DOCUMENTS:
            document = _DOCUMENTS[fault]
        return 200, "application/json; charset=utf-8", json.dumps(document).encode()

    def _record(self, path: str, query: dict[str, list[str]], status: int) -> None:
        self.server.site._record(
            RecordedRequest(self.command, path, query, dict(self.headers.items()), status)
        )

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The path only: the query and headers are the client's business.
        site = self.server.site.name
        path = urlsplit(self.path).path
        log.info("site %s: %s %s -> %s", site, self.command, path, code)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("site %s: %s", self.server.site.name, format % args)


_DOCUMENTS: dict[str, Any] = {
    "empty-object": {},
    "error-object": {"error": "Unauthorized"},
    "not-a-license": {"id": "x", "serial": "1"},
    "non-object": "Unauthorized",
}


def _about() -> dict[str, Any]:
    return {
        "buildVersion": BUILD_VERSION,
        "buildDate": "5/14/2024 12:00:00 AM",
        "databaseProvider": "Devart.Data.PostgreSql",
        "nodeType": 1,
        "sharedPersistence": True,
        "requiresBootstrap": False,
        "singleNodeOnly": False,
        "schemaPath": "About",
    }


class _SiteServer(TlsServer):
    def __init__(self, site: Site, context: ssl.SSLContext) -> None:
        self.site = site
        super().__init__((site.host, site.port), _Handler, context, f"site {site.name}")

    def handshake_refused(self, tls: ssl.SSLSocket, exc: BaseException) -> None:
        self.site._count_connection(ok=False)
        log.info("site %s: TLS handshake refused: %s", self.site.name, _reason(exc))
        _linger(tls)

    def handshake_done(self) -> None:
        self.site._count_connection(ok=True)


def _linger(tls: ssl.SSLSocket) -> None:
    """Let the client read the TLS alert before the socket goes.

    Closing with the client's request still unread makes the kernel send a reset, and the
    client then sees a bare EOF or reset instead of "unknown ca" / "certificate expired".
    """
    with contextlib.suppress(OSError):
        tls.shutdown(socket.SHUT_WR)  # drops the TLS layer; the TCP stream stays readable
        tls.settimeout(1.0)
        while tls.recv(4096):
            pass


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    return type(exc).__name__ if not str(exc) else str(exc)


def server_ssl_context(certs: QlikCerts) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.server.cert, certs.server.key)
    # Like QRS: only clients holding a certificate issued by the site's root get in.
    context.load_verify_locations(cafile=certs.root_ca)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


class Simulator:
    """Running sites, by name. Stop with ``close()`` (or use ``run_simulator``)."""

    def __init__(self, certs: QlikCerts, sites: dict[str, Site]) -> None:
        self.certs = certs
        self.sites = sites
        self._running = Servers()

    def _start(self) -> None:
        context = server_ssl_context(self.certs)
        try:
            for site in self.sites.values():
                server = _SiteServer(site, context)
                site.port = int(server.server_address[1])
                self._running.start(server, f"qrs-simulator-{site.name}")
                log.info("site %s: listening on %s", site.name, site.url)
        except BaseException:
            self.close()
            raise

    def drop_connections(self) -> None:
        """Cut every open client connection (a repository restart, seen from a client)."""
        self._running.drop_connections()

    def close(self) -> None:
        for site in self.sites.values():
            site.stopping.set()  # releases "hang" and "slow" handlers
        self._running.close()


def start_simulator(
    specs: Sequence[SiteSpec],
    cert_dir: str | os.PathLike[str] | QlikCerts,
    *,
    host: str = "127.0.0.1",
    server_names: Sequence[str] = DEFAULT_SERVER_NAMES,
) -> Simulator:
    """Start every site; certificates are created in `cert_dir` unless given ready-made."""
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"site names must be unique: {names}")
    if isinstance(cert_dir, QlikCerts):
        certs = cert_dir
    else:
        certs = ensure_qlik_certs(Path(cert_dir), server_names)
    simulator = Simulator(certs, {spec.name: Site(spec, host) for spec in specs})
    simulator._start()
    return simulator


@contextlib.contextmanager
def run_simulator(
    specs: Sequence[SiteSpec],
    cert_dir: str | os.PathLike[str] | QlikCerts,
    *,
    host: str = "127.0.0.1",
    server_names: Sequence[str] = DEFAULT_SERVER_NAMES,
) -> Iterator[Simulator]:
    simulator = start_simulator(specs, cert_dir, host=host, server_names=server_names)
    try:
        yield simulator
    finally:
        simulator.close()
