"""Reading certificates for the certificate check: from TLS handshakes and from PEM files.

Real sockets on loopback: the simulator's QRS, a bare TLS endpoint with a corporate chain,
a port nothing listens on, a peer that never speaks, a plain-HTTP server.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pickle
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from licmon.checks.certificate.reading import (
    CertificateInfo,
    CertificateReadError,
    read_endpoint,
    read_pem_file,
)
from licmon.simulator import (
    CertPair,
    ProxyCerts,
    QlikCerts,
    SiteSpec,
    endpoint_context,
    ensure_client_cert,
    ensure_qlik_certs,
    issue_proxy_certs,
    run_simulator,
    run_tls_endpoint,
)
from tests.qrs_support import closed_port, plain_http_server, proxy_ending_in

DAY = dt.timedelta(days=1)
# Text planted in broken files: an error must never show any of it.
SECRET = "s3cr3t-pem-content"


@pytest.fixture(scope="module")
def qlik(tmp_path_factory: pytest.TempPathFactory) -> QlikCerts:
    return ensure_qlik_certs(tmp_path_factory.mktemp("qlik"))


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> ProxyCerts:
    return issue_proxy_certs(tmp_path_factory.mktemp("proxy"), days=30)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _issued(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def _error(call: object, *args: object, **kwargs: object) -> CertificateReadError:
    assert callable(call)
    with pytest.raises(CertificateReadError) as caught:
        call(*args, **kwargs)
    return caught.value


# --- endpoints ------------------------------------------------------------------------------


def test_proxy_chain_leaf_first_with_its_issuing_ca(proxy: ProxyCerts) -> None:
    with run_tls_endpoint(proxy.server) as endpoint:
        chain = read_endpoint(endpoint.host, endpoint.port, timeout=2, server_name="localhost")
    issued = _issued(proxy.server.cert)
    assert len(chain) == len(issued) == 2  # the leaf and the issuing CA, not the root
    leaf, issuing = chain
    assert leaf.subject == "localhost"  # the CN
    # trustme's CAs have no CN: the whole RFC 4514 subject stands for them.
    assert leaf.issuer == issuing.subject == issued[1].subject.rfc4514_string()
    assert issuing.issuer == _issued(proxy.root_ca)[0].subject.rfc4514_string()
    assert leaf.not_after == issued[0].not_valid_after_utc
    assert leaf.not_after.tzinfo == dt.UTC
    assert abs(leaf.not_after - (_now() + 30 * DAY)) < dt.timedelta(seconds=5)
    assert (leaf.not_after - _now()).days == 29  # 30 days less the seconds since issuing
    assert leaf.serial == format(issued[0].serial_number, "x")
    assert leaf.fingerprint == issued[0].fingerprint(issued[0].signature_hash_algorithm).hex()
    assert len(leaf.fingerprint) == 64


def test_expired_qrs_certificate_is_read_not_refused(tmp_path: Path) -> None:
    expired = ensure_qlik_certs(tmp_path, server_cert_days=-3)
    assert expired.server.cert.name == "server_-3d.pem"
    with run_simulator([SiteSpec("a")], expired) as simulator:
        site = simulator.sites["a"]
        chain = read_endpoint(
            site.host,
            site.port,
            timeout=2,
            client_cert=expired.client_cert,
            client_key=expired.client_key,
        )
        # The client certificate was presented and taken (the server finishes after us).
        _wait_for(lambda: site.connection_count == 1)
    leaf = chain[0]
    assert leaf.subject == "qlikserver1.domain.local"
    assert leaf.not_after == _issued(expired.server.cert)[0].not_valid_after_utc
    assert leaf.not_after < _now()
    assert abs(leaf.not_after - (_now() - 3 * DAY)) < dt.timedelta(seconds=5)
    # OpenSSL completes the chain from the trust store: Qlik's root comes along.
    assert chain[-1].subject == chain[-1].issuer == leaf.issuer


def test_expired_proxy_certificate(tmp_path: Path) -> None:
    with proxy_ending_in(-1, tmp_path) as (endpoint, certs):
        leaf, _issuing = read_endpoint(endpoint.host, endpoint.port, timeout=2)
    assert leaf.not_after == _issued(certs.server.cert)[0].not_valid_after_utc
    assert abs(leaf.not_after - (_now() - DAY)) < dt.timedelta(seconds=5)


def test_certificate_ending_today(tmp_path: Path) -> None:
    today = ensure_qlik_certs(tmp_path, server_cert_days=0)
    with run_tls_endpoint(today.server) as endpoint:
        (leaf,) = read_endpoint(endpoint.host, endpoint.port, timeout=2)
    assert leaf.not_after.date() == _issued(today.server.cert)[0].not_valid_after_utc.date()
    assert abs(leaf.not_after - _now()) < dt.timedelta(seconds=5)


def test_untrusted_self_signed_certificate_is_read(qlik: QlikCerts) -> None:
    # The root itself as a server certificate: self-signed, trusted by nobody.
    with run_tls_endpoint(CertPair(qlik.root_ca, qlik.root_key)) as endpoint:
        (only,) = read_endpoint(endpoint.host, endpoint.port, timeout=2)
    assert only.subject == only.issuer == _issued(qlik.root_ca)[0].subject.rfc4514_string()


def test_tls12_server_refusing_a_missing_client_certificate_still_gives_its_chain(
    qlik: QlikCerts,
) -> None:
    # Under TLS 1.2 the server's certificate arrives before it asks for the client's and
    # aborts the handshake without one: what was received is the answer.
    context = endpoint_context(qlik.server, client_ca=qlik.root_ca)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with run_tls_endpoint(qlik.server, context=context) as endpoint:
        chain = read_endpoint(endpoint.host, endpoint.port, timeout=2)
        assert endpoint.handshakes == 0
        with_cert = read_endpoint(
            endpoint.host,
            endpoint.port,
            timeout=2,
            client_cert=qlik.client_cert,
            client_key=qlik.client_key,
        )
        _wait_for(lambda: endpoint.handshakes == 1)
    assert chain[0] == with_cert[0]
    assert chain[0].subject == "qlikserver1.domain.local"


def test_refused_port() -> None:
    port = closed_port()
    error = _error(read_endpoint, "127.0.0.1", port, timeout=2)
    assert (error.kind, error.transient) == ("refused", True)
    assert str(error) == f"endpoint 127.0.0.1:{port}: connection refused"


@pytest.fixture
def silent_peer() -> Iterator[int]:
    """A listener that never accepts: the kernel completes the TCP connect, nobody speaks."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


