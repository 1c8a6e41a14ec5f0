"""Turning what ``requests`` raises (or a non-200 answer) into the right QrsError.

requests wraps urllib3 which wraps ``ssl``/``socket``: the useful fact (an OpenSSL alert,
a verify code, an errno) sits somewhere down the exception chain, so the whole chain is
searched. Each mapping here is exercised against the simulator in tests/test_qrs_client.py.
"""

from __future__ import annotations

import errno
import http.client
import socket
import ssl
import unicodedata
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

import requests
import urllib3.exceptions as u3

from licmon.core.text import printable
from licmon.qrs.errors import (
    QrsAuthError,
    QrsClientCertRejectedError,
    QrsClientConfigError,
    QrsConnectionError,
    QrsConnectionRefusedError,
    QrsError,
    QrsHostnameMismatchError,
    QrsHttpError,
    QrsNoLicenseError,
    QrsServerError,
    QrsTimeoutError,
    QrsTlsError,
    QrsUntrustedServerError,
)

if TYPE_CHECKING:
    from licmon.bounded_http import Answer
    from licmon.qrs.client import QrsEndpoint

# OpenSSL alerts a server sends when it refuses the client certificate.
_CLIENT_CERT_ALERTS: dict[str, str] = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the server requires a client certificate",
    "TLSV1_ALERT_UNKNOWN_CA": "the server does not trust the issuer of the client certificate",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the server refused the client certificate as expired",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the server refused the client certificate",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "the server refused the client certificate",
    "SSLV3_ALERT_CERTIFICATE_REVOKED": "the server refused the client certificate as revoked",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": "the server cannot use the client certificate",
    "TLSV1_ALERT_ACCESS_DENIED": "the server denied access to the client certificate",
}
# Our own key or certificate files are unusable: nothing the server did.
_LOCAL_KEY_REASONS = {"KEY_VALUES_MISMATCH", "PEM_LIB", "NO_START_LINE", "BAD_DECRYPT"}
# X509_V_ERR_HOSTNAME_MISMATCH, _EMAIL_MISMATCH, _IP_ADDRESS_MISMATCH: the chain itself was fine.
_NAME_MISMATCH_CODES = {62, 63, 64}

_E = TypeVar("_E", bound=BaseException)
_CLIENT_CERT_HINT = " (use client.pem/client_key.pem exported from this site's QMC)"


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and everything it wraps: causes, contexts, MaxRetryError.reason, args."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [current.__cause__, current.__context__]
        if isinstance(current, u3.MaxRetryError):
            pending.append(current.reason)
        pending += [arg for arg in current.args if isinstance(arg, BaseException)]


def is_hang_up(exc: BaseException) -> bool:
    """The server closed (or reset) the connection without an HTTP answer."""
    return _is_hang_up(list(exception_chain(exc)))


def _is_hang_up(chain: list[BaseException]) -> bool:
    if any(isinstance(e, TimeoutError | u3.TimeoutError) for e in chain):
        return False
    hang_ups = (
        http.client.RemoteDisconnected,
        ConnectionResetError,
        ConnectionAbortedError,
        BrokenPipeError,
        ssl.SSLEOFError,
    )
    return any(isinstance(e, hang_ups) for e in chain)


