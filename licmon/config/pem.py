"""Certificate and key files, checked when the config loads with the `ssl` module that will
use them: a file that passes here loads in the TLS client, so a bad one is named with what
is wrong with it instead of failing at the first check (and exiting 1 with a traceback).

Every function returns what is wrong, in words, or None.
"""

from __future__ import annotations

import os
import ssl
import stat
from pathlib import Path

# PEM files are a few KB; a bigger "certificate" is something else (and is not read whole).
MAX_PEM_BYTES = 1024 * 1024


# A path is shown longer than a value (80): it is the file to fix, and real ones are long.
PATH_LIMIT = 256


def shown(path: Path) -> str:
    """A path as messages show it: quoted, its end kept when it is long (the file name)."""
    text = str(path)
    return repr(text if len(text) <= PATH_LIMIT else "…" + text[1 - PATH_LIMIT :])


def file_problem(path: Path) -> str | None:
    """Whether `path` is a readable, non-empty regular file of sane size."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return "does not exist"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if stat.S_ISDIR(info.st_mode):
        return "is a directory"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if not os.access(path, os.R_OK):
        return "is not readable"
    if info.st_size == 0:
        return "is empty"
    if info.st_size > MAX_PEM_BYTES:
        return f"is larger than {MAX_PEM_BYTES // 1024} KiB: not a PEM file"
    return None


def _text_problem(data: bytes, marker: bytes, what: str) -> str | None:
    if b"-----BEGIN" not in data:
        if b"\0" in data or not data.isascii():
            return "is binary, not PEM text (DER or PKCS#12? export it as PEM)"
        return "is not a PEM file (no '-----BEGIN' line)"
    if marker not in data:
        return f"holds no PEM {what}"
    return None


def _reason(error: ssl.SSLError) -> str:
    if error.reason:
        return error.reason.replace("_", " ").lower()
    text = str(error).split(" (_ssl.c", 1)[0]
    # OpenSSL's "[SSL] PEM lib": a BEGIN line, then something that does not decode.
    return "malformed PEM" if "PEM lib" in text else text


def certificate_problem(path: Path) -> str | None:
    """`path` holds certificates that OpenSSL reads (a client certificate, or the CA
    certificates to trust: OpenSSL loads both the same way)."""
    problem = file_problem(path)
    if problem:
        return problem
    problem = _text_problem(path.read_bytes(), b"-----BEGIN CERTIFICATE-----", "certificate")
    if problem:
        return problem
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=str(path))
    except ssl.SSLError as exc:
        return f"holds a certificate that cannot be read ({_reason(exc)})"
    return None


def key_problem(path: Path) -> str | None:
    """`path` holds an unencrypted private key (checked against its certificate later)."""
    problem = file_problem(path)
    if problem:
        return problem
    data = path.read_bytes()
    problem = _text_problem(data, b"PRIVATE KEY-----", "private key")
    if problem:
        return problem
    if b"ENCRYPTED" in data:
        return "holds a key encrypted with a passphrase; export the key unencrypted, as Qlik does"
    return None


def pair_problem(cert: Path, key: Path) -> str | None:
    """`key` is the private key of the certificate in `cert`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        # A passphrase callback that answers nothing: OpenSSL must never ask on a terminal.
        context.load_cert_chain(str(cert), str(key), password=lambda: b"")
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            return f"does not match the certificate in {shown(cert)}"
        return f"cannot be read as a private key ({_reason(exc)})"
    return None
