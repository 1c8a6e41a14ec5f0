"""Qlik-style certificates for the QRS simulator, issued with trustme.

A Qlik Sense site exports ``root.pem`` (its own self-signed CA), ``client.pem`` and
``client_key.pem`` (a client certificate issued by that root). The server certificate is
issued by the same root but names the machine (``qlikserver1.domain.local``), rarely the
name clients use; that is the case the client's ``verify_hostname`` switch exists for.

Besides the real set, tests need misfits: an unrelated CA with its own client certificate
(a rogue client, or a client trusting the wrong root) and an expired client certificate
issued by the right root.

The certificate check needs certificates that end on a given day: `ensure_qlik_certs` can
make the set's server or client pair one that ends N days from now (N may be 0 or negative),
`ensure_client_cert` writes such a client certificate beside the set, and
`issue_proxy_certs` makes what a site's HTTPS proxy serves: a leaf issued by a corporate
issuing CA (an intermediate) under a corporate root, unrelated to Qlik's.

Files are reused when present and still valid so ``make demo`` restarts without minting
new keys (and without invalidating copies a user already configured). trustme only issues
certificates; reading the files back to decide whether they can be reused is done with
``cryptography`` (which trustme is built on).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DEFAULT_SERVER_NAMES: tuple[str, ...] = ("qlikserver1.domain.local",)
# What a loopback demo or test needs for host-name checking to pass.
LOOPBACK_SERVER_NAMES: tuple[str, ...] = ("localhost", "127.0.0.1")

CLIENT_COMMON_NAME = "QlikClient"
# Qlik issues RSA 2048 keys; trustme writes them unencrypted as PKCS#1 ("BEGIN RSA PRIVATE
# KEY"), the shape of Qlik's client_key.pem. trustme's default would be ECDSA.
_KEY_TYPE = trustme.KeyType.RSA
_ORGANIZATION = "Qlik Sense Simulator"


@dataclass(frozen=True)
class CertPair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class QlikCerts:
    """A site's certificate set, laid out like Qlik's export plus the server's own pair."""

    directory: Path
    root_ca: Path  # root.pem
    root_key: Path  # root_key.pem (never leaves a real Qlik server; the simulator signs with it)
    client: CertPair  # client.pem, client_key.pem
    server: CertPair  # server.pem, server_key.pem
    server_names: tuple[str, ...]

    @property
    def client_cert(self) -> Path:
        return self.client.cert

    @property
    def client_key(self) -> Path:
        return self.client.key


@dataclass(frozen=True)
class ProxyCerts:
    """A corporate chain, as a site's HTTPS proxy (port 443) serves it."""

    root_ca: Path  # the corporate root (what browsers trust)
    server: CertPair  # the leaf, then the issuing CA, in one file; the leaf's key


@dataclass(frozen=True)
class CloudCerts:
    """What a simulated Qlik Cloud tenant serves: a server pair issued by a CA of its own.

    Real tenants present a publicly trusted chain; the simulator's clients trust
    ``ca_file`` instead (a check's ``caFile``).
    """

    directory: Path
    ca_file: Path  # cloud_root.pem
    server: CertPair  # cloud_server.pem, cloud_server_key.pem
    server_names: tuple[str, ...]


@dataclass(frozen=True)
class MisfitCerts:
    """Certificates that must be refused, for failure tests."""

    rogue_root_ca: Path  # an unrelated CA: trusting it instead of root.pem fails the server
    rogue_client: CertPair  # a client certificate issued by the unrelated CA
    expired_client: CertPair  # issued by the right root, but past its end