def test_silent_peer_is_cut_off_at_the_timeout(silent_peer: int) -> None:
    started = time.monotonic()
    error = _error(read_endpoint, "127.0.0.1", silent_peer, timeout=0.5)
    elapsed = time.monotonic() - started
    assert 0.4 < elapsed < 1.5
    assert (error.kind, error.transient) == ("timeout", True)
    assert str(error) == f"endpoint 127.0.0.1:{silent_peer}: TLS handshake timed out"


def test_plain_http_peer_is_not_tls() -> None:
    with plain_http_server() as port:
        error = _error(read_endpoint, "127.0.0.1", port, timeout=2)
    assert (error.kind, error.transient) == ("not_tls", False)
    assert str(error).startswith(f"endpoint 127.0.0.1:{port}: not a TLS server (")


def test_peer_closing_without_a_word_is_a_lost_connection() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = int(listener.getsockname()[1])

        def close_the_first() -> None:
            conn, _ = listener.accept()
            conn.close()

        closer = threading.Thread(target=close_the_first)
        closer.start()
        try:
            error = _error(read_endpoint, "127.0.0.1", port, timeout=2)
        finally:
            closer.join()
    assert (error.kind, error.transient) == ("reset", True)
    assert str(error).startswith(f"endpoint 127.0.0.1:{port}: ")


def test_unusable_client_certificate_names_the_file(qlik: QlikCerts, tmp_path: Path) -> None:
    broken = tmp_path / "client.pem"
    broken.write_text(f"-----BEGIN CERTIFICATE-----\n{SECRET}\n-----END CERTIFICATE-----\n")
    port = closed_port()  # never reached: the files are loaded first
    error = _error(
        read_endpoint, "127.0.0.1", port, timeout=2, client_cert=broken, client_key=qlik.client_key
    )
    assert (error.kind, error.transient) == ("unreadable_file", False)
    assert str(broken) in str(error)
    assert SECRET not in str(error)


