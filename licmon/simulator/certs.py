"""Qlik-style certificates for the QRS simulator, made with ``cryptography``.

A Qlik Sense site exports ``root.pem`` (its own self-signed CA), ``client.pem`` and
``client_key.pem`` (a client certificate issued by that root). The server certificate is
issued by the same root but names the machine (``qlikserver1.domain.local``), rarely the
name clients use; that is the case the client's ``verify_hostname`` switch exists for.

Besides the real set, tests need misfits: an unrelated CA with its own client certificate
(a rogue client, or a client trusting the wrong root) and an expired client certificate
issued by the right root.

Files are reused when present and still valid so ``make demo`` restarts without minting
new keys (and without invalidating copies a user already configured).
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

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_SERVER_NAMES: tuple[str, ...] = ("qlikserver1.domain.local",)
# What a loopback demo or test needs for host-name checking to pass.
LOOPBACK_SERVER_NAMES: tuple[str, ...] = ("localhost", "127.0.0.1")

CLIENT_COMMON_NAME = "QlikClient"
_KEY_BITS = 2048  # what Qlik itself issues
_VALIDITY = dt.timedelta(days=3650)
# A certificate closer than this to its end is replaced, so a long-lived demo never expires.
_RENEW_MARGIN = dt.timedelta(days=30)


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
class MisfitCerts:
    """Certificates that must be refused, for failure tests."""

    rogue_root_ca: Path  # an unrelated CA: trusting it instead of root.pem fails the server
    rogue_client: CertPair  # a client certificate issued by the unrelated CA
    expired_client: CertPair  # issued by the right root, but past its end


def ensure_qlik_certs(
    directory: str | os.PathLike[str],
    server_names: Sequence[str] = DEFAULT_SERVER_NAMES,
) -> QlikCerts:
    """Create (or reuse when still valid) the Qlik certificate set in `directory`."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    names = tuple(dict.fromkeys(server_names))  # ordered, no duplicates
    if not names:
        raise ValueError("the server certificate needs at least one name")
    certs = QlikCerts(
        directory=folder,
        root_ca=folder / "root.pem",
        root_key=folder / "root_key.pem",
        client=CertPair(folder / "client.pem", folder / "client_key.pem"),
        server=CertPair(folder / "server.pem", folder / "server_key.pem"),
        server_names=names,
    )
    with _folder_lock(folder):
        root_ok = _valid_root(certs.root_ca, certs.root_key)
        if not root_ok:
            _write_root(certs.root_ca, certs.root_key, "Qlik Sense Simulator CA")
        root_cert, root_key = _load_pair(certs.root_ca, certs.root_key)
        if not (root_ok and _valid_leaf(certs.client, root_cert)):
            _write_leaf(certs.client, root_cert, root_key, CLIENT_COMMON_NAME, client=True)
        if not (root_ok and _valid_leaf(certs.server, root_cert, names)):
            _write_leaf(certs.server, root_cert, root_key, names[0], client=False, names=names)
    return certs


def ensure_misfit_certs(certs: QlikCerts) -> MisfitCerts:
    """Create (or reuse) the refused certificates in ``<cert dir>/misfits``."""
    folder = certs.directory / "misfits"
    folder.mkdir(parents=True, exist_ok=True)
    misfits = MisfitCerts(
        rogue_root_ca=folder / "rogue_root.pem",
        rogue_client=CertPair(folder / "rogue_client.pem", folder / "rogue_client_key.pem"),
        expired_client=CertPair(folder / "expired_client.pem", folder / "expired_client_key.pem"),
    )
    rogue_root_key = folder / "rogue_root_key.pem"
    with _folder_lock(folder):
        rogue_ok = _valid_root(misfits.rogue_root_ca, rogue_root_key)
        if not rogue_ok:
            _write_root(misfits.rogue_root_ca, rogue_root_key, "Rogue Simulator CA")
        rogue_cert, rogue_key = _load_pair(misfits.rogue_root_ca, rogue_root_key)
        if not (rogue_ok and _valid_leaf(misfits.rogue_client, rogue_cert)):
            _write_leaf(
                misfits.rogue_client, rogue_cert, rogue_key, CLIENT_COMMON_NAME, client=True
            )

        root_cert, root_key = _load_pair(certs.root_ca, certs.root_key)
        if not _issued_by(misfits.expired_client, root_cert):
            now = _now()
            _write_leaf(
                misfits.expired_client,
                root_cert,
                root_key,
                CLIENT_COMMON_NAME,
                client=True,
                not_before=now - dt.timedelta(days=30),
                not_after=now - dt.timedelta(days=1),
            )
    return misfits


# --- generation ---------------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=_KEY_BITS)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_root(cert_path: Path, key_path: Path, common_name: str) -> None:
    key = _new_key()
    now = _now()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    _write_pem(cert_path, key_path, builder.sign(key, hashes.SHA256()), key)


def _write_leaf(
    pair: CertPair,
    issuer_cert: x509.Certificate,
    issuer_key: rsa.RSAPrivateKey,
    common_name: str,
    *,
    client: bool,
    names: Sequence[str] = (),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> None:
    key = _new_key()
    now = _now()
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(minutes=5))
        .not_valid_after(not_after or now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False
        )
    _write_pem(pair.cert, pair.key, builder.sign(issuer_key, hashes.SHA256()), key)


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _write_pem(
    cert_path: Path, key_path: Path, cert: x509.Certificate, key: rsa.RSAPrivateKey
) -> None:
    # PKCS#1 ("BEGIN RSA PRIVATE KEY"), unencrypted: the shape of Qlik's client_key.pem.
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    _atomic_write(key_path, key_pem, mode=0o600)
    _atomic_write(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)


def _atomic_write(path: Path, data: bytes, *, mode: int) -> None:
    # A reader (another test process, a running demo) never sees a half-written file.
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


# --- reuse checks -------------------------------------------------------------------------


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
    """The certificate when the pair parses, matches and is not close to its end."""
    try:
        cert, key = _load_pair(cert_path, key_path)
    except (OSError, ValueError):
        return None
    if cert.public_key() != key.public_key():
        return None
    if cert.not_valid_after_utc - _RENEW_MARGIN < _now():
        return None
    return cert


def _valid_root(cert_path: Path, key_path: Path) -> bool:
    cert = _usable_pair(cert_path, key_path)
    if cert is None:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _valid_leaf(pair: CertPair, root: x509.Certificate, names: Sequence[str] = ()) -> bool:
    cert = _usable_pair(pair.cert, pair.key)
    if cert is None or not _signed_by(cert, root):
        return False
    if not names:
        return True
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return list(san) == [_general_name(n) for n in names]


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