def ensure_qlik_certs(
    directory: str | os.PathLike[str],
    server_names: Sequence[str] = DEFAULT_SERVER_NAMES,
    *,
    server_cert_days: int | None = None,
    client_cert_days: int | None = None,
) -> QlikCerts:
    """Create (or reuse when still valid) the Qlik certificate set in `directory`.

    By default the server and client certificates never end (trustme's year 3000). With
    `server_cert_days` / `client_cert_days` the set's server or client pair is instead one
    that ends that many days from now (0: today, negative: already expired), in files of
    their own (``server_+30d.pem``, ``client_-5d.pem``, ...) beside the default ones, which
    stay as they are.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    names = tuple(dict.fromkeys(server_names))  # ordered, no duplicates
    if not names:
        raise ValueError("the server certificate needs at least one name")
    certs = QlikCerts(
        directory=folder,
        root_ca=folder / "root.pem",
        root_key=folder / "root_key.pem",
        client=_pair(folder, "client", client_cert_days),
        server=_pair(folder, "server", server_cert_days),
        server_names=names,
    )
    with _folder_lock(folder):
        ca, root = _ensure_ca(certs.root_ca, certs.root_key, "Qlik Sense Simulator CA")
        _ensure_leaf(certs.client, ca, root, (), client_cert_days)
        _ensure_leaf(certs.server, ca, root, names, server_cert_days)
    return certs


def ensure_client_cert(certs: QlikCerts, days: int) -> CertPair:
    """A client certificate issued by `certs`' root that ends `days` days from now.

    Usable by the QRS client like ``client.pem`` while it has not ended; written as
    ``client_{days:+d}d.pem`` and ``client_key_{days:+d}d.pem`` in the set's folder and
    reused there for the rest of the day (UTC).
    """
    pair = _pair(certs.directory, "client", days)
    with _folder_lock(certs.directory):
        loaded = _load_ca(certs.root_ca, certs.root_key)
        if loaded is None:
            raise ValueError(f"{certs.root_ca}: no usable root CA; call ensure_qlik_certs first")
        ca, root = loaded
        _ensure_leaf(pair, ca, root, (), days)
    return pair


def issue_proxy_certs(
    directory: str | os.PathLike[str],
    server_names: Sequence[str] = LOOPBACK_SERVER_NAMES,
    *,
    days: int | None = None,
) -> ProxyCerts:
    """A new corporate root, issuing CA and server certificate in `directory`.

    The leaf ends `days` days from now (None: never, trustme's year 3000). Always issued
    afresh (nothing reads these back), as ``proxy*.pem`` files named by the lifetime.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    tag = "" if days is None else f"_{days:+d}d"
    root = trustme.CA(
        key_type=_KEY_TYPE, organization_name="Example Corp", organization_unit_name="Root CA"
    )
    issuing = root.create_child_ca(key_type=_KEY_TYPE)
    not_before, not_after = lifetime_dates(days) if days is not None else (None, None)
    leaf = issuing.issue_cert(
        *server_names,
        common_name=server_names[0],
        organization_name="Example Corp",
        not_before=not_before,
        not_after=not_after,
        key_type=_KEY_TYPE,
    )
    certs = ProxyCerts(
        root_ca=folder / f"proxy_root{tag}.pem",
        server=CertPair(folder / f"proxy{tag}.pem", folder / f"proxy_key{tag}.pem"),
    )
    _atomic_write(certs.root_ca, root.cert_pem.bytes(), mode=0o644)
    _atomic_write(certs.server.key, leaf.private_key_pem.bytes(), mode=0o600)
    # trustme's chain is the leaf then the issuing CA (not the root): what a server sends.
    chain = b"".join(pem.bytes() for pem in leaf.cert_chain_pems)
    _atomic_write(certs.server.cert, chain, mode=0o644)
    return certs


def ensure_cloud_certs(
    directory: str | os.PathLike[str],
    server_names: Sequence[str] = LOOPBACK_SERVER_NAMES,
) -> CloudCerts:
    """Create (or reuse when still valid) the simulated Qlik Cloud CA and server pair.

    ``cloud_root.pem`` (+ its key) and ``cloud_server.pem`` for `server_names` in
    `directory`, beside a Qlik set if there is one (different files). Reused like the Qlik
    set, so a restarted demo keeps the CA file a configuration points at.
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    names = tuple(dict.fromkeys(server_names))
    if not names:
        raise ValueError("the server certificate needs at least one name")
    certs = CloudCerts(
        directory=folder,
        ca_file=folder / "cloud_root.pem",
        server=CertPair(folder / "cloud_server.pem", folder / "cloud_server_key.pem"),
        server_names=names,
    )
    with _folder_lock(folder):
        ca, root = _ensure_ca(
            certs.ca_file, folder / "cloud_root_key.pem", "Qlik Cloud Simulator CA"
        )
        _ensure_leaf(certs.server, ca, root, names, None)
    return certs


def lifetime_dates(days: int) -> tuple[dt.datetime, dt.datetime]:
    """(not_before, not_after) of a certificate issued now that ends `days` days from now.

    Whole seconds, as X.509 stores them, so what was issued compares equal to what is read.
    """
    now = _now().replace(microsecond=0)
    not_after = now + dt.timedelta(days=days)
    # Valid for a while before it ends, also when it ended already (not_before < not_after).
    return min(now, not_after) - dt.timedelta(days=30), not_after


def _pair(folder: Path, role: str, days: int | None) -> CertPair:
    if days is None:
        return CertPair(folder / f"{role}.pem", folder / f"{role}_key.pem")
    # Its own files per lifetime: a cached certificate is never taken for another lifetime.
    return CertPair(folder / f"{role}_{days:+d}d.pem", folder / f"{role}_key_{days:+d}d.pem")


def _ensure_leaf(
    pair: CertPair,
    ca: trustme.CA,
    root: x509.Certificate,
    names: Sequence[str],
    days: int | None,
) -> None:
    """Reuse the pair when it still fits, else issue it (a server one for `names`)."""
    if days is None:
        if not _valid_leaf(pair, root, names):
            _write_leaf(pair, _issue(ca, *names))
        return
    if not _fits_lifetime(pair, root, names, days):
        not_before, not_after = lifetime_dates(days)
        _write_leaf(pair, _issue(ca, *names, not_before=not_before, not_after=not_after))


def ensure_misfit_certs(certs: QlikCerts) -> MisfitCerts:
    """Create (or reuse) the refused certificates in ``<cert dir>/misfits``."""
    folder = certs.directory / "misfits"
    folder.mkdir(parents=True, exist_ok=True)
    misfits = MisfitCerts(
        rogue_root_ca=folder / "rogue_root.pem",
        rogue_client=CertPair(folder / "rogue_client.pem", folder / "rogue_client_key.pem"),
        expired_client=CertPair(folder / "expired_client.pem", folder / "expired_client_key.pem"),
    )
    # The root's folder lock too, so a concurrent ensure_qlik_certs cannot replace the root
    # between our reading and signing with it; always root's folder first, so no deadlock.
    with _folder_lock(certs.directory), _folder_lock(folder):
        rogue, rogue_root = _ensure_ca(
            misfits.rogue_root_ca, folder / "rogue_root_key.pem", "Rogue Simulator CA"
        )
        if not _valid_leaf(misfits.rogue_client, rogue_root):
            _write_leaf(misfits.rogue_client, _issue(rogue))

        qlik = _load_ca(certs.root_ca, certs.root_key)
        if qlik is None:
            raise ValueError(f"{certs.root_ca}: no usable root CA; call ensure_qlik_certs first")
        qlik_ca, qlik_root = qlik
        if not _issued_by(misfits.expired_client, qlik_root):
            now = _now()
            leaf = _issue(
                qlik_ca,
                not_before=now - dt.timedelta(days=30),
                not_after=now - dt.timedelta(days=1),
            )
            _write_leaf(misfits.expired_client, leaf)
    return misfits


# --- issuing (trustme) ----------------------------------------------------------------------


def _issue(
    ca: trustme.CA,
    *server_names: str,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> trustme.LeafCert:
    """A server certificate for `server_names`, or without names Qlik's client certificate.

    Our organisation and a fixed unit replace trustme's "trustme v..." and random unit.
    trustme marks every leaf for clientAuth and serverAuth alike; no test relies on a
    certificate being refused for its key usage.
    """
    return ca.issue_cert(
        *server_names,
        common_name=server_names[0] if server_names else CLIENT_COMMON_NAME,
        organization_name=_ORGANIZATION,
        organization_unit_name="Qlik Sense Simulator",
        not_before=not_before,
        not_after=not_after,
        key_type=_KEY_TYPE,
    )


def _ensure_ca(cert_path: Path, key_path: Path, unit: str) -> tuple[trustme.CA, x509.Certificate]:
    """The CA in these files, or a new one written there (its old leaves then fail checks)."""
    loaded = _load_ca(cert_path, key_path)
    if loaded is not None:
        return loaded
    ca = trustme.CA(
        key_type=_KEY_TYPE, organization_name=_ORGANIZATION, organization_unit_name=unit
    )
    _atomic_write(key_path, ca.private_key_pem.bytes(), mode=0o600)
    _atomic_write(cert_path, ca.cert_pem.bytes(), mode=0o644)
    return ca, x509.load_pem_x509_certificate(ca.cert_pem.bytes())


def _write_leaf(pair: CertPair, leaf: trustme.LeafCert) -> None:
    _atomic_write(pair.key, leaf.private_key_pem.bytes(), mode=0o600)
    # The leaf alone: our CAs are roots, so trustme's chain has no intermediate to append.
    _atomic_write(pair.cert, leaf.cert_chain_pems[0].bytes(), mode=0o644)


def _atomic_write(path: Path, data: bytes, *, mode: int) -> None:
    # A reader (another test process, a running demo) never sees a half-written file, which
    # trustme's Blob.write_to_path does not promise.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        if hasattr(os, "fchmod"):  # absent on Windows
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --- reuse checks (cryptography: trustme cannot read certificates back) --------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _load_ca(cert_path: Path, key_path: Path) -> tuple[trustme.CA, x509.Certificate] | None:
    """The CA stored in these files when it is a usable self-signed root, else None."""
    cert = _usable_pair(cert_path, key_path)
    if cert is None or not _signed_by(cert, cert):
        return None
    ca = trustme.CA.from_pem(cert_path.read_bytes(), key_path.read_bytes())
    return ca, cert


def _load_pair(cert_path: Path, key_path: Path) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    # Skipping the RSA consistency check keeps reuse fast; the key is ours and is compared
    # with the certificate below anyway.
    key = serialization.load_pem_private_key(
        key_path.read_bytes(), password=None, unsafe_skip_rsa_key_validation=True
    )
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{key_path} is not an RSA key")
    return cert, key


def _usable_pair(cert_path: Path, key_path: Path) -> x509.Certificate | None:
    """The certificate when the pair parses, matches and has not ended."""
    try:
        cert, key = _load_pair(cert_path, key_path)
    except (OSError, ValueError):
        return None
    if cert.public_key() != key.public_key() or cert.not_valid_after_utc < _now():
        return None
    return cert


def _valid_leaf(pair: CertPair, root: x509.Certificate, names: Sequence[str] = ()) -> bool:
    cert = _usable_pair(pair.cert, pair.key)
    if cert is None or not _signed_by(cert, root):
        return False
    return _names_match(cert, names)


def _names_match(cert: x509.Certificate, names: Sequence[str]) -> bool:
    """The certificate names exactly `names` (a client certificate: none asked, any fits)."""
    if not names:
        return True
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return list(san) == [_general_name(n) for n in names]


def _general_name(name: str) -> x509.GeneralName:
    # As trustme encodes an identity (for ASCII host names; an IDN is just reissued).
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _fits_lifetime(pair: CertPair, root: x509.Certificate, names: Sequence[str], days: int) -> bool:
    """Issued by `root` for `names` and ending on the day `days` from today (UTC).

    The day, not the second: a demo restarted later the same day keeps its files, and the
    days left read from them are still `days`. Ended certificates are fine here.
    """
    try:
        cert, key = _load_pair(pair.cert, pair.key)
    except (OSError, ValueError):
        return False
    return (
        cert.public_key() == key.public_key()
        and _signed_by(cert, root)
        and _names_match(cert, names)
        and cert.not_valid_after_utc.date() == lifetime_dates(days)[1].date()
    )


def _issued_by(pair: CertPair, root: x509.Certificate) -> bool:
    """Signed by `root` and the key matches; validity dates deliberately not checked."""
    try:
        cert, key = _load_pair(pair.cert, pair.key)
    except (OSError, ValueError):
        return False
    return cert.public_key() == key.public_key() and _signed_by(cert, root)


def _signed_by(cert: x509.Certificate, root: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(root)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Serialise generation between processes (parallel test workers, demo + tests)."""
    try:
        import fcntl
    except ImportError:  # Windows: no cross-process lock, atomic writes still hold
        yield
        return
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