# --- PEM files ------------------------------------------------------------------------------


def test_pem_chain_file_in_file_order(proxy: ProxyCerts) -> None:
    chain = read_pem_file(proxy.server.cert)
    issued = _issued(proxy.server.cert)
    assert [c.fingerprint for c in chain] == [
        cert.fingerprint(cert.signature_hash_algorithm).hex() for cert in issued
    ]
    assert chain[0].subject == "localhost"
    assert chain[0].issuer == chain[1].subject


def test_pem_file_with_the_key_in_it_gives_the_certificate(qlik: QlikCerts, tmp_path: Path) -> None:
    both = tmp_path / "client.pem"
    both.write_bytes(qlik.client_key.read_bytes() + qlik.client_cert.read_bytes())
    assert read_pem_file(both) == read_pem_file(qlik.client_cert)


def test_client_certificate_ending_in_n_days(qlik: QlikCerts) -> None:
    pair = ensure_client_cert(qlik, 5)
    (client,) = read_pem_file(pair.cert, label="client certificate file")
    assert client.subject == "QlikClient"
    assert abs(client.not_after - (_now() + 5 * DAY)) < dt.timedelta(seconds=5)


def _write_empty(path: Path) -> None:
    path.write_bytes(b"")


def _write_garbage(path: Path) -> None:
    path.write_bytes(os.urandom(600) + SECRET.encode() + os.urandom(600))


def _write_bad_pem(path: Path) -> None:
    path.write_text(f"-----BEGIN CERTIFICATE-----\n{SECRET}!\n-----END CERTIFICATE-----\n")


def _write_key_only(path: Path) -> None:
    path.write_text(f"-----BEGIN RSA PRIVATE KEY-----\n{SECRET}\n-----END RSA PRIVATE KEY-----\n")


def _make_directory(path: Path) -> None:
    path.mkdir()


def _write_huge(path: Path) -> None:
    path.write_bytes(b"-----BEGIN CERTIFICATE-----\n" + SECRET.encode() * 100_000)


def _leave_missing(path: Path) -> None:
    pass


@pytest.mark.parametrize(
    ("make", "kind", "detail"),
    [
        (_write_empty, "no_certificate", "the file is empty"),
        (_write_garbage, "no_certificate", "no readable PEM certificate in the file"),
        (_write_bad_pem, "no_certificate", "no readable PEM certificate in the file"),
        (_write_key_only, "no_certificate", "no readable PEM certificate in the file"),
        (_make_directory, "unreadable_file", "is a directory, not a file"),
        (_write_huge, "unreadable_file", "larger than 1000000 bytes: not a certificate file"),
        (_leave_missing, "unreadable_file", "cannot be read (No such file or directory)"),
    ],
)
def test_unreadable_pem_files(tmp_path: Path, make: object, kind: str, detail: str) -> None:
    assert callable(make)
    path = tmp_path / "client.pem"
    make(path)
    error = _error(read_pem_file, path, label="client certificate file")
    assert (error.kind, error.transient) == (kind, False)
    assert str(error) == f"client certificate file {path}: {detail}"
    assert SECRET not in str(error)


# --- what crosses process boundaries --------------------------------------------------------


def test_error_survives_pickling() -> None:
    error = CertificateReadError("refused", "endpoint qlik.example.com:443", "connection refused")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is CertificateReadError
    assert (copy.kind, copy.transient, str(copy)) == (
        "refused",
        True,
        "endpoint qlik.example.com:443: connection refused",
    )
    assert copy.args == error.args


def test_unknown_error_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown certificate read error kind"):
        CertificateReadError("mystery", "endpoint x:1", "?")


def test_certificate_info_json_round_trip(proxy: ProxyCerts) -> None:
    leaf = read_pem_file(proxy.server.cert)[0]
    document = json.loads(json.dumps(leaf.to_json()))
    assert document["not_after"].endswith("Z")
    assert CertificateInfo.from_json(document) == leaf
    with pytest.raises(ValueError):
        CertificateInfo.from_json({**document, "not_after": "2026-12-07T00:00:00"})
    with pytest.raises(ValueError):
        CertificateInfo.from_json({"subject": "x"})


def _wait_for(condition: object, timeout: float = 3.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)
