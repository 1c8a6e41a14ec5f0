"""Helpers shared by the simulator and QRS client tests (plain functions, no fixtures)."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from licmon.qrs import QrsEndpoint
from licmon.simulator import (
    DEFAULT_SERVER_NAMES,
    LOOPBACK_SERVER_NAMES,
    MisfitCerts,
    ProxyCerts,
    QlikCerts,
    Site,
    TlsEndpoint,
    ensure_misfit_certs,
    ensure_qlik_certs,
    issue_proxy_certs,
    run_tls_endpoint,
)

XRFKEY = "abcdEFGH12345678"


def session_certs(
    factory: pytest.TempPathFactory, *, loopback: bool = False
) -> tuple[QlikCerts, MisfitCerts]:
    """One certificate set per kind and test session, shared by every module that asks.

    The default server certificate names only the machine (qlikserver1.domain.local), as a
    real Qlik server's does; ``loopback`` adds localhost and 127.0.0.1 to it.
    """
    names = (*DEFAULT_SERVER_NAMES, *LOOPBACK_SERVER_NAMES) if loopback else DEFAULT_SERVER_NAMES
    folder = factory.getbasetemp() / ("qrs-certs-loopback" if loopback else "qrs-certs")
    certs = ensure_qlik_certs(folder, names)  # reused when another module made it already
    return certs, ensure_misfit_certs(certs)


def endpoint_for(site: Site, certs: QlikCerts, **overrides: Any) -> QrsEndpoint:
    """An endpoint that reaches `site` the way a real Qlik install is usually configured:
    by IP, with the machine-named server certificate, so host-name checking is off."""
    settings: dict[str, Any] = {
        "site": site.name,
        "host": site.host,
        "port": site.port,
        "client_cert": certs.client_cert,
        "client_key": certs.client_key,
        "root_ca": certs.root_ca,
        "verify_hostname": False,
        "connect_timeout": 2.0,
        "read_timeout": 2.0,
    }
    settings.update(overrides)
    return QrsEndpoint(**settings)


def raw_get(
    site: Site,
    certs: QlikCerts,
    path: str = "/qrs/license",
    *,
    query_key: str | None = XRFKEY,
    header_key: str | None = XRFKEY,
    cert: tuple[str, str] | bool = True,
) -> requests.Response:
    """A bare requests call (no QrsClient), so the simulator is checked on its own.

    Needs the loopback certificate set: the host name is checked as requests always does.
    """
    params = {} if query_key is None else {"xrfkey": query_key}
    headers = {} if header_key is None else {"X-Qlik-Xrfkey": header_key}
    client_cert = (str(certs.client_cert), str(certs.client_key)) if cert is True else cert
    return requests.get(
        site.url + path,
        params=params,
        headers=headers,
        cert=client_cert or None,
        verify=str(certs.root_ca),  # per call: a session's value loses to REQUESTS_CA_BUNDLE
        timeout=5,
    )


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def full_backlog_listener() -> tuple[socket.socket, list[socket.socket]]:
    """A listener whose accept queue is full, so a new connection attempt times out.

    Linux drops the SYN when the backlog is full, which is the only loopback way to make
    a connect time out without depending on an unroutable address.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    held: list[socket.socket] = []
    for _ in range(8):
        sock = socket.socket()
        sock.settimeout(0.3)
        try:
            sock.connect(("127.0.0.1", port))
        except OSError:
            sock.close()
            return listener, held
        held.append(sock)
    for sock in held:
        sock.close()
    listener.close()
    pytest.skip("could not fill a listen backlog on this platform")


@contextlib.contextmanager
def plain_http_server() -> Iterator[int]:
    """A plain-HTTP server (no TLS): what a wrong port or useSSL setting reaches."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def tls_server_that_hangs_up(certs: QlikCerts) -> Iterator[int]:
    """Completes the TLS handshake (any client certificate), then closes without a word.

    Some servers refuse a client certificate this way under TLS 1.3, where the client has
    finished its side of the handshake before the server looks at the certificate.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.server.cert, certs.server.key)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with contextlib.suppress(OSError):
                tls = context.wrap_socket(conn, server_side=True)
                tls.close()  # no close_notify (that needs unwrap()): an unclean TLS EOF
            conn.close()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join()
        listener.close()


@contextlib.contextmanager
def proxy_ending_in(days: int, folder: Path) -> Iterator[tuple[TlsEndpoint, ProxyCerts]]:
    """A site's HTTPS proxy on a free loopback port: a bare TLS endpoint (handshakes only)
    whose certificate, issued by a corporate issuing CA, ends `days` days from now (0:
    today, negative: already expired). Its certificates are written to `folder`."""
    proxy = issue_proxy_certs(folder, days=days)
    with run_tls_endpoint(proxy.server) as endpoint:
        yield endpoint, proxy