def error_for_exception(
    endpoint: QrsEndpoint, exc: BaseException, *, fresh_connection: bool = False
) -> QrsError:
    """The QrsError for what requests raised.

    ``fresh_connection``: the failed request was the first on a new connection. A server
    that completes the TLS handshake and then closes without a word is, under TLS 1.3,
    what refusing the client certificate looks like from the client when the alert is
    lost; on a kept-alive connection the same symptom is just an idle connection dropped.
    """
    site = endpoint.site
    target = f"{endpoint.host}:{endpoint.port}"
    chain = list(exception_chain(exc))

    if _handshake_timed_out(chain):
        return QrsTimeoutError(
            site, f"TLS handshake with {target} not completed within {endpoint.connect_timeout:g} s"
        )
    if any(isinstance(e, requests.ConnectTimeout) for e in chain):
        return QrsTimeoutError(
            site, f"no connection to {target} within {endpoint.connect_timeout:g} s"
        )
    if any(isinstance(e, requests.ReadTimeout | u3.ReadTimeoutError) for e in chain):
        return QrsTimeoutError(site, f"no answer from {target} within {endpoint.read_timeout:g} s")

    verify_error = _first(chain, ssl.SSLCertVerificationError)
    if verify_error is not None:
        return _server_not_trusted(endpoint, verify_error)
    if any(isinstance(e, ValueError) and "doesn't match" in str(e) for e in chain):
        # urllib3's own host-name match (used when OpenSSL cannot check the name)
        return _hostname_mismatch(endpoint, str(exc))

    for error in chain:
        if isinstance(error, ssl.SSLError) and not isinstance(error, ssl.SSLEOFError):
            return _tls_failure(endpoint, error)
    if _is_hang_up(chain):
        return _hung_up(endpoint, fresh_connection=fresh_connection)

    if _has_errno(chain, errno.ECONNREFUSED):
        return QrsConnectionRefusedError(
            site, f"connection to {target} refused: is the repository service running?"
        )
    if _first(chain, socket.gaierror) is not None:
        return QrsConnectionError(site, f"host name {endpoint.host!r} not resolved")
    if isinstance(exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
        return QrsConnectionError(site, f"connection to {target} failed: {_innermost(chain)}")
    # requests quotes the offending header value or URL in these: never shown (a static
    # header often carries a credential).
    if isinstance(exc, requests.exceptions.InvalidHeader):
        names = unusable_header_names(endpoint.headers) or ["?"]
        return QrsClientConfigError(
            site,
            f"invalid request settings: header {', '.join(names)} has a value HTTP headers "
            "cannot carry (a line break, another control character or leading whitespace)",
        )
    if isinstance(exc, requests.exceptions.InvalidURL):
        return QrsClientConfigError(
            site, f"invalid request settings: no valid URL from host {endpoint.host!r}"
        )
    return QrsError(site, f"request to {target} failed: {_innermost(chain)}")


def unusable_header_names(headers: Mapping[str, str]) -> list[str]:
    """Names of the static headers whose name or value HTTP cannot carry (values unshown)."""
    unusable = []
    for name, value in headers.items():
        try:
            name.encode("latin-1")
            value.encode("latin-1")
        except UnicodeEncodeError:
            unusable.append(printable(name, 60) or "?")
            continue
        if (
            not name
            or any(char in name for char in ": \t")
            or value[:1].isspace()
            or any(unicodedata.category(char) == "Cc" and char != "\t" for char in name + value)
        ):
            unusable.append(printable(name, 60) or "?")
    return [repr(name) for name in unusable]


def error_for_status(
    site: str, path: str, answer: Answer, *, missing_means_no_license: bool
) -> QrsError:
    status = answer.status
    said = _short_text(answer)
    detail = f"GET {path} answered {status} {printable(answer.reason, 60)}".rstrip() + said
    if 300 <= status <= 399:
        # Most likely a proxy's or identity provider's login page: name where it points, but
        # not the path or query, which may carry a session or token.
        return QrsHttpError(
            site,
            f"{detail}, a redirect to {_location_host(answer)}; QRS never redirects, so "
            "something in front of it (a proxy, a login page) is answering",
            status=status,
        )
    if status in (401, 403):
        return QrsAuthError(
            site,
            f"{detail}; the repository refused the certificate's user or the xrfkey",
            status=status,
        )
    if status == 404 and missing_means_no_license:
        return QrsNoLicenseError(site, f"{detail}; no license is installed", status=status)
    if 500 <= status <= 599:
        return QrsServerError(site, f"{detail}; the repository is down or starting", status=status)
    return QrsHttpError(site, detail, status=status)


def _hung_up(endpoint: QrsEndpoint, *, fresh_connection: bool) -> QrsError:
    target = f"{endpoint.host}:{endpoint.port}"
    if fresh_connection and endpoint.use_ssl:
        return QrsClientCertRejectedError(
            endpoint.site,
            f"{target} closed a new TLS connection without answering; it most likely "
            f"refused the client certificate{_CLIENT_CERT_HINT}",
        )
    hint = "" if endpoint.use_ssl else "; if the server expects TLS, turn useSSL on"
    return QrsConnectionError(
        endpoint.site, f"{target} closed the connection without answering{hint}"
    )


def _server_not_trusted(endpoint: QrsEndpoint, error: ssl.SSLCertVerificationError) -> QrsError:
    message = error.verify_message or str(error)
    if error.verify_code in _NAME_MISMATCH_CODES:
        return _hostname_mismatch(endpoint, message)
    trusted = endpoint.root_ca or "the system trust store"
    return QrsUntrustedServerError(
        endpoint.site,
        f"the server certificate of {endpoint.host}:{endpoint.port} is not trusted "
        f"({message}); it must be issued by the root CA in {trusted}",
    )


def _hostname_mismatch(endpoint: QrsEndpoint, message: str) -> QrsError:
    return QrsHostnameMismatchError(
        endpoint.site,
        f"the server certificate does not name {endpoint.host!r} ({message}); use the name "
        "in the certificate, or turn host-name verification off (the chain is still checked)",
    )


def _tls_failure(endpoint: QrsEndpoint, error: ssl.SSLError) -> QrsError:
    reason = error.reason or ""
    site = endpoint.site
    if reason in _CLIENT_CERT_ALERTS:
        return QrsClientCertRejectedError(
            site, f"{_CLIENT_CERT_ALERTS[reason]} ({reason}){_CLIENT_CERT_HINT}"
        )
    if reason in _LOCAL_KEY_REASONS or error.library == "PEM":
        return QrsClientConfigError(
            site,
            f"the client certificate or key cannot be used ({reason or error}); check that "
            f"{endpoint.client_cert.name} and {endpoint.client_key.name} are a matching pair",
        )
    if reason == "WRONG_VERSION_NUMBER":
        return QrsTlsError(
            site,
            f"{endpoint.host}:{endpoint.port} did not answer with TLS (WRONG_VERSION_NUMBER); "
            "check the port and useSSL",
        )
    return QrsTlsError(
        site, f"TLS handshake with {endpoint.host}:{endpoint.port} failed ({reason or error})"
    )


def _handshake_timed_out(chain: list[BaseException]) -> bool:
    """The TLS handshake ran out of time. CPython bounds the whole handshake by the socket's
    timeout (the connect timeout, then); urllib3 reports it as a read timeout with that value,
    and only the ssl module's own message tells the two apart."""
    return any(isinstance(e, TimeoutError) and "handshake" in str(e) for e in chain)


def _first(chain: list[BaseException], kind: type[_E]) -> _E | None:
    for error in chain:
        if isinstance(error, kind):
            return error
    return None


def _has_errno(chain: list[BaseException], number: int) -> bool:
    return any(isinstance(e, OSError) and e.errno == number for e in chain) or any(
        isinstance(e, ConnectionRefusedError) for e in chain
    )


def _innermost(chain: list[BaseException]) -> str:
    """The innermost OS error's own words; other exceptions of requests and urllib3 may quote
    the URL or headers, so they are named by type only."""
    last = chain[-1]
    if isinstance(last, OSError) and not isinstance(last, requests.RequestException):
        text = last.strerror or str(last)
        if text:
            return printable(text, 200)
    return type(last).__name__


def _location_host(answer: Answer) -> str:
    location = answer.headers.get("Location", "")
    try:
        host = urlsplit(location).hostname
    except ValueError:
        host = None
    return f"host {printable(host, 100)!r}" if host else "a relative or unreadable location"


def _short_text(answer: Answer) -> str:
    """A little of a text error body (QRS explains 403s there); never JSON or HTML dumps, and
    only printable characters (a body can carry terminal escape codes)."""
    content_type = answer.headers.get("Content-Type", "")
    if not content_type.startswith("text/plain"):
        return ""
    text = printable(answer.body[:2048].decode("utf-8", errors="replace"), 120)
    return f": {text}" if text else ""
