"""HTTP helpers shared by the webhook and InfluxDB senders.

requests puts the full URL (query string included) into its exception messages, and a
header's value into InvalidHeader's; webhook URLs often carry a token and headers carry
InfluxDB's. Failures are therefore described from the underlying OS/TLS error instead of
from `str(exc)`, and answers are read through `licmon.bounded_http`: a deadline for the
whole call and a few KB of body at most.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

import requests

from licmon.bounded_http import Answer, DeadlineExceeded, bounded_request
from licmon.core.text import printable
from licmon.senders.errors import PermanentDeliveryError, TransientDeliveryError

# What a sender reads of any answer: enough for an error message, never a flood.
BODY_LIMIT = 8 * 1024


def bounded_call(
    session: requests.Session,
    method: str,
    url: str,
    *,
    timeout: float,
    destination: str,
    target: str,
    what: str = "",
    unencodable: str = "a header value",
    **kwargs: object,
) -> Answer:
    """One call under its deadline (connect and read `timeout` each), reading `BODY_LIMIT`
    of the answer at most; `kwargs` go to requests.

    A call that fails is a Transient- or PermanentDeliveryError naming `target`, `what`
    before the reason, never the URL or a header's value (`unencodable` names what HTTP
    could not encode). Raised `from None`: a chained requests exception prints the URL.
    """
    try:
        return bounded_request(
            session,
            method,
            url,
            timeout=(timeout, timeout),
            limit=BODY_LIMIT,
            oversize="truncate",
            **kwargs,
        )
    except requests.RequestException as exc:
        transient, reason = describe_request_exception(exc, timeout)
        error_type = TransientDeliveryError if transient else PermanentDeliveryError
        raise error_type(destination, target, f"{what}{reason}") from None
    except ValueError:
        # http.client refusing to encode a header (basic auth, a token, a static header);
        # its text quotes part of the value.
        raise PermanentDeliveryError(
            destination, target, f"{what}{unencodable} HTTP cannot carry (not Latin-1)"
        ) from None


def redact_url(url: str) -> str:
    """`scheme://host[:port]/…`: enough to tell targets apart, without userinfo, path or query."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        port = parts.port
    except ValueError:
        return "<unparseable url>"
    if not parts.scheme or not host:
        return "<unparseable url>"
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    return f"{parts.scheme}://{netloc}/…"


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost OS or TLS error behind a requests/urllib3 exception."""
    seen: set[int] = set()
    current: BaseException = exc
    found: BaseException = exc
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLError | ConnectionRefusedError | socket.gaierror):
            return current
        if isinstance(current, OSError) and current.errno is not None:
            found = current
        # urllib3 wraps the OS error as `reason`; requests puts the urllib3 error in args.
        stack.extend(a for a in getattr(current, "args", ()) if isinstance(a, BaseException))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                stack.append(linked)
    return found


def _handshake_timed_out(exc: BaseException) -> bool:
    """CPython bounds a whole TLS handshake by the socket timeout; urllib3 reports running
    out of it as a read timeout, and only the ssl module's message tells the two apart."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, TimeoutError) and "handshake" in str(current):
            return True
        stack.extend(a for a in getattr(current, "args", ()) if isinstance(a, BaseException))
        stack.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return False


def _os_error_text(exc: BaseException) -> str | None:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc.__class__.__name__}"
    if isinstance(exc, socket.gaierror):
        return f"host name lookup failed: {exc.strerror}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return None


def location_host(headers: Mapping[str, str]) -> str:
    """Where a redirect points, by host only: its path and query may carry a token."""
    try:
        host = urlsplit(headers.get("Location", "")).hostname
    except ValueError:
        host = None
    return f"host {printable(host, 100)!r}" if host else "a relative or unreadable location"


def describe_request_exception(exc: requests.RequestException, timeout: float) -> tuple[bool, str]:
    """(transient, one-line reason without the URL or a header value) for a failed call."""
    if isinstance(exc, DeadlineExceeded):
        return True, (
            f"no complete answer within {exc.seconds:g} s (connect and read timeouts of "
            f"{timeout:g} s each)"
        )
    if isinstance(_root_cause(exc), ConnectionRefusedError):
        # Before the timeout branches: urllib3's NewConnectionError (a refused connection)
        # is a subclass of its ConnectTimeoutError.
        return True, "connection refused"
    if isinstance(exc, requests.exceptions.InvalidHeader):
        # Its text quotes the header's value: a token, often.
        return False, (
            "invalid request: a header value HTTP cannot carry (a line break or another "
            "control character)"
        )
    if isinstance(exc, requests.exceptions.SSLError):
        # A certificate the configured CA does not vouch for will not change by retrying.
        text = _os_error_text(_root_cause(exc)) or "TLS handshake failed"
        return False, text
    if isinstance(exc, requests.exceptions.Timeout) and _handshake_timed_out(exc):
        return True, f"TLS handshake not completed within {timeout:g} s"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True, f"connection not established within {timeout:g} s"
    if isinstance(exc, requests.exceptions.Timeout):
        return True, f"no answer within {timeout:g} s"
    if isinstance(
        exc,
        requests.exceptions.InvalidURL
        | requests.exceptions.MissingSchema
        | requests.exceptions.InvalidSchema,
    ):
        return False, f"invalid request ({exc.__class__.__name__})"
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = _os_error_text(_root_cause(exc)) or "connection failed"
        return True, text
    return True, f"request failed ({exc.__class__.__name__})"
