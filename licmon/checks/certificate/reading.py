"""The certificate check's data source: certificates read from a TLS endpoint or a PEM file.

A site goes down when one of three certificates ends: the proxy's HTTPS certificate, the
certificates on the QRS port, or the client certificate the monitor presents to the QRS.
The first two are read with a TLS handshake (no HTTP request), the third from its file.

Reading never judges: an expired, self-signed or untrusted certificate is read like any
other (the handshake does not verify anything), because telling how long a certificate has
left is the point. What cannot be read raises `CertificateReadError`, one `SourceError` with
a stable `kind` and whether trying again later can help.

`ssl` does the handshake and `cryptography` reads the certificates; this module only chooses
what to ask them and how to name what went wrong.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import queue
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from licmon.core.source import SourceError
from licmon.core.text import printable

if TYPE_CHECKING:
    # Imported where certificates are parsed: cryptography's x509 costs a process about
    # 7 MB, which a deployment that checks no certificate does not pay.
    from cryptography import x509

# A PEM file holding a client certificate and its chain is a few kilobytes; anything this
# large is not one, and is not read into memory.
MAX_PEM_BYTES = 1_000_000

# Kinds where the same read may succeed later (the site is down, restarting, unreachable);
# every other kind needs a person (a file, a port that is not TLS, a protocol mismatch).
TRANSIENT_KINDS = frozenset({"refused", "timeout", "dns", "unreachable", "reset"})
KINDS = frozenset(
    {*TRANSIENT_KINDS, "not_tls", "tls_handshake", "unreadable_file", "no_certificate"}
)

# OpenSSL's reasons when the peer's first bytes are not a TLS record: an HTTP answer to the
# ClientHello, an SSH banner, a plain-text greeting.
_NOT_TLS_REASONS = frozenset(
    {
        "WRONG_VERSION_NUMBER",
        "UNKNOWN_PROTOCOL",
        "HTTP_REQUEST",
        "HTTPS_PROXY_REQUEST",
        "PACKET_LENGTH_TOO_LONG",
        "RECORD_LAYER_FAILURE",
        "UNEXPECTED_RECORD",
        "WRONG_SSL_VERSION",
    }
)


@dataclass(frozen=True)
class CertificateInfo:
    """What the check needs of one certificate; JSON-safe through to_json/from_json."""

    subject: str  # the subject's CN; the whole RFC 4514 subject when it has no CN
    issuer: str  # the issuer's CN, likewise
    not_after: dt.datetime  # timezone-aware UTC
    serial: str  # hex, lower case
    fingerprint: str  # SHA-256 of the DER, hex: tells a renewed certificate from the old one

    @classmethod
    def from_certificate(cls, cert: x509.Certificate) -> CertificateInfo:
        from cryptography.hazmat.primitives import hashes

        return cls(
            subject=_display_name(cert.subject),
            issuer=_display_name(cert.issuer),
            not_after=cert.not_valid_after_utc,
            serial=format(cert.serial_number, "x"),
            fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
        )

    def to_json(self) -> dict[str, str]:
        return {
            "subject": self.subject,
            "issuer": self.issuer,
            "not_after": self.not_after.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "serial": self.serial,
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> CertificateInfo:
        """The inverse of to_json; ValueError when `document` is not one of its results."""
        try:
            fields = {name: document[name] for name in ("subject", "issuer", "serial")}
            fingerprint, not_after = document["fingerprint"], document["not_after"]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a certificate document: missing {exc}") from None
        if not all(isinstance(value, str) for value in (*fields.values(), fingerprint)):
            raise ValueError("not a certificate document: a field is not text")
        if not isinstance(not_after, str):
            raise ValueError("not a certificate document: not_after is not text")
        when = dt.datetime.fromisoformat(not_after)  # ValueError for a malformed date
        if when.tzinfo is None:
            raise ValueError("not a certificate document: not_after has no time zone")
        return cls(not_after=when.astimezone(dt.UTC), fingerprint=fingerprint, **fields)


class CertificateReadError(SourceError):
    """A certificate could not be read. ``str()`` names what was read, never its content."""

    def __init__(self, kind: str, source: str, detail: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown certificate read error kind {kind!r}")
        self.kind = kind
        self.transient = kind in TRANSIENT_KINDS
        self.source = source  # "endpoint host:port" or "<label> <path>"
        self.detail = printable(detail, 300)
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.source}: {self.detail}"

    def __reduce__(self) -> tuple[object, ...]:
        # Celery pickles exceptions; the default would call __init__ with str(self) alone.
        return (type(self), (self.kind, self.source, self.detail))


# --- endpoints ------------------------------------------------------------------------------


def read_endpoint(
    host: str,
    port: int,
    *,
    timeout: float,
    server_name: str | None = None,
    client_cert: Path | None = None,
    client_key: Path | None = None,
) -> list[CertificateInfo]:
    """The certificate chain `host:port` sends in a TLS handshake, leaf first.

    `timeout` bounds name resolution, connecting and the handshake together. The client
    certificate, when given, is presented (Qlik's QRS asks for one).
    """
    source = f"endpoint {_host_port(host, port)}"
    deadline = time.monotonic() + timeout
    context = _unverified_context(source, client_cert, client_key)
    sni = server_name or (None if _is_ip_literal(host) else host)
    with _connect(source, host, port, deadline) as sock:
        return _handshake(source, context, sock, sni, deadline)


def _unverified_context(
    source: str, client_cert: Path | None, client_key: Path | None
) -> ssl.SSLContext:
    # Nothing is verified: an expired, self-signed or untrusted certificate must be read,
    # and trust is the QRS client's business, not this reader's.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if client_cert is not None:
        try:
            context.load_cert_chain(client_cert, client_key)
        except (OSError, ssl.SSLError) as exc:
            path = f"{client_cert}" + (f" / {client_key}" if client_key else "")
            raise CertificateReadError(
                "unreadable_file",
                source,
                f"the client certificate {path} cannot be loaded ({_reason(exc)})",
            ) from None
    return context


def _connect(source: str, host: str, port: int, deadline: float) -> socket.socket:
    """A connected socket, trying each address of `host` within what is left of the deadline."""
    addresses = _resolve(source, host, port, deadline)
    failure: OSError | None = None
    for family, kind, proto, _, address in addresses:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(_remaining(source, deadline))
            sock.connect(address)
            return sock
        except CertificateReadError:
            sock.close()
            raise
        except OSError as exc:
            sock.close()
            failure = exc
    raise _connect_error(source, failure)


def _resolve(source: str, host: str, port: int, deadline: float) -> list[Any]:
    """getaddrinfo within the deadline: it has no timeout of its own, and a DNS server that
    does not answer blocks it for the resolver's own retries (tens of seconds)."""
    answers: queue.SimpleQueue[list[Any] | OSError] = queue.SimpleQueue()

    def lookup() -> None:
        try:
            answers.put(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            answers.put(exc)

    # A daemon thread: on a timeout it is left to finish on its own, holding nothing.
    threading.Thread(target=lookup, name="certificate-dns", daemon=True).start()
    try:
        answer = answers.get(timeout=_remaining(source, deadline))
    except queue.Empty:
        raise CertificateReadError("timeout", source, "name resolution timed out") from None
    if isinstance(answer, OSError):
        detail = f"name not resolved ({_reason(answer)})"
        raise CertificateReadError("dns", source, detail) from None
    return answer


def _connect_error(source: str, exc: OSError | None) -> CertificateReadError:
    if isinstance(exc, ConnectionRefusedError):
        return CertificateReadError("refused", source, "connection refused")
    if isinstance(exc, TimeoutError):
        return CertificateReadError("timeout", source, "connection timed out")
    return CertificateReadError("unreachable", source, f"cannot connect ({_reason(exc)})")


def _handshake(
    source: str, context: ssl.SSLContext, sock: socket.socket, sni: str | None, deadline: float
) -> list[CertificateInfo]:
    # The socket's timeout bounds the whole handshake (CPython keeps one deadline across
    # its reads), so a peer that accepts and never speaks is cut off in time.
    sock.settimeout(_remaining(source, deadline))
    tls = context.wrap_socket(sock, server_hostname=sni, do_handshake_on_connect=False)
    with tls:
        try:
            tls.do_handshake()
        except TimeoutError:
            raise CertificateReadError("timeout", source, "TLS handshake timed out") from None
        except ssl.SSLError as exc:
            # Under TLS 1.2 a server that wants a client certificate may abort after sending
            # its own; the chain already received is what was asked for.
            chain = _peer_chain(source, tls)
            if chain:
                return chain
            raise _handshake_error(source, exc) from None
        except OSError as exc:
            detail = f"connection lost during the TLS handshake ({_reason(exc)})"
            raise CertificateReadError("reset", source, detail) from None
        chain = _peer_chain(source, tls)
    if not chain:
        raise CertificateReadError("no_certificate", source, "the server sent no certificate")
    return chain


def _handshake_error(source: str, exc: ssl.SSLError) -> CertificateReadError:
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        detail = "the peer closed the connection during the TLS handshake"
        return CertificateReadError("reset", source, detail)
    if (exc.reason or "").upper() in _NOT_TLS_REASONS:
        return CertificateReadError("not_tls", source, f"not a TLS server ({_reason(exc)})")
    return CertificateReadError("tls_handshake", source, f"TLS handshake failed ({_reason(exc)})")


def _peer_chain(source: str, tls: ssl.SSLSocket) -> list[CertificateInfo]:
    """The certificates the peer sent, leaf first, unverified; [] when none arrived."""
    from cryptography import x509

    ders = _ders(tls)
    return _infos(source, lambda: [x509.load_der_x509_certificate(der) for der in ders])


def _infos(source: str, load: Callable[[], list[x509.Certificate]]) -> list[CertificateInfo]:
    # cryptography parses some fields lazily: a malformed name fails only when read.
    try:
        return [CertificateInfo.from_certificate(cert) for cert in load()]
    except ValueError:
        detail = "a certificate cannot be parsed (malformed DER or names)"
        raise CertificateReadError("no_certificate", source, detail) from None


def _ders(tls: ssl.SSLSocket) -> list[bytes]:
    public = getattr(tls, "get_unverified_chain", None)  # public from Python 3.13
    if public is not None:
        return [bytes(der) for der in public() or []]
    private = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)
    if private is not None:  # 3.10 to 3.12: _ssl.Certificate objects
        der_format = ssl._ssl.ENCODING_DER  # type: ignore[attr-defined]
        return [cert.public_bytes(der_format) for cert in private() or []]
    with contextlib.suppress(ValueError, ssl.SSLError):
        leaf = tls.getpeercert(binary_form=True)  # the leaf alone, when nothing else exists
        return [leaf] if leaf else []
    return []


# --- files ----------------------------------------------------------------------------------


def read_pem_file(path: Path, *, label: str = "certificate file") -> list[CertificateInfo]:
    """Every certificate in the PEM file at `path`, in the file's order (leaf first).

    `label` names the file in errors ("client certificate file"); nothing of the file's
    content is ever part of an error.
    """
    source = f"{label} {path}"
    data = _read_small_file(source, path)
    if not data.strip():
        raise CertificateReadError("no_certificate", source, "the file is empty")
    from cryptography import x509

    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        # cryptography's message is generic too; ours never carries the file's bytes.
        detail = "no readable PEM certificate in the file"
        raise CertificateReadError("no_certificate", source, detail) from None
    return _infos(source, lambda: certs)


def _read_small_file(source: str, path: Path) -> bytes:
    try:
        if path.is_dir():
            raise CertificateReadError("unreadable_file", source, "is a directory, not a file")
        with open(path, "rb") as handle:
            # One byte past the limit tells "too large" without reading a huge file.
            data = handle.read(MAX_PEM_BYTES + 1)
    except OSError as exc:
        raise CertificateReadError(
            "unreadable_file", source, f"cannot be read ({_reason(exc)})"
        ) from None
    if len(data) > MAX_PEM_BYTES:
        detail = f"larger than {MAX_PEM_BYTES} bytes: not a certificate file"
        raise CertificateReadError("unreadable_file", source, detail)
    return data


# --- helpers --------------------------------------------------------------------------------


def _display_name(name: x509.Name) -> str:
    from cryptography.x509.oid import NameOID

    common_names = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    text = common_names[0].value if common_names else name.rfc4514_string()
    if isinstance(text, bytes):  # only for odd attribute encodings
        text = text.decode("utf-8", "replace")
    # A hostile server chooses these names; they end up in logs and alerts.
    return printable(text, 300)


def _remaining(source: str, deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise CertificateReadError("timeout", source, "timed out")
    return left


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _reason(exc: BaseException | None) -> str:
    """A short cause: OpenSSL's reason, the OS's strerror, or the exception's name."""
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if exc is None:
        return "no address"
    return str(exc) or type(exc).__name__
